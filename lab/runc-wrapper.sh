#!/usr/bin/env bash
# The lab engines' default OCI runtime: runc, after removing from the container's
# capability sets any capability this machine's bounding set lacks.
#
# Why: a privileged container (buildx's docker-container builder is one) asks for every
# capability the engine knows. Where the lab itself runs without some capability (this
# workplace's sandbox drops CAP_SYS_RESOURCE), runc then fails with "unable to apply
# caps: operation not permitted". No container can hold a capability its engine lacks,
# so dropping those from the spec changes nothing else.
#
# The engine calls this exactly like runc. `create`/`run` read <bundle>/config.json,
# `exec` reads the --process file; those are trimmed in place, then runc runs.
# scripts/lab.sh installs this file as /var/lib/berth-lab/bin/berth-lab-runc.
set -euo pipefail

CAP_NAMES=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
  LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
  SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE
  SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP
  MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF
  CHECKPOINT_RESTORE)

real_runc=${BERTH_LAB_REAL_RUNC:-$(PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v runc)}

# Capabilities missing from our bounding set, as a JSON array of "CAP_..." names.
missing_caps() {
  local bnd i out=""
  bnd=$((16#$(awk '/^CapBnd:/ { print $2 }' /proc/self/status)))
  for i in "${!CAP_NAMES[@]}"; do
    if (((bnd >> i) & 1)); then continue; fi
    out+="${out:+,}\"CAP_${CAP_NAMES[$i]}\""
  done
  printf '[%s]' "$out"
}

# trim FILE JQ_PATH : remove the missing capabilities from every set under JQ_PATH.
trim() {
  local file=$1 path=$2 drop=$3 tmp
  [ -f "$file" ] || return 0
  tmp=$(mktemp "$file.XXXXXX")
  jq -c --argjson drop "$drop" \
    "if $path then $path |= with_entries(.value |= ((. // []) - \$drop)) else . end" \
    "$file" >"$tmp"
  chmod --reference="$file" "$tmp"
  mv -f "$tmp" "$file"
}

drop=$(missing_caps)
if [ "${1:-}" = --lab-missing-caps ]; then   # for scripts/lab.sh's messages
  if [ "$drop" = "[]" ]; then echo none; else echo "$drop" | tr -d '[]"' | tr ',' ' '; fi
  exit 0
fi
if [ "$drop" != "[]" ]; then
  command=""
  bundle=""
  process=""
  args=("$@")
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[$i]} in
      create | run | exec) [ -z "$command" ] && command=${args[$i]} ;;
      --bundle | -b) bundle=${args[$((i + 1))]:-} ;;
      --bundle=*) bundle=${args[$i]#--bundle=} ;;
      --process | -p) process=${args[$((i + 1))]:-} ;;
      --process=*) process=${args[$i]#--process=} ;;
    esac
  done
  case $command in
    create | run) trim "${bundle:-$PWD}/config.json" .process.capabilities "$drop" ;;
    exec) if [ -n "$process" ]; then trim "$process" .capabilities "$drop"; fi ;;
  esac
fi

exec "$real_runc" "$@"
