#!/usr/bin/env bash
# Berth's lab: real SSH hosts with their own Docker engines, a plain and a TLS
# registry, kamal-proxy and BuildKit images, and an HTTP proxy, all on this machine.
#
#   scripts/lab.sh up [--hosts N]   bring the lab up (idempotent; N = 1..4, default 2,
#                                   or as many as are already up when --hosts is not given)
#   scripts/lab.sh down [--purge]   stop everything the lab started; --purge also deletes
#                                   its data (/var/lib/berth-lab). Leaves the root dockerd
#                                   and the build cache.
#   scripts/lab.sh status           what is up; exit 0 up, 3 down (nothing left), 1 partial
#   scripts/lab.sh env              print /run/berth-lab/lab.json
#   scripts/lab.sh bare-host reset  the bare host (berth-h5, no Docker) as new: stops what runs
#                                   there and unpacks its Debian root again
#
# See docs/lab.md. Versions: lab/versions.sh.
set -euo pipefail

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../lab/versions.sh
source "$LAB_ROOT/lab/versions.sh"
# shellcheck source=../lab/lib/common.sh
source "$LAB_ROOT/lab/lib/common.sh"
# shellcheck source=../lab/lib/preflight.sh
source "$LAB_ROOT/lab/lib/preflight.sh"
# shellcheck source=../lab/lib/build.sh
source "$LAB_ROOT/lab/lib/build.sh"
# shellcheck source=../lab/lib/accessory-images.sh
source "$LAB_ROOT/lab/lib/accessory-images.sh"
# shellcheck source=../lab/lib/services.sh
source "$LAB_ROOT/lab/lib/services.sh"
# shellcheck source=../lab/lib/hosts.sh
source "$LAB_ROOT/lab/lib/hosts.sh"
# shellcheck source=../lab/lib/state.sh
source "$LAB_ROOT/lab/lib/state.sh"
# shellcheck source=../lab/lib/bare-host.sh
source "$LAB_ROOT/lab/lib/bare-host.sh"

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

lab_up() {
  local n="" t0 k
  while [ $# -gt 0 ]; do
    case $1 in
      --hosts) n=${2:-}; shift 2 || usage 64 ;;
      --hosts=*) n=${1#--hosts=}; shift ;;
      *) echo "lab up: unknown argument $1" >&2; usage 64 ;;
    esac
  done
  t0=$(now)
  CURRENT_STEP=preflight
  local explicit=1
  if [ -z "$n" ]; then
    explicit=0
    n=$LAB_DEFAULT_HOSTS
    for k in $(existing_hosts); do ((k > n)) && n=$k; done
  fi
  [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= LAB_MAX_HOSTS)) || die "--hosts must be 1..$LAB_MAX_HOSTS (got '$n')"
  ((n < BARE_HOST_K)) || die "--hosts must be below $BARE_HOST_K (got $n): host $BARE_HOST_K is the bare host (no Docker; see docs/lab.md)"

  run_step preflight "check root, ip netns, nsenter, unshare" step_preflight
  lab_lock
  run_step packages "Debian packages: ${LAB_APT_PACKAGES[*]}" step_packages
  run_step programs "docker, dockerd, docker-registry, tinyproxy, runc, busybox, ssh, openssl" step_programs
  run_step runtime "OCI runtime wrapper $LAB_RUNTIME_PATH" step_runtime
  run_step root-engine "root-namespace dockerd on /var/run/docker.sock" step_root_engine
  run_step binaries "build kamal-proxy $KAMAL_PROXY_VERSION, buildkit $BUILDKIT_VERSION, buildx $BUILDX_VERSION (cache $LAB_CACHE)" step_build_binaries
  run_step buildx "buildx CLI plugin at $BUILDX_PLUGIN" step_buildx_plugin
  run_step images "images $IMAGE_BASE, $IMAGE_KAMAL_PROXY, $IMAGE_BUILDKIT in the root engine" step_images
  run_step keys "SSH client key, lab CA, registry certificate" step_keys
  run_step bridge "bridge $LAB_BRIDGE $LAB_GATEWAY/24 and firewall chain $LAB_IPT_CHAIN" step_bridge
  run_step registries "registries: plain :$REGISTRY_PLAIN_PORT, TLS :$REGISTRY_TLS_PORT" step_registries
  run_step push "images into $LAB_GATEWAY:$REGISTRY_PLAIN_PORT" step_push_images
  run_step accessories "accessory images $IMAGE_POSTGRES, $IMAGE_REDIS (Debian packages) into $LAB_GATEWAY:$REGISTRY_PLAIN_PORT" step_accessory_images
  run_step proxy "tinyproxy on $LAB_GATEWAY:$PROXY_PORT and 127.0.0.1:$PROXY_PORT" step_proxy
  for ((k = 1; k <= n; k++)); do
    run_step "$(host_name "$k")" "netns, mount ns, dockerd, sshd at $(host_addr "$k"), images" step_host "$k"
  done
  if ((LAB_FAULT_HOST > n)); then
    run_step "$(host_name "$LAB_FAULT_HOST")" "fault host: as a host, its data root a $LAB_FAULT_DISK_MB MB loop-mounted ext4" step_host "$LAB_FAULT_HOST"
  fi
  run_step "$(host_name "$BARE_HOST_K")" "bare host: its own Debian root (no Docker), sshd at $(host_addr "$BARE_HOST_K"), apt proxy :$APT_PROXY_PORT" step_bare_host
  if ((explicit)); then
    for k in $(existing_hosts); do
      if ((k > n)); then
        run_step "$(host_name "$k")" "remove (beyond --hosts $n)" lab_remove_host "$k"
      fi
    done
  fi
  run_step state "known_hosts and $LAB_JSON" step_state "$n"
  run_step verify "ssh to each host with the pinned key, docker info" step_verify "$n"

  if ((CHANGED_STEPS == 0)); then
    printf 'lab up: already up, nothing changed (%s hosts, %s steps checked in %ss)\n' "$n" "$TOTAL_STEPS" "$(since "$t0")"
  else
    printf 'lab up: ready (%s hosts; %s of %s steps changed something; %ss)\n' "$n" "$CHANGED_STEPS" "$TOTAL_STEPS" "$(since "$t0")"
  fi
}

lab_remove_host() {
  host_down "$1"
  STEP_CHANGED=1
}

lab_down() {
  local purge=0 t0 k name
  case ${1:-} in
    --purge) purge=1 ;;
    "") ;;
    *) echo "lab down: unknown argument $1" >&2; usage 64 ;;
  esac
  t0=$(now)
  CURRENT_STEP=preflight
  [ "$(id -u)" = 0 ] || missing "the lab must run as root (uid is $(id -u))"
  lab_lock
  CURRENT_STEP=down
  rm -f "$LAB_JSON"
  # Hosts, in parallel (an engine takes seconds to stop its containers). Also hosts
  # whose network namespace is gone but whose processes or namespace files remain.
  local -a jobs=()
  for k in $(seq 1 "$LAB_MAX_HOSTS"); do
    if [ -e "/run/netns/$(host_name "$k")" ] || [ -e "$(host_mntns "$k")" ] ||
      pid_alive "$(host_dir "$k")/run/dockerd.pid" dockerd || pid_alive "$(host_dir "$k")/run/sshd.pid" sshd; then
      host_down "$k" &
      jobs+=($!)
    fi
  done
  for name in "$LAB_GATEWAY" 127.0.0.1 apt; do
    { if stop_pidfile "$LAB_PIDS/tinyproxy-$name.pid" tinyproxy 5; then note "stopped tinyproxy on $name"; fi; } &
    jobs+=($!)
  done
  for name in registry-plain-"$LAB_GATEWAY" registry-plain-127.0.0.1 registry-tls-"$LAB_GATEWAY" registry-tls-127.0.0.1; do
    { if stop_pidfile "$LAB_PIDS/$name.pid" docker-registry 5; then note "stopped $name"; fi; } &
    jobs+=($!)
  done
  local failed=0 job
  for job in "${jobs[@]}"; do
    wait "$job" || failed=1
  done
  ((failed == 0)) || die "stopping some part failed (see above); rerun \`scripts/lab.sh down\`"
  if iptables -w -C FORWARD -j "$LAB_IPT_CHAIN" 2>/dev/null; then
    iptables -w -D FORWARD -j "$LAB_IPT_CHAIN"
  fi
  if iptables -w -nL "$LAB_IPT_CHAIN" >/dev/null 2>&1; then
    iptables -w -F "$LAB_IPT_CHAIN"
    iptables -w -X "$LAB_IPT_CHAIN"
    note "removed iptables chain $LAB_IPT_CHAIN"
  fi
  if ip link show "$LAB_BRIDGE" >/dev/null 2>&1; then
    ip link del "$LAB_BRIDGE"
    note "removed bridge $LAB_BRIDGE"
  fi
  if mountpoint -q "$LAB_NS_DIR" 2>/dev/null; then
    umount "$LAB_NS_DIR" 2>/dev/null || umount -l "$LAB_NS_DIR"
  fi
  rm -rf "$LAB_NS_DIR"
  if ((purge)); then
    rm -rf "$LAB_DIR"
    note "deleted $LAB_DIR"
  fi
  printf 'lab down: done in %ss (the root dockerd and %s are kept)\n' "$(since "$t0")" "$LAB_CACHE"
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    up) lab_up "$@" ;;
    down) lab_down "$@" ;;
    status) lab_status ;;
    env)
      [ -f "$LAB_JSON" ] || { echo "lab env: $LAB_JSON does not exist; run scripts/lab.sh up" >&2; exit 1; }
      cat "$LAB_JSON"
      ;;
    bare-host)
      [ "${1:-}" = reset ] || { echo "lab bare-host: the only subcommand is reset" >&2; usage 64; }
      bare_host_reset
      ;;
    -h | --help | help) usage 0 ;;
    *) usage 64 ;;
  esac
}

main "$@"
