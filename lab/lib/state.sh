# shellcheck shell=bash
# What the lab tells other code: known_hosts, lab.json. And `status`.

host_key() { cut -d' ' -f1,2 "$(host_dir "$1")/ssh/ssh_host_ed25519_key.pub"; }

# known_hosts pins each host's key; lab.json describes the lab (its shape is a contract).
step_state() {
  local n=$1 k tmp
  mkdir -p "$LAB_RUN"
  tmp=$(mktemp "$LAB_SSH/.known_hosts.XXXXXX")
  for k in $(lab_host_numbers "$n"); do
    printf '%s %s\n' "$(host_addr "$k")" "$(host_key "$k")" >>"$tmp"
  done
  printf '%s %s\n' "$(host_addr "$BARE_HOST_K")" "$(host_key "$BARE_HOST_K")" >>"$tmp"
  chmod 0644 "$tmp"
  if cmp -s "$tmp" "$LAB_KNOWN_HOSTS"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$LAB_KNOWN_HOSTS"
    changed "wrote $LAB_KNOWN_HOSTS"
  fi

  tmp=$(mktemp "$LAB_RUN/.lab.json.XXXXXX")
  {
    printf '{\n  "hosts": [\n'
    for ((k = 1; k <= n; k++)); do
      printf '    { "name": "%s", "address": "%s", "port": 22, "user": "root", "hostKey": "%s", "dockerSocket": "%s" }%s\n' \
        "$(host_name "$k")" "$(host_addr "$k")" "$(host_key "$k")" "$(host_socket "$k")" "$([ "$k" -lt "$n" ] && printf ',')"
    done
    printf '  ],\n'
    if ((LAB_FAULT_HOST > n)); then
      k=$LAB_FAULT_HOST
      printf '  "faultHost": { "name": "%s", "address": "%s", "port": 22, "user": "root", "hostKey": "%s", "dockerSocket": "%s" },\n' \
        "$(host_name "$k")" "$(host_addr "$k")" "$(host_key "$k")" "$(host_socket "$k")"
    fi
    printf '  "bareHost": %s,\n' "$(bare_host_json)"
    printf '  "ssh": { "privateKeyPath": "%s", "publicKeyPath": "%s", "knownHostsPath": "%s" },\n' \
      "$LAB_CLIENT_KEY" "$LAB_CLIENT_KEY.pub" "$LAB_KNOWN_HOSTS"
    printf '  "registry": { "plain": "%s", "tls": "%s", "caPath": "%s" },\n' \
      "$LAB_GATEWAY:$REGISTRY_PLAIN_PORT" "$LAB_GATEWAY:$REGISTRY_TLS_PORT" "$LAB_CA"
    printf '  "proxy": { "url": "%s", "logPath": "%s" },\n' "http://$LAB_GATEWAY:$PROXY_PORT" "$PROXY_LOG"
    printf '  "images": { "base": "%s", "kamalProxy": "%s", "buildkit": "%s" },\n' \
      "$IMAGE_BASE" "$IMAGE_KAMAL_PROXY" "$IMAGE_BUILDKIT"
    printf '  "gateway": "%s"\n}\n' "$LAB_GATEWAY"
  } >"$tmp"
  chmod 0644 "$tmp"
  if cmp -s "$tmp" "$LAB_JSON"; then
    rm -f "$tmp"
  else
    mv -f "$tmp" "$LAB_JSON"
    changed "wrote $LAB_JSON"
  fi
}

# Every host answers over SSH with the pinned host key, and its docker CLI reaches its
# own engine. Checks only: never counts as a change.
step_verify() {
  local n=$1 k pids=() failed=0 out i=0 ks
  out=$(mktemp -d)
  ks=$(lab_host_numbers "$n")
  for k in $ks; do
    timeout 30 ssh -i "$LAB_CLIENT_KEY" -o BatchMode=yes -o StrictHostKeyChecking=yes \
      -o UserKnownHostsFile="$LAB_KNOWN_HOSTS" -o ConnectTimeout=10 \
      "root@$(host_addr "$k")" docker info --format '{{.Name}}' >"$out/$k" 2>&1 &
    pids+=($!)
  done
  for k in $ks; do
    i=$((i + 1))
    if ! wait "${pids[$((i - 1))]}"; then
      printf 'lab: %s: ssh root@%s docker info failed: %s\n' "$(host_name "$k")" "$(host_addr "$k")" "$(tail -n 3 "$out/$k")" >&2
      failed=1
    fi
  done
  rm -rf "$out"
  ((failed == 0)) || die "a host does not answer over SSH with its own engine"
}

# --- status --------------------------------------------------------------------------
# Prints one line per lab part and a verdict:
#   "lab status: up (N hosts)"      exit 0
#   "lab status: down, nothing left" exit 3
#   "lab status: partial ..."        exit 1

STATUS_UP=0
STATUS_DOWN=0
status_line() { # up|down|info WHAT DETAIL
  local state=$1 what=$2 detail=${3:-}
  case $state in
    up) STATUS_UP=$((STATUS_UP + 1)) ;;
    down) STATUS_DOWN=$((STATUS_DOWN + 1)) ;;
  esac
  printf '  %-5s %-28s %s\n' "$state" "$what" "$detail"
}

# Lab processes by pid file, plus anything else whose command line names the lab's
# directories (a safety net for processes whose pid file was lost).
stray_lab_processes() {
  local p cmd known=" " f
  for f in "$LAB_PIDS"/*.pid "$LAB_DIR"/hosts/*/run/*.pid; do
    [ -s "$f" ] && known+="$(head -n1 "$f") "
  done
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    case $known in *" ${p#/proc/} "*) continue ;; esac
    case $(cat "$p/comm" 2>/dev/null) in ssh | scp | sftp) continue ;; esac
    cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
    case $cmd in
      *"$LAB_DIR/"* | *"$LAB_RUN/"*)
        case $cmd in *lab.sh*) continue ;; esac
        printf '%s %s\n' "${p#/proc/}" "${cmd:0:120}"
        ;;
    esac
  done
}

lab_status() {
  local k h f
  printf 'lab status (%s)\n' "$LAB_DIR"
  if docker_answers unix:///var/run/docker.sock; then
    status_line info "root engine" "answers on /var/run/docker.sock (shared; down leaves it)"
  else
    status_line info "root engine" "not answering on /var/run/docker.sock"
  fi
  if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
    status_line up "bridge $LAB_BRIDGE" "$(ip -4 -br addr show dev "$LAB_BRIDGE" | awk '{print $3}')"
  else
    status_line down "bridge $LAB_BRIDGE"
  fi
  if iptables -w -nL "$LAB_IPT_CHAIN" >/dev/null 2>&1; then
    status_line up "iptables $LAB_IPT_CHAIN"
  else
    status_line down "iptables $LAB_IPT_CHAIN"
  fi
  local hosts all
  hosts=$(existing_hosts | tr "\n" " ")
  all=$hosts
  [ -e "/run/netns/$(host_name "$LAB_FAULT_HOST")" ] && all+=" $LAB_FAULT_HOST"
  for k in $all; do
    h=$(host_name "$k")
    status_line up "netns $h" "$(host_addr "$k")"
    if pid_alive "$(host_dir "$k")/run/dockerd.pid" dockerd; then
      status_line up "$h dockerd" "pid $(cat "$(host_dir "$k")/run/dockerd.pid") $(docker_answers "unix://$(host_socket "$k")" && echo answering || echo NOT-answering)"
    else
      status_line down "$h dockerd"
    fi
    if pid_alive "$(host_dir "$k")/run/sshd.pid" sshd; then
      status_line up "$h sshd" "pid $(cat "$(host_dir "$k")/run/sshd.pid") on $(host_addr "$k"):22"
    else
      status_line down "$h sshd"
    fi
  done
  [ -n "$hosts" ] || status_line down "hosts" "no berth-h* network namespace"
  h=$(host_name "$BARE_HOST_K")
  if [ -e "/run/netns/$h" ]; then
    all+=" $BARE_HOST_K"
    status_line up "netns $h" "$(host_addr "$BARE_HOST_K") (bare host: its own Debian root)"
    if sshd_answers "$(host_addr "$BARE_HOST_K")"; then
      status_line up "$h sshd" "on $(host_addr "$BARE_HOST_K"):22"
    else
      status_line down "$h sshd"
    fi
    if pid_alive "$LAB_PIDS/tinyproxy-apt.pid" tinyproxy; then
      status_line up "apt proxy $LAB_GATEWAY:$APT_PROXY_PORT" "pid $(cat "$LAB_PIDS/tinyproxy-apt.pid") (for $h)"
    else
      status_line down "apt proxy $LAB_GATEWAY:$APT_PROXY_PORT"
    fi
  fi
  for f in /sys/class/net/vb-berth-h*; do
    [ -e "$f" ] || continue
    case " $all " in *" ${f##*/vb-berth-h} "*) ;; *) status_line up "veth ${f##*/}" "(no namespace)" ;; esac
  done
  for f in "$LAB_NS_DIR"/*.mnt; do
    [ -e "$f" ] || continue
    is_nsfs "$f" && ! [ -e "/run/netns/$(basename "$f" .mnt)" ] && status_line up "mount ns ${f##*/}" "(no network namespace)"
  done
  local name
  for name in registry-plain-"$LAB_GATEWAY" registry-plain-127.0.0.1 registry-tls-"$LAB_GATEWAY" registry-tls-127.0.0.1; do
    if pid_alive "$LAB_PIDS/$name.pid" docker-registry; then
      status_line up "$name" "pid $(cat "$LAB_PIDS/$name.pid")"
    else
      status_line down "$name"
    fi
  done
  for name in "$LAB_GATEWAY" 127.0.0.1; do
    if pid_alive "$LAB_PIDS/tinyproxy-$name.pid" tinyproxy; then
      status_line up "tinyproxy $name:$PROXY_PORT" "pid $(cat "$LAB_PIDS/tinyproxy-$name.pid")"
    else
      status_line down "tinyproxy $name:$PROXY_PORT"
    fi
  done
  local mounts
  mounts=$(awk -v a="$LAB_DIR/" -v b="$LAB_RUN/" 'index($2, a) == 1 || index($2, b) == 1 { print $2 }' /proc/self/mounts)
  if [ -n "$mounts" ]; then
    status_line up "mounts" "$(echo "$mounts" | tr '\n' ' ')"
  fi
  local strays
  strays=$(stray_lab_processes)
  if [ -n "$strays" ]; then
    while read -r line; do status_line up "process" "$line"; done <<<"$strays"
  fi
  if [ -f "$LAB_JSON" ]; then
    status_line up "state" "$LAB_JSON"
  else
    status_line down "state" "no $LAB_JSON"
  fi

  local n_hosts
  n_hosts=$(wc -w <<<"$hosts")
  if ((STATUS_UP == 0)); then
    echo "lab status: down, nothing left"
    return 3
  fi
  if ((STATUS_DOWN == 0)); then
    echo "lab status: up ($n_hosts hosts)"
    return 0
  fi
  echo "lab status: partial ($STATUS_UP parts up, $STATUS_DOWN down); run \`scripts/lab.sh up\` or \`scripts/lab.sh down\`"
  return 1
}
