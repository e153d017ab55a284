# shellcheck shell=bash
# The bare host, berth-h5 at 10.77.0.15: a lab host WITHOUT Docker, for Berth's bootstrap
# (`ssh.bootstrap`). The other hosts share the machine's root file system, where Docker is
# installed; this one has a root of its own: a Debian bookworm made with debootstrap
# (--variant=minbase) plus `openssh-server`, nothing else. Its sshd runs in its own network, mount
# and UTS namespaces, the mount namespace pivoted into that root, with /proc, /sys (and the
# machine's cgroup hierarchy under /sys/fs/cgroup), /dev and a tmpfs /run mounted, so a dockerd
# installed there later runs as on a real server.
#
# Its root is unpacked from a cached tarball ($LAB_CACHE/bare-host-rootfs-<suite>-r<recipe>/);
# `scripts/lab.sh bare-host reset` stops everything running in it and unpacks it again, so it
# has no Docker. The lab writes the host's own configuration into that root, as an admin of a
# real server would: its apt proxy (below), its sshd settings and host key, root's
# authorized_keys, and /etc/docker/daemon.json (the lab's plain registry as insecure, a default
# bridge and cgroup parent of its own) for the dockerd that Berth installs.
#
# apt reaches Debian's mirror through a second tinyproxy on 10.77.0.1:3142 that serves only
# this host and forwards only to the Debian mirror's host names (the lab's other proxy on :8888
# forwards to lab addresses only). The host's /etc/apt/apt.conf.d/80berth-lab points apt at it.
#
# Published in lab.json as "bareHost" (same shape as a `hosts` entry, no dockerSocket), never in
# "hosts": tests iterate that.

BARE_HOST_K=5
# Bump when the root's recipe changes, so a cached tarball of the old recipe is not reused.
BARE_HOST_RECIPE=1
BARE_HOST_SUITE=$ACCESSORY_DEBIAN_SUITE
APT_PROXY_PORT=3142

bare_host_cache() { cache_entry bare-host-rootfs "$BARE_HOST_SUITE-r$BARE_HOST_RECIPE"; }
bare_host_root() { printf '%s/root' "$(host_dir "$BARE_HOST_K")"; }

# --- apt proxy --------------------------------------------------------------------------

# The Debian mirror host names apt on the bare host may reach.
apt_proxy_filter_hosts() {
  local mirror_host=${ACCESSORY_DEBIAN_MIRROR#*://}
  mirror_host=${mirror_host%%/*}
  printf '%s\n' "$mirror_host" deb.debian.org security.debian.org | sort -u
}

apt_proxy_config() {
  local cfg=$LAB_DIR/proxy/apt-proxy.conf h
  mkdir -p "$LAB_DIR/proxy"
  for h in $(apt_proxy_filter_hosts); do printf '^%s$\n' "${h//./\\.}"; done >"$LAB_DIR/proxy/apt-filter"
  cat >"$cfg.tmp" <<EOF
# Written by scripts/lab.sh: the bare host's way to Debian's mirror (and nowhere else).
User nobody
Group nogroup
Port $APT_PROXY_PORT
Listen $LAB_GATEWAY
Timeout 120
LogFile "$LAB_DIR/proxy/apt-access.log"
LogLevel Info
PidFile "$LAB_PIDS/tinyproxy-apt.pid"
MaxClients 32
Allow $(host_addr "$BARE_HOST_K")
Filter "$LAB_DIR/proxy/apt-filter"
FilterType ere
FilterDefaultDeny Yes
EOF
  mv -f "$cfg.tmp" "$cfg"
  printf '%s' "$cfg"
}

ensure_apt_proxy() {
  local pidfile=$LAB_PIDS/tinyproxy-apt.pid cfg
  if pid_alive "$pidfile" tinyproxy && port_open "$LAB_GATEWAY" "$APT_PROXY_PORT"; then
    return 0
  fi
  stop_pidfile "$pidfile" tinyproxy 5 || true
  mkdir -p "$LAB_PIDS" "$LAB_LOGS"
  cfg=$(apt_proxy_config)
  touch "$LAB_DIR/proxy/apt-access.log"
  chown nobody:nogroup "$LAB_DIR/proxy/apt-access.log"
  tinyproxy -c "$cfg" >>"$LAB_LOGS/tinyproxy.log" 2>&1 </dev/null 9>&- || die "tinyproxy -c $cfg failed (see $LAB_LOGS/tinyproxy.log)"
  wait_for 10 "apt proxy" port_open "$LAB_GATEWAY" "$APT_PROXY_PORT" || die "the apt proxy did not listen on $LAB_GATEWAY:$APT_PROXY_PORT"
  wait_for 5 "apt proxy pid" pid_alive "$pidfile" tinyproxy || die "tinyproxy wrote no pid file $pidfile"
  changed "apt proxy on $LAB_GATEWAY:$APT_PROXY_PORT for $(host_addr "$BARE_HOST_K") only, to $(apt_proxy_filter_hosts | tr '\n' ' ')"
}

# --- the root file system -----------------------------------------------------------------

build_bare_host_rootfs() {
  local dest tmp tree
  dest=$(bare_host_cache)
  [ -f "$dest/.complete" ] && return 0
  debian_tree
  tmp=$(mktemp -d "$LAB_CACHE/.tmp-bare-XXXXXX")
  tree=$tmp/tree
  mkdir "$tree"
  cp -a "$ACCESSORY_DEBIAN_TREE/." "$tree/"
  chroot_install "$tree" openssh-server
  # The lab gives the host a stable key of its own (pinned in known_hosts).
  rm -f "$tree"/etc/ssh/ssh_host_* "$tree"/var/lib/apt/lists/* 2>/dev/null || true
  rm -rf "$tree"/var/cache/apt/*.bin "$tree"/var/cache/apt/archives/*.deb
  : >"$tree/etc/resolv.conf"
  chmod 0755 "$tree"
  tar --numeric-owner -C "$tree" -cpf "$tmp/rootfs.tar" .
  rm -rf "$tree"
  cache_publish "$tmp" "$dest"
  if [ -n "$ACCESSORY_DEBIAN_TREE" ]; then
    rm -rf "$ACCESSORY_DEBIAN_TREE"
    ACCESSORY_DEBIAN_TREE=""
  fi
  changed "made the bare host's root $(bare_host_cache)/rootfs.tar (Debian $BARE_HOST_SUITE minbase + openssh-server)"
}

# write_if_changed PATH MODE CONTENT : returns 0 when it wrote.
write_if_changed() {
  local path=$1 mode=$2 content=$3
  if [ -f "$path" ] && [ "$(cat "$path")" = "$content" ] && [ "$(stat -c %a "$path")" = "$mode" ]; then
    return 1
  fi
  mkdir -p "$(dirname "$path")"
  printf '%s\n' "$content" >"$path.tmp"
  chmod "$mode" "$path.tmp"
  mv -f "$path.tmp" "$path"
}

# The host's own configuration, as its admin would write it.
bare_host_files() {
  local root hd h addr n=0 mirror=$ACCESSORY_DEBIAN_MIRROR
  root=$(bare_host_root)
  hd=$(host_dir "$BARE_HOST_K")
  h=$(host_name "$BARE_HOST_K")
  addr=$(host_addr "$BARE_HOST_K")
  [ -f "$hd/ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$hd/ssh/ssh_host_ed25519_key"
  write_if_changed "$root/etc/hostname" 644 "$h" && n=$((n + 1))
  write_if_changed "$root/etc/hosts" 644 "127.0.0.1 localhost
$addr $h" && n=$((n + 1))
  write_if_changed "$root/etc/apt/sources.list" 644 "deb $mirror $BARE_HOST_SUITE main
deb $mirror $BARE_HOST_SUITE-updates main
deb ${mirror%/debian}/debian-security $BARE_HOST_SUITE-security main" && n=$((n + 1))
  # This machine's Debian mirror serves a dated snapshot: its Release files are past Valid-Until.
  write_if_changed "$root/etc/apt/apt.conf.d/80berth-lab" 644 "// Written by the Berth lab: apt reaches Debian's mirror through the lab's apt proxy.
Acquire::http::Proxy \"http://$LAB_GATEWAY:$APT_PROXY_PORT\";
Acquire::Check-Valid-Until \"false\";" && n=$((n + 1))
  write_if_changed "$root/etc/ssh/sshd_config.d/berth-lab.conf" 644 "# Written by the Berth lab.
ListenAddress $addr:22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxSessions 64
MaxStartups 64:30:128" && n=$((n + 1))
  write_if_changed "$root/etc/ssh/ssh_host_ed25519_key" 600 "$(cat "$hd/ssh/ssh_host_ed25519_key")" && n=$((n + 1))
  write_if_changed "$root/etc/ssh/ssh_host_ed25519_key.pub" 644 "$(cat "$hd/ssh/ssh_host_ed25519_key.pub")" && n=$((n + 1))
  mkdir -p "$root/root/.ssh"
  chmod 0700 "$root/root" "$root/root/.ssh"
  write_if_changed "$root/root/.ssh/authorized_keys" 600 "$(cat "$LAB_SSH/authorized_keys")" && n=$((n + 1))
  # For the dockerd Berth installs: pull from the lab's plain registry, its own bridge range, and
  # its containers under a cgroup of their own (so `bare-host reset` can find what is left).
  write_if_changed "$root/etc/docker/daemon.json" 644 "{
  \"insecure-registries\": [\"$LAB_GATEWAY:$REGISTRY_PLAIN_PORT\"],
  \"bip\": \"10.78.$BARE_HOST_K.1/24\",
  \"default-address-pools\": [{ \"base\": \"10.$((80 + BARE_HOST_K)).0.0/16\", \"size\": 24 }],
  \"cgroup-parent\": \"$h\"
}" && n=$((n + 1))
  write_if_changed "$root/etc/docker/certs.d/$LAB_GATEWAY:$REGISTRY_TLS_PORT/ca.crt" 644 "$(cat "$LAB_CA")" && n=$((n + 1))
  ((n == 0)) || changed "$h: wrote $n configuration file(s) into its root"
}

bare_host_unpack() {
  local root t0
  root=$(bare_host_root)
  [ -f "$root/etc/debian_version" ] && return 0
  t0=$(now)
  rm -rf "$root"
  mkdir -p "$root"
  tar --numeric-owner -C "$root" -xpf "$(bare_host_cache)/rootfs.tar" || die "unpacking $(bare_host_cache)/rootfs.tar into $root failed"
  chmod 0755 "$root"
  changed "$(host_name "$BARE_HOST_K"): unpacked its root (no Docker) in $(since "$t0")s"
}

# --- namespaces and sshd ------------------------------------------------------------------

bare_host_namespaces() {
  local k=$BARE_HOST_K h mnt uts root
  h=$(host_name "$k")
  mnt=$(host_mntns "$k")
  uts=$(host_utsns "$k")
  root=$(bare_host_root)
  ensure_ns_dir
  is_nsfs "$mnt" && is_nsfs "$uts" && return 0
  host_namespaces_remove "$k"
  touch "$mnt" "$uts"
  # In the host's network namespace, so the sysfs mounted there shows its own interfaces.
  nsenter --net="/run/netns/$h" unshare --mount="$mnt" --uts="$uts" --propagation private \
    bash "$LAB_ROOT/lab/bare-host-mountns.sh" "$root" "$h" ||
    die "$h: could not set up its mount namespace with the root $root"
  changed "$h: mount namespace pivoted into $root (/proc, /sys, cgroups, /dev, tmpfs /run), hostname $h"
}

bare_host_nsenter() {
  local h
  h=$(host_name "$BARE_HOST_K")
  nsenter --net="/run/netns/$h" --mount="$(host_mntns "$BARE_HOST_K")" --uts="$(host_utsns "$BARE_HOST_K")" -- "$@"
}

bare_host_sshd() {
  local h addr
  h=$(host_name "$BARE_HOST_K")
  addr=$(host_addr "$BARE_HOST_K")
  if sshd_answers "$addr"; then
    return 0
  fi
  local err
  err=$(bare_host_nsenter /bin/sh -c 'mkdir -p /run/sshd && chmod 0755 /run/sshd && /usr/sbin/sshd -t' 2>&1) || die "$h: sshd config check failed: $err"
  # Debian's sshd daemonizes; its pid file is /run/sshd.pid inside the host.
  bare_host_nsenter /usr/sbin/sshd -E /var/log/sshd.log </dev/null >/dev/null 2>&1 9>&- ||
    die "$h: sshd failed to start (log: $(bare_host_root)/var/log/sshd.log)"
  wait_for 15 "$h sshd" sshd_answers "$addr" || die "$h: sshd does not answer on $addr:22 (log: $(bare_host_root)/var/log/sshd.log)"
  changed "$h: sshd on $addr:22 (its root's own openssh-server)"
}

step_bare_host() {
  mkdir -p "$LAB_LOGS" "$(host_dir "$BARE_HOST_K")/ssh"
  ensure_apt_proxy
  build_bare_host_rootfs
  host_network "$BARE_HOST_K"
  bare_host_unpack
  bare_host_files
  bare_host_namespaces
  bare_host_sshd
}

# Stops everything that runs in the bare host: its dockerd first (it stops its containers),
# then whatever is left in its namespaces and its containers' cgroup, then its namespaces.
bare_host_stop() {
  local k=$BARE_HOST_K h pid pids deadline
  h=$(host_name "$k")
  for pid in $(pids_in_mntns "$(host_mntns "$k")"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || continue
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 40))
    while proc_running "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
    note "$h: stopped its dockerd"
  done
  pids=$( (host_pids "$k"; cat /sys/fs/cgroup/pids/"$h"/*/cgroup.procs /sys/fs/cgroup/unified/"$h"/*/cgroup.procs /sys/fs/cgroup/"$h"/*/cgroup.procs 2>/dev/null || true) | sort -un)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
    note "$h: ended its processes"
  fi
  host_namespaces_remove "$k"
}

# `scripts/lab.sh bare-host reset`: the bare host as new, without Docker (its network, key and
# address stay).
bare_host_reset() {
  local t0
  t0=$(now)
  CURRENT_STEP=preflight
  [ "$(id -u)" = 0 ] || missing "the lab must run as root (uid is $(id -u))"
  [ -f "$LAB_JSON" ] || die "the lab is not up: run scripts/lab.sh up"
  lab_lock
  CURRENT_STEP=bare-host-reset
  bare_host_stop
  # The old root goes in the background (it may hold an engine's images): the new one is ready sooner.
  local old
  old=$(bare_host_root).old-$$
  if [ -e "$(bare_host_root)" ]; then
    mv -T "$(bare_host_root)" "$old"
    setsid rm -rf "$old" </dev/null >/dev/null 2>&1 9>&- &
  fi
  step_bare_host
  printf 'lab bare-host reset: %s has no Docker again (%ss)\n' "$(host_name "$BARE_HOST_K")" "$(since "$t0")"
}

# The "bareHost" entry of lab.json.
bare_host_json() {
  printf '{ "name": "%s", "address": "%s", "port": 22, "user": "root", "hostKey": "%s" }' \
    "$(host_name "$BARE_HOST_K")" "$(host_addr "$BARE_HOST_K")" "$(host_key "$BARE_HOST_K")"
}
