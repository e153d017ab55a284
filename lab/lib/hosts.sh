# shellcheck shell=bash
# Test hosts. Host k is berth-hk: a network namespace with eth0 at 10.77.0.(10+k) on
# the bridge berth0, a mount namespace (see lab/host-mountns.sh), its own dockerd and
# its own sshd, both started with nsenter into those two namespaces.


host_mntns() { printf '%s/%s.mnt' "$LAB_NS_DIR" "$(host_name "$1")"; }
host_utsns() { printf '%s/%s.uts' "$LAB_NS_DIR" "$(host_name "$1")"; }
# host_nsenter K COMMAND... : run COMMAND in host K's network, mount and UTS namespaces.
host_nsenter() {
  host_ns_args "$1"
  nsenter "${HOST_NS_ARGS[@]}" -- "${@:2}"
}
# Sets HOST_NS_ARGS, for launching a daemon in the background without a wrapping
# subshell: `nsenter "${HOST_NS_ARGS[@]}" -- daemon &` (then $! is the daemon itself).
host_ns_args() {
  HOST_NS_ARGS=(--net="/run/netns/$(host_name "$1")" --mount="$(host_mntns "$1")" --uts="$(host_utsns "$1")")
}
host_socket() { printf '%s/docker.sock' "$(host_dir "$1")"; }

# The namespace files live in a private bind mount: a namespace can only be
# pinned by a bind mount on a mount that does not propagate.
ensure_ns_dir() {
  mkdir -p "$LAB_NS_DIR"
  if ! mountpoint -q "$LAB_NS_DIR"; then
    mount --bind "$LAB_NS_DIR" "$LAB_NS_DIR"
    mount --make-private "$LAB_NS_DIR"
  fi
}

is_nsfs() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = nsfs ]; }

host_network() {
  local k=$1 h addr veth
  h=$(host_name "$k")
  addr=$(host_addr "$k")
  veth=$(host_veth "$k")
  if [ ! -e "/run/netns/$h" ]; then
    ip netns add "$h" || die "ip netns add $h failed"
    changed "$h: network namespace"
  fi
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip -n "$h" link del eth0 2>/dev/null || true
    ip link add "$veth" type veth peer name eth0 netns "$h" || die "cannot create veth $veth for $h"
    changed "$h: veth $veth <-> eth0"
  fi
  if ! ip link show "$veth" | grep -q "master $LAB_BRIDGE"; then
    ip link set "$veth" master "$LAB_BRIDGE"
    changed "$h: $veth on $LAB_BRIDGE"
  fi
  if ! ip link show "$veth" | grep -q ',UP'; then
    ip link set "$veth" up
  fi
  if ! ip -n "$h" -4 addr show dev eth0 | grep -q "inet $addr/24"; then
    ip -n "$h" addr add "$addr/24" dev eth0
    changed "$h: $addr/24 on eth0"
  fi
  if ! ip -n "$h" link show eth0 | grep -q ',UP'; then
    ip -n "$h" link set lo up
    ip -n "$h" link set eth0 up
    changed "$h: links up"
  fi
  if ! ip -n "$h" route show default | grep -q "via $LAB_GATEWAY"; then
    ip -n "$h" route replace default via "$LAB_GATEWAY"
    changed "$h: default route via $LAB_GATEWAY"
  fi
}

# The host's mount namespace (see lab/host-mountns.sh) and UTS namespace (its own
# hostname), each pinned by a file in $LAB_NS_DIR.
host_namespaces() {
  local k=$1 h hd mnt uts
  h=$(host_name "$k")
  hd=$(host_dir "$k")
  mnt=$(host_mntns "$k")
  uts=$(host_utsns "$k")
  mkdir -p "$hd/home" "$hd/tmp" "$hd/run" "$hd/ssh" "$hd/docker"
  chmod 0700 "$hd/home"
  chmod 1777 "$hd/tmp"
  ensure_ns_dir
  is_nsfs "$mnt" && is_nsfs "$uts" && return 0
  # Processes left from an earlier, broken namespace must not outlive it.
  stop_pidfile "$hd/run/sshd.pid" sshd 5 && note "$h: stopped an sshd outside the host's namespaces"
  stop_pidfile "$hd/run/dockerd.pid" dockerd 30 && note "$h: stopped a dockerd outside the host's namespaces"
  host_namespaces_remove "$k"
  touch "$mnt" "$uts"
  unshare --mount="$mnt" --uts="$uts" --propagation private bash "$LAB_ROOT/lab/host-mountns.sh" "$hd" "$h" ||
    die "$h: could not set up its mount and UTS namespaces (unshare --mount --uts)"
  changed "$h: mount namespace (private /run, /root -> $hd/home, /tmp -> $hd/tmp), hostname $h"
}

host_namespaces_remove() {
  local f
  for f in "$(host_mntns "$1")" "$(host_utsns "$1")"; do
    if is_nsfs "$f"; then
      umount "$f" 2>/dev/null || umount -l "$f"
    fi
    rm -f "$f"
  done
}

host_dockerd() {
  local k=$1 h hd sock pidfile
  h=$(host_name "$k")
  hd=$(host_dir "$k")
  sock=$(host_socket "$k")
  pidfile=$hd/run/dockerd.pid
  local -a args
  mapfile -t args < <(printf '%s\n' dockerd \
    --config-file "$hd/daemon.json" \
    --data-root "$hd/docker" \
    --exec-root /run/docker \
    --pidfile "$pidfile" \
    -H "unix://$sock" \
    --bip "10.78.$k.1/24" \
    --default-address-pool "base=10.$((80 + k)).0.0/16,size=24" \
    --insecure-registry "$LAB_GATEWAY:$REGISTRY_PLAIN_PORT" \
    --containerd-namespace "$h" \
    --containerd-plugins-namespace "$h-plugins" \
    --shutdown-timeout 5; runtime_flags)
  if pid_alive "$pidfile" dockerd && [ "$(cat "$hd/run/dockerd.args" 2>/dev/null)" != "${args[*]}" ]; then
    note "$h: restarting dockerd: its flags changed"
    stop_pidfile "$pidfile" dockerd 60 || true
  fi
  if pid_alive "$pidfile" dockerd && docker_answers "unix://$sock"; then
    return 0
  fi
  if pid_alive "$pidfile" dockerd; then
    # Running but not answering: give a starting engine a moment, then restart it.
    if wait_for 20 "$h dockerd" docker_answers "unix://$sock"; then
      return 0
    fi
    stop_pidfile "$pidfile" dockerd 20 || true
  fi
  rm -f "$pidfile" "$sock"
  # Docker 20.10 derives the engine ID from its key file (/etc/docker/key.json by
  # default, shared by every engine on the machine); each host gets its own. The key
  # path has no command-line flag, only this config-file entry.
  printf '{ "deprecated-key-path": "%s/key.json" }\n' "$hd" >"$hd/daemon.json"
  host_ns_args "$k"
  nsenter "${HOST_NS_ARGS[@]}" -- setsid "${args[@]}" >>"$LAB_LOGS/$h-dockerd.log" 2>&1 </dev/null 9>&- &
  local pid=$!
  printf '%s' "${args[*]}" >"$hd/run/dockerd.args"
  if ! wait_for 90 "$h dockerd" alive_and_answering "$pid" "unix://$sock"; then
    tail -n 15 "$LAB_LOGS/$h-dockerd.log" >&2
    die "$h: dockerd exited or did not answer on $sock within 90 s (log: $LAB_LOGS/$h-dockerd.log)"
  fi
  changed "$h: dockerd (pid $(cat "$pidfile"), socket $sock, bridge 10.78.$k.1/24)"
}

# Writes the host's sshd_config; returns 0 if it changed (or is new), 1 if not.
host_sshd_config() {
  local k=$1 hd
  hd=$(host_dir "$k")
  [ -f "$hd/ssh/ssh_host_ed25519_key" ] ||
    ssh-keygen -q -t ed25519 -N '' -C "$(host_name "$k")" -f "$hd/ssh/ssh_host_ed25519_key"
  cat >"$hd/ssh/sshd_config.tmp" <<EOF
# Written by scripts/lab.sh for $(host_name "$k").
ListenAddress $(host_addr "$k"):22
HostKey $hd/ssh/ssh_host_ed25519_key
PidFile $hd/run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile $LAB_SSH/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
X11Forwarding no
AllowTcpForwarding yes
AllowStreamLocalForwarding yes
MaxSessions 64
MaxStartups 64:30:128
LogLevel INFO
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  if cmp -s "$hd/ssh/sshd_config.tmp" "$hd/ssh/sshd_config"; then
    rm -f "$hd/ssh/sshd_config.tmp"
    return 1
  fi
  mv -f "$hd/ssh/sshd_config.tmp" "$hd/ssh/sshd_config"
  return 0
}

sshd_answers() { timeout 5 ssh-keyscan -T 3 -t ed25519 "$1" 2>/dev/null | grep -q ssh-ed25519; }

host_sshd() {
  local k=$1 h hd addr pidfile
  h=$(host_name "$k")
  hd=$(host_dir "$k")
  addr=$(host_addr "$k")
  pidfile=$hd/run/sshd.pid
  local config_changed=0
  if host_sshd_config "$k"; then config_changed=1; fi
  if ((config_changed == 0)) && pid_alive "$pidfile" sshd && sshd_answers "$addr"; then
    return 0
  fi
  stop_pidfile "$pidfile" sshd 5 || true
  local err
  err=$(host_nsenter "$k" /usr/sbin/sshd -t -f "$hd/ssh/sshd_config" 2>&1) || die "$h: sshd config check failed: $err"
  # sshd daemonizes and writes its pid file.
  host_nsenter "$k" /usr/sbin/sshd -f "$hd/ssh/sshd_config" -E "$LAB_LOGS/$h-sshd.log" </dev/null >/dev/null 2>&1 9>&- ||
    die "$h: sshd failed to start (log: $LAB_LOGS/$h-sshd.log)"
  wait_for 15 "$h sshd" sshd_answers "$addr" || die "$h: sshd does not answer on $addr:22 (log: $LAB_LOGS/$h-sshd.log)"
  changed "$h: sshd on $addr:22 (pid $(cat "$pidfile"))"
}

host_images() {
  local k=$1 dir
  for dir in "$(image_cache_base)" "$(image_cache_kamal_proxy)" "$(image_cache_buildkit)"; do
    ensure_image_loaded "unix://$(host_socket "$k")" "$dir"
  done
}

# The fault host's engine keeps its data on a small ext4 image, loop-mounted over its
# data root inside the host's own mount namespace (nothing else sees the mount), so a
# test can fill that disk. The mount goes with the namespace (`down`); the image stays.
host_fault_disk() {
  local k=$1 h hd img
  h=$(host_name "$k")
  hd=$(host_dir "$k")
  img=$hd/docker.img
  if [ ! -f "$img" ]; then
    rm -f "$img.tmp"
    truncate -s "${LAB_FAULT_DISK_MB}M" "$img.tmp"
    mkfs.ext4 -q -F -m 0 "$img.tmp" || die "$h: mkfs.ext4 on $img.tmp failed"
    mv -f "$img.tmp" "$img"
    changed "$h: $LAB_FAULT_DISK_MB MB ext4 image $img"
  fi
  host_nsenter "$k" mountpoint -q "$hd/docker" && return 0
  if stop_pidfile "$hd/run/dockerd.pid" dockerd 30; then note "$h: stopped dockerd to mount its data root"; fi
  host_nsenter "$k" mount -o loop,discard "$img" "$hd/docker" || die "$h: cannot loop-mount $img on $hd/docker"
  changed "$h: $img loop-mounted on $hd/docker (its engine's data root), in its mount namespace only"
}

step_host() {
  local k=$1
  mkdir -p "$LAB_LOGS"
  host_network "$k"
  host_namespaces "$k"
  if ((k == LAB_FAULT_HOST)); then host_fault_disk "$k"; fi
  host_dockerd "$k"
  host_sshd "$k"
  host_images "$k"
}

# --- teardown ---------------------------------------------------------------------

# pids of processes whose mount namespace is the host's pinned one
pids_in_mntns() {
  local ns=$1 ino p
  is_nsfs "$ns" || return 0
  ino=$(stat -L -c %i "$ns")
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "mnt:[$ino]" ] && printf '%s\n' "${p#/proc/}"
  done
  return 0
}

host_pids() {
  local k=$1 h
  h=$(host_name "$k")
  {
    [ -e "/run/netns/$h" ] && ip netns pids "$h" 2>/dev/null
    pids_in_mntns "$(host_mntns "$k")"
  } | sort -un
}

host_down() {
  local k=$1 h hd pids
  h=$(host_name "$k")
  hd=$(host_dir "$k")
  local t0
  t0=$(now)
  # The bare host's daemons are its own root's (no lab pid files): stop them the other way.
  if [ "$k" = "${BARE_HOST_K:-}" ]; then bare_host_stop; fi
  if stop_pidfile "$hd/run/sshd.pid" sshd 5; then note "$h: stopped sshd"; fi
  t0=$(now)
  if stop_pidfile "$hd/run/dockerd.pid" dockerd 30; then note "$h: stopped dockerd and its containers ($(since "$t0")s)"; fi
  # Anything still in the host's namespaces was started by the lab (containerd, shims,
  # ssh sessions): end it.
  pids=$(host_pids "$k")
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 1
    pids=$(host_pids "$k")
    # shellcheck disable=SC2086
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    note "$h: ended leftover processes"
  fi
  host_namespaces_remove "$k"
  rm -f "$hd/docker.sock"
  if ip link show "$(host_veth "$k")" >/dev/null 2>&1; then
    ip link del "$(host_veth "$k")"
  fi
  if [ -e "/run/netns/$h" ]; then
    ip netns del "$h"
    note "$h: removed network namespace"
  fi
}
