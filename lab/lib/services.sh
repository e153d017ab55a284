# shellcheck shell=bash
# Shared lab services in the root namespace: keys, the private CA, the bridge,
# the two registries and the HTTP proxy.

LAB_SSH=$LAB_DIR/ssh
LAB_TLS=$LAB_DIR/tls
LAB_CA=$LAB_TLS/ca.crt
LAB_KNOWN_HOSTS=$LAB_SSH/known_hosts
LAB_CLIENT_KEY=$LAB_SSH/id_ed25519
PROXY_LOG=$LAB_DIR/proxy/access.log

# The client key pair every test uses, and the authorized_keys the hosts' sshd read.
# A private CA (ECDSA P-256) and the TLS registry's certificate, signed by it.
step_keys() {
  mkdir -p "$LAB_SSH" "$LAB_TLS"
  chmod 0755 "$LAB_DIR"
  chmod 0700 "$LAB_SSH" "$LAB_TLS"
  if [ ! -f "$LAB_CLIENT_KEY" ] || [ ! -f "$LAB_CLIENT_KEY.pub" ]; then
    rm -f "$LAB_CLIENT_KEY" "$LAB_CLIENT_KEY.pub"
    ssh-keygen -q -t ed25519 -N '' -C berth-lab-client -f "$LAB_CLIENT_KEY"
    changed "made client key $LAB_CLIENT_KEY"
  fi
  if ! cmp -s "$LAB_CLIENT_KEY.pub" "$LAB_SSH/authorized_keys"; then
    install -m 0600 "$LAB_CLIENT_KEY.pub" "$LAB_SSH/authorized_keys"
    changed "wrote $LAB_SSH/authorized_keys"
  fi
  if [ ! -f "$LAB_CA" ] || [ ! -f "$LAB_TLS/ca.key" ]; then
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "$LAB_TLS/ca.key" -out "$LAB_CA" -days 3650 -subj '/CN=Berth lab CA' \
      -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null ||
      die "openssl could not make the lab CA"
    rm -f "$LAB_TLS/registry.crt"
    changed "made the lab CA $LAB_CA"
  fi
  if [ ! -f "$LAB_TLS/registry.crt" ] || ! openssl verify -CAfile "$LAB_CA" "$LAB_TLS/registry.crt" >/dev/null 2>&1; then
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "$LAB_TLS/registry.key" -out "$LAB_TLS/registry.csr" -subj "/CN=$LAB_GATEWAY" 2>/dev/null
    openssl x509 -req -in "$LAB_TLS/registry.csr" -CA "$LAB_CA" -CAkey "$LAB_TLS/ca.key" -CAcreateserial \
      -out "$LAB_TLS/registry.crt" -days 3650 \
      -extfile <(printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' "$LAB_GATEWAY") 2>/dev/null ||
      die "openssl could not sign the registry certificate"
    rm -f "$LAB_TLS/registry.csr"
    changed "made the TLS registry's certificate (SAN IP:$LAB_GATEWAY, IP:127.0.0.1, DNS:localhost)"
  fi
  # Docker engines (the root one and every host's: they share /etc) trust the lab CA
  # for the TLS registry under each name it answers to.
  local name
  for name in "$LAB_GATEWAY:$REGISTRY_TLS_PORT" "127.0.0.1:$REGISTRY_TLS_PORT" "localhost:$REGISTRY_TLS_PORT"; do
    if ! cmp -s "$LAB_CA" "/etc/docker/certs.d/$name/ca.crt"; then
      install -D -m 0644 "$LAB_CA" "/etc/docker/certs.d/$name/ca.crt"
      changed "trusting the lab CA in /etc/docker/certs.d/$name/ca.crt"
    fi
  done
}

# The bridge berth0 at 10.77.0.1/24 in the root namespace, and the firewall rules that
# keep lab traffic on the machine: hosts may talk to each other and to the root
# namespace's own addresses, and nothing they send is forwarded anywhere else.
step_bridge() {
  if ! ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
    ip link add "$LAB_BRIDGE" type bridge || die "cannot create bridge $LAB_BRIDGE"
    changed "created bridge $LAB_BRIDGE"
  fi
  if ! ip -4 addr show dev "$LAB_BRIDGE" | grep -q "inet $LAB_GATEWAY/24"; then
    ip addr add "$LAB_GATEWAY/24" dev "$LAB_BRIDGE"
    changed "address $LAB_GATEWAY/24 on $LAB_BRIDGE"
  fi
  if ! ip link show "$LAB_BRIDGE" | grep -q ',UP'; then
    ip link set "$LAB_BRIDGE" up
    changed "$LAB_BRIDGE up"
  fi
  if ! iptables -w -nL "$LAB_IPT_CHAIN" >/dev/null 2>&1; then
    iptables -w -N "$LAB_IPT_CHAIN"
    changed "iptables chain $LAB_IPT_CHAIN"
  fi
  local rule
  local -a rules=(
    "-i $LAB_BRIDGE -o $LAB_BRIDGE -j ACCEPT"
    "-i $LAB_BRIDGE -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
    "-i $LAB_BRIDGE -j DROP"
  )
  if [ "$(iptables -w -S "$LAB_IPT_CHAIN" | grep -c '^-A')" != "${#rules[@]}" ]; then
    iptables -w -F "$LAB_IPT_CHAIN"
    for rule in "${rules[@]}"; do
      # shellcheck disable=SC2086
      iptables -w -A "$LAB_IPT_CHAIN" $rule
    done
    changed "iptables: hosts reach each other and the gateway only"
  fi
  if ! iptables -w -C FORWARD -j "$LAB_IPT_CHAIN" 2>/dev/null; then
    iptables -w -I FORWARD 1 -j "$LAB_IPT_CHAIN"
    changed "iptables: FORWARD jumps to $LAB_IPT_CHAIN first"
  fi
}

# --- registries -----------------------------------------------------------------------
# Debian's docker-registry (distribution 2.8), run as the lab's own processes. Each
# registry answers on the gateway address (for the hosts) and on loopback (for the
# root engine, which treats 127.0.0.0/8 as insecure by default): one process per
# address, both on the same storage directory.

# registry_config KIND ADDRESS -> writes the config, prints its path
registry_config() {
  local kind=$1 addr=$2 cfg
  cfg=$LAB_DIR/registry/$kind-${addr%%:*}.yml
  mkdir -p "$LAB_DIR/registry/$kind"
  {
    printf 'version: 0.1\nlog:\n  level: info\n  formatter: text\n'
    printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$LAB_DIR/registry/$kind"
    printf 'http:\n  addr: %s\n  secret: berth-lab-%s\n' "$addr" "$kind"
    if [ "$kind" = tls ]; then
      printf '  tls:\n    certificate: %s\n    key: %s\n' "$LAB_TLS/registry.crt" "$LAB_TLS/registry.key"
    fi
  } >"$cfg.tmp"
  mv -f "$cfg.tmp" "$cfg"
  printf '%s' "$cfg"
}

registry_answers() {
  local kind=$1 addr=$2
  if [ "$kind" = tls ]; then
    curl -fsS -m 3 --cacert "$LAB_CA" -o /dev/null "https://$addr/v2/" 2>/dev/null
  else
    curl -fsS -m 3 -o /dev/null "http://$addr/v2/" 2>/dev/null
  fi
}

ensure_registry() {
  local kind=$1 addr=$2 pidfile cfg
  pidfile=$LAB_PIDS/registry-$kind-${addr%%:*}.pid
  if pid_alive "$pidfile" docker-registry && registry_answers "$kind" "$addr"; then
    return 0
  fi
  stop_pidfile "$pidfile" docker-registry 5 || true
  cfg=$(registry_config "$kind" "$addr")
  spawn "$pidfile" "$LAB_LOGS/registry-$kind-${addr%%:*}.log" docker-registry serve "$cfg"
  if ! wait_for 30 "registry $addr" registry_answers "$kind" "$addr"; then
    tail -n 10 "$LAB_LOGS/registry-$kind-${addr%%:*}.log" >&2
    die "the $kind registry did not answer on $addr within 30 s"
  fi
  changed "$kind registry on $addr (pid $(cat "$pidfile"))"
}

step_registries() {
  ensure_registry plain "$LAB_GATEWAY:$REGISTRY_PLAIN_PORT"
  ensure_registry plain "127.0.0.1:$REGISTRY_PLAIN_PORT"
  ensure_registry tls "$LAB_GATEWAY:$REGISTRY_TLS_PORT"
  ensure_registry tls "127.0.0.1:$REGISTRY_TLS_PORT"
}

# push_cached_image CACHE_DIR : every tag of the cached image is in the plain registry
# as 10.77.0.1:5000/<tag>. Pushed through the loopback name, which names the same
# storage, so this works whatever the root engine's insecure-registry settings are.
push_cached_image() {
  local dir=$1 id tag repo ref marker
  id=$(cat "$dir/id")
  for tag in $(cat "$dir/tags"); do
    repo=${tag%:*}
    ref=${tag##*:}
    marker=$LAB_DIR/registry/plain/.pushed-${tag//[\/:]/_}
    if [ "$(cat "$marker" 2>/dev/null)" = "$id" ] &&
      curl -fsS -m 5 -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
        "http://127.0.0.1:$REGISTRY_PLAIN_PORT/v2/$repo/manifests/$ref"; then
      continue
    fi
    local via=127.0.0.1:$REGISTRY_PLAIN_PORT/$tag
    docker tag "$tag" "$via"
    if ! docker push -q "$via" >/dev/null; then
      docker rmi "$via" >/dev/null 2>&1 || true
      die "docker push $via failed"
    fi
    docker rmi "$via" >/dev/null
    printf '%s\n' "$id" >"$marker"
    changed "pushed $LAB_GATEWAY:$REGISTRY_PLAIN_PORT/$tag"
  done
}

step_push_images() {
  local dir
  for dir in "$(image_cache_base)" "$(image_cache_kamal_proxy)" "$(image_cache_buildkit)"; do
    push_cached_image "$dir"
  done
}

# --- HTTP proxy -------------------------------------------------------------------------
# Debian's tinyproxy, one process per listening address (it takes a single Listen),
# both logging every connection and request to one access log. It serves the lab's
# clients only and forwards only to lab addresses, so nothing it does leaves the machine.

proxy_config() {
  local addr=$1 cfg
  cfg=$LAB_DIR/proxy/tinyproxy-$addr.conf
  mkdir -p "$LAB_DIR/proxy"
  printf '%s\n' '^10\.77\.0\.[0-9]+$' '^127\.0\.0\.1$' '^localhost$' >"$LAB_DIR/proxy/filter"
  cat >"$cfg.tmp" <<EOF
# Written by scripts/lab.sh; regenerated on every up.
User nobody
Group nogroup
Port $PROXY_PORT
Listen $addr
Timeout 60
LogFile "$PROXY_LOG"
LogLevel Info
PidFile "$LAB_PIDS/tinyproxy-$addr.pid"
MaxClients 64
Allow 127.0.0.0/8
Allow $LAB_SUBNET
Allow 10.78.0.0/16
Allow 10.80.0.0/12
Allow 172.16.0.0/12
Filter "$LAB_DIR/proxy/filter"
FilterType ere
FilterDefaultDeny Yes
DisableViaHeader No
EOF
  mv -f "$cfg.tmp" "$cfg"
  printf '%s' "$cfg"
}

ensure_proxy() {
  local addr=$1 pidfile cfg
  pidfile=$LAB_PIDS/tinyproxy-$addr.pid
  if pid_alive "$pidfile" tinyproxy && port_open "$addr" "$PROXY_PORT"; then
    return 0
  fi
  stop_pidfile "$pidfile" tinyproxy 5 || true
  cfg=$(proxy_config "$addr")
  touch "$PROXY_LOG"
  chown nobody:nogroup "$PROXY_LOG"
  chmod 0644 "$PROXY_LOG"
  # tinyproxy daemonizes itself and writes its pid file.
  tinyproxy -c "$cfg" >>"$LAB_LOGS/tinyproxy.log" 2>&1 </dev/null 9>&- || die "tinyproxy -c $cfg failed (see $LAB_LOGS/tinyproxy.log)"
  wait_for 10 "tinyproxy $addr" port_open "$addr" "$PROXY_PORT" || die "tinyproxy did not listen on $addr:$PROXY_PORT"
  wait_for 5 "tinyproxy pid" pid_alive "$pidfile" tinyproxy || die "tinyproxy wrote no pid file $pidfile"
  changed "tinyproxy on $addr:$PROXY_PORT (pid $(cat "$pidfile"), log $PROXY_LOG)"
}

step_proxy() {
  mkdir -p "$LAB_PIDS"
  chmod 0755 "$LAB_PIDS"
  ensure_proxy "$LAB_GATEWAY"
  ensure_proxy 127.0.0.1
}
