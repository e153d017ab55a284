# shellcheck shell=bash
# Paths, logging, step timing and small helpers shared by every lab step.

LAB_DIR=${BERTH_LAB_DIR:-/var/lib/berth-lab}            # data: keys, CA, registries, host engines
LAB_RUN=${BERTH_LAB_RUN:-/run/berth-lab}                # runtime: lab.json, pid files, namespace files
LAB_CACHE=${BERTH_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth/lab}  # built artefacts, by version
LAB_JSON=$LAB_RUN/lab.json
LAB_NS_DIR=$LAB_RUN/ns                                   # persistent mount-namespace files, one per host
LAB_PIDS=$LAB_RUN/pids
LAB_LOGS=$LAB_DIR/logs
LAB_IPT_CHAIN=BERTH-LAB

CURRENT_STEP=setup
STEP_CHANGED=0
CHANGED_STEPS=0
TOTAL_STEPS=0

now() { printf '%s' "$EPOCHREALTIME"; }

# seconds since $1 (an EPOCHREALTIME value), two decimals
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

die() {
  printf 'lab: FAILED in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 1
}

# A missing capability: say what is missing, in which step, and stop.
missing() {
  printf 'lab: MISSING CAPABILITY in step "%s": %s\n' "$CURRENT_STEP" "$*" >&2
  exit 2
}

note() { printf '    %s\n' "$*"; }

# Mark the current step as having changed something, with what it did.
changed() {
  STEP_CHANGED=1
  if [ $# -gt 0 ]; then note "$*"; fi
}

# run_step NAME DESCRIPTION FUNCTION [ARGS...]
# Prints what the step does, runs it, and prints whether it changed anything and its timing.
run_step() {
  local name=$1 desc=$2
  shift 2
  local t0
  t0=$(now)
  CURRENT_STEP=$name
  STEP_CHANGED=0
  TOTAL_STEPS=$((TOTAL_STEPS + 1))
  printf '==> %-14s %s\n' "$name" "$desc"
  "$@"
  if ((STEP_CHANGED)); then
    CHANGED_STEPS=$((CHANGED_STEPS + 1))
    printf '    %-14s changed (%ss)\n' "$name" "$(since "$t0")"
  else
    printf '    %-14s already in place (%ss)\n' "$name" "$(since "$t0")"
  fi
}

# wait_for SECONDS WHAT COMMAND... : poll COMMAND every 0.2 s until it succeeds.
wait_for() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  WAIT_ABORT=0
  until "$@"; do
    if ((SECONDS >= deadline || WAIT_ABORT)); then
      return 1
    fi
    sleep 0.2
  done
}

# pid_alive PIDFILE COMM : the pid in PIDFILE is running and its command name is COMM.
pid_alive() {
  local file=$1 comm=$2 pid
  [ -s "$file" ] || return 1
  pid=$(head -n1 "$file" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  proc_running "$pid" || return 1
  local actual
  { read -r actual <"/proc/$pid/comm"; } 2>/dev/null || return 1
  [ "$actual" = "$comm" ]
}

# proc_running PID : the process exists and is not a zombie (a dead process whose parent,
# often init here, has not reaped it yet).
proc_running() {
  local stat state
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  state=${stat##*) }
  [ "${state%% *}" != Z ]
}

# stop_pidfile PIDFILE COMM [GRACE_SECONDS] : TERM the process, KILL it after the grace time.
# Returns 0 if it was running.
stop_pidfile() {
  local file=$1 comm=$2 grace=${3:-10} pid
  if ! pid_alive "$file" "$comm"; then
    rm -f "$file"
    return 1
  fi
  pid=$(head -n1 "$file")
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while proc_running "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if proc_running "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$file"
  return 0
}

# Start a long-running foreground program detached from this shell, output to LOG,
# and record its pid in PIDFILE. setsid runs it in its own session.
spawn() {
  local pidfile=$1 log=$2
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")"
  setsid "$@" >>"$log" 2>&1 </dev/null 9>&- &
  echo $! >"$pidfile"
}

# port_open ADDRESS PORT : something accepts TCP connections there.
port_open() { timeout 2 bash -c ": </dev/tcp/$1/$2" 2>/dev/null; }

docker_answers() { timeout 10 docker -H "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# For wait_for: succeed when the engine answers; stop waiting (exit the loop with a
# failure) as soon as the process that should serve it has died.
alive_and_answering() {
  local pid=$1 engine=$2
  if docker_answers "$engine"; then
    return 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    WAIT_ABORT=1
  fi
  return 1
}

host_name() { printf 'berth-h%s' "$1"; }
host_addr() { printf '10.77.0.%s' $((10 + $1)); }
host_dir() { printf '%s/hosts/%s' "$LAB_DIR" "$(host_name "$1")"; }
host_veth() { printf 'vb-%s' "$(host_name "$1")"; }

# Hosts whose network namespace exists, as numbers, ascending; not the fault host
# ($LAB_FAULT_HOST, which is always up and never one of lab.json's `hosts`).
existing_hosts() {
  local f
  for f in /run/netns/berth-h*; do
    [ -e "$f" ] || continue
    [ "${f##*/berth-h}" = "$LAB_FAULT_HOST" ] && continue
    [ "${f##*/berth-h}" = "${BARE_HOST_K:-}" ] && continue
    printf '%s\n' "${f##*/berth-h}"
  done | sort -n
}

# lab_host_numbers N: the hosts `up` keeps: 1..N, then the fault host when N is below it.
lab_host_numbers() {
  local k
  for ((k = 1; k <= $1; k++)); do printf '%s\n' "$k"; done
  if ((LAB_FAULT_HOST > $1)); then printf '%s\n' "$LAB_FAULT_HOST"; fi
}

# Take the lab lock so two lab commands never interleave. The lock is fd 9: every
# long-running process the lab starts gets `9>&-`, or it would hold the lock forever.
lab_lock() {
  mkdir -p "$LAB_RUN"
  exec 9>"$LAB_RUN/.lock"
  if ! flock -w 900 9; then
    die "another lab command holds $LAB_RUN/.lock for more than 15 minutes"
  fi
}
