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

# The lab engines' OCI runtime: runc behind lab/runc-wrapper.sh (see there why).
LAB_RUNTIME=berth-lab-runc
LAB_RUNTIME_PATH=$LAB_DIR/bin/berth-lab-runc
step_runtime() {
  if cmp -s "$LAB_ROOT/lab/runc-wrapper.sh" "$LAB_RUNTIME_PATH"; then
    return 0
  fi
  install -D -m 0755 "$LAB_ROOT/lab/runc-wrapper.sh" "$LAB_RUNTIME_PATH.tmp"
  mv -f "$LAB_RUNTIME_PATH.tmp" "$LAB_RUNTIME_PATH"
  changed "installed $LAB_RUNTIME_PATH (runc that drops capabilities this machine lacks: $(bash "$LAB_RUNTIME_PATH" --lab-missing-caps 2>/dev/null || echo none))"
}

# Flags every lab dockerd gets for its runtime.
runtime_flags() { printf '%s\n' --add-runtime "$LAB_RUNTIME=$LAB_RUNTIME_PATH" --default-runtime "$LAB_RUNTIME"; }

# The root-namespace engine builds images and runs buildx builders. Start one when
# nothing answers on /var/run/docker.sock; restart it when the lab started it with
# other flags. An engine someone else started is used as it is. `down` leaves it running.
step_root_engine() {
  local -a args
  mapfile -t args < <(printf '%s\n' dockerd --pidfile /var/run/docker.pid \
    --insecure-registry "$LAB_GATEWAY:$REGISTRY_PLAIN_PORT"; runtime_flags)
  if docker_answers unix:///var/run/docker.sock; then
    if ! pid_alive "$LAB_PIDS/root-dockerd.pid" dockerd; then
      if [ "$(docker info --format '{{.DefaultRuntime}}' 2>/dev/null)" != "$LAB_RUNTIME" ] &&
        [ "$(bash "$LAB_RUNTIME_PATH" --lab-missing-caps)" != none ]; then
        note "WARNING: the root dockerd was not started by the lab and runs plain runc: privileged"
        note "containers (buildx docker-container builders) fail here because this machine lacks"
        note "$(bash "$LAB_RUNTIME_PATH" --lab-missing-caps). Stop it and rerun \`lab up\` to let the lab start it."
      fi
      return 0
    fi
    if [ "$(cat "$LAB_PIDS/root-dockerd.args" 2>/dev/null)" = "${args[*]}" ]; then
      return 0
    fi
    note "restarting the lab's root dockerd: its flags changed"
    stop_pidfile "$LAB_PIDS/root-dockerd.pid" dockerd 60 || true
  fi
  mkdir -p "$LAB_LOGS" "$LAB_PIDS"
  rm -f /var/run/docker.pid
  spawn "$LAB_PIDS/root-dockerd.pid" "$LAB_LOGS/root-dockerd.log" "${args[@]}"
  printf '%s' "${args[*]}" >"$LAB_PIDS/root-dockerd.args"
  if ! wait_for 90 "root dockerd" alive_and_answering "$(cat "$LAB_PIDS/root-dockerd.pid")" unix:///var/run/docker.sock; then
    tail -n 20 "$LAB_LOGS/root-dockerd.log" >&2
    die "the root dockerd exited or did not answer on /var/run/docker.sock within 90 s (log: $LAB_LOGS/root-dockerd.log)"
  fi
  changed "started the root dockerd (pid $(cat "$LAB_PIDS/root-dockerd.pid"), log $LAB_LOGS/root-dockerd.log)"
}
