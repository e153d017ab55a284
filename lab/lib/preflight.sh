# shellcheck shell=bash
# Preflight: capabilities the lab needs, Debian packages, and the root Docker engine.

# Commands that must exist before anything else happens (packages come later).
step_preflight() {
  if [ "$(id -u)" != 0 ]; then
    missing "the lab must run as root (uid is $(id -u)); it creates network namespaces, bridges and mounts. Run it with sudo."
  fi
  local cmd
  # What the packages step cannot install for us (the lab needs them to even start).
  for cmd in ip nsenter unshare mount umount mountpoint setsid flock timeout awk apt-get dpkg-query; do
    command -v "$cmd" >/dev/null 2>&1 || missing "command \`$cmd\` is not installed (on Debian: iproute2, util-linux, mawk, apt)"
  done
  ip netns list >/dev/null 2>&1 || missing "\`ip netns\` does not work here (iproute2 without netns support, or no permission to create /run/netns)"
  unshare --mount true 2>/dev/null || missing "\`unshare --mount\` fails: this process may not create mount namespaces (needs CAP_SYS_ADMIN)"
  nsenter --version >/dev/null 2>&1 || missing "\`nsenter\` does not run"
  unshare --net true 2>/dev/null || missing "\`unshare --net\` fails: this process may not create network namespaces"
  [ -d /sys/fs/cgroup ] || missing "no /sys/fs/cgroup: the Docker engines need cgroups"
}

# Install the Debian packages the lab runs, if any is missing.
step_packages() {
  local pkg missing_pkgs=()
  for pkg in "${LAB_APT_PACKAGES[@]}"; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing_pkgs+=("$pkg")
  done
  ((${#missing_pkgs[@]} == 0)) && return 0
  note "installing: ${missing_pkgs[*]}"
  local log=$LAB_LOGS/apt.log
  mkdir -p "$LAB_LOGS"
  if ! apt-get update -q >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get update failed (log: $log)"
  fi
  # The lab runs its own processes; services the packages may start are not used.
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing_pkgs[@]}" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "apt-get install ${missing_pkgs[*]} failed (log: $log)"
  fi
  changed "installed ${missing_pkgs[*]}"
}

# After the packages step: every program the lab runs is there. The docker CLI may
# come from the machine (/usr/local/bin/docker) or from docker.io.
step_programs() {
  local cmd
  for cmd in docker dockerd docker-registry tinyproxy runc busybox iptables ssh ssh-keygen ssh-keyscan sftp openssl curl; do
    command -v "$cmd" >/dev/null 2>&1 || missing "\`$cmd\` is still missing after installing ${LAB_APT_PACKAGES[*]}"
  done
  [ -x /usr/sbin/sshd ] || missing "/usr/sbin/sshd is missing (package openssh-server)"
  [ -x /usr/lib/openssh/sftp-server ] || missing "/usr/lib/openssh/sftp-server is missing (package openssh-sftp-server)"
  [[ $(ldd /bin/busybox 2>&1 || true) == *"not a dynamic"* ]] ||
    missing "/bin/busybox is not statically linked (install busybox-static, not busybox)"
}

# The root-namespace engine builds images and runs buildx builders. Start one only
# when nothing answers on /var/run/docker.sock; `down` leaves it running.
step_root_engine() {
  if docker_answers unix:///var/run/docker.sock; then
    return 0
  fi
  mkdir -p "$LAB_LOGS" "$LAB_PIDS"
  rm -f /var/run/docker.pid
  spawn "$LAB_PIDS/root-dockerd.pid" "$LAB_LOGS/root-dockerd.log" \
    dockerd --pidfile /var/run/docker.pid --insecure-registry "$LAB_GATEWAY:$REGISTRY_PLAIN_PORT"
  if ! wait_for 90 "root dockerd" alive_and_answering "$(cat "$LAB_PIDS/root-dockerd.pid")" unix:///var/run/docker.sock; then
    tail -n 20 "$LAB_LOGS/root-dockerd.log" >&2
    die "the root dockerd exited or did not answer on /var/run/docker.sock within 90 s (log: $LAB_LOGS/root-dockerd.log)"
  fi
  changed "started the root dockerd (pid $(cat "$LAB_PIDS/root-dockerd.pid"), log $LAB_LOGS/root-dockerd.log)"
}
