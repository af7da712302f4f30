# tests/plugins/cpu_lib.sh — shared by the cpu plugin's real-agent tests: a cgroup of their own
# (cgroup2 at /sys/fs/cgroup/unified), busy processes started in it under chosen uids and
# names, and clean-up of exactly those processes and that cgroup. Source after agent.sh.
CG_NAME="healer-cpu-test-$$"
CG="/sys/fs/cgroup/unified/$CG_NAME"
CPU_PIDS=()
BURN="$BUILD/tests/cpu_burn"

cpu_cleanup() {
  local p
  if [ -n "${CPU_FEED_PID:-}" ]; then kill -KILL "$CPU_FEED_PID" 2>/dev/null || true; wait "$CPU_FEED_PID" 2>/dev/null || true; fi
  for p in "${CPU_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
  for p in "${CPU_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -d "$CG" ]; then
    for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  fi
  cleanup
}
trap cpu_cleanup EXIT

cpu_setup() {
  [ -d /sys/fs/cgroup/unified ] || { echo "1..0 # SKIP no cgroup2 at /sys/fs/cgroup/unified"; exit 0; }
  mkdir "$CG"
  mkdir -p "$T/bin"
  chmod 755 "$T/bin"
}

# start_burner NAME UID PERCENT: a copy of cpu_burn named NAME (its comm) in the test's cgroup,
# running as UID; its pid is appended to CPU_PIDS (callers read ${CPU_PIDS[-1]}). The shell
# moves itself into the cgroup before it becomes the burner, so the burner never runs outside.
start_burner() {
  local name=$1 uid=$2 pct=$3
  [ -x "$T/bin/$name" ] || install -m 0755 "$BURN" "$T/bin/$name"
  sh -c 'echo $$ >"$1/cgroup.procs" && exec setpriv --reuid="$2" --regid="$2" --clear-groups "$3" "$4"' \
    sh "$CG" "$uid" "$T/bin/$name" "$pct" &
  CPU_PIDS+=($!)
}

# Wait until pid is the burner (exec done) so nice and comm are read from the right image.
wait_comm() {
  local pid=$1 name=$2
  for _ in $(seq 100); do
    [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$name" ] && return 0
    sleep 0.05
  done
  return 1
}

nice_of() { awk '{print $19}' "/proc/$1/stat" 2>/dev/null; }
state_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }
alive() { local s; s=$(state_of "$1"); [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; }
gone() { ! alive "$1"; }
in_cgroup() { grep -q "^$1\$" "$CG/cgroup.procs"; }

# The /proc/stat the agent sees (cpu_fake_stat "COMM:PERCENT ..."): utilization is system-wide and
# this machine is shared, so someone else's load would decide the verdicts. The agent runs in a
# mount namespace of the test's own (start it with HEALERD=$CPU_HEALERD_NS) where /proc/stat is a
# file written from what the test's burners do: each running (not stopped, not zombie) process
# in the test's cgroup whose comm is listed counts its PERCENT of one core, summed up to the 2
# cores the file describes, plus a little background. /proc/PID, renice and signals stay real.
# Fixed-width counters written over the same bytes (1<>, never truncated), 10 times a second,
# built-ins only and at nice -10, so the counters advance on time on a saturated machine.
CPU_FAKE_STAT="$T/stat"
CPU_FEED_PID=""
CPU_HEALERD_NS="$T/healerd-ns"
# cpu_busy COMM:PERCENT...: NBUSY = the listed burners running in the test's cgroup (count),
# BUSY_PCT = their summed percent
cpu_busy() {
  local pid st comm line spec n=0 pct=0
  while read -r pid; do
    line=""
    read -r line <"/proc/$pid/stat" 2>/dev/null || true
    comm=${line#*\(}; comm=${comm%\)*}
    st=${line##*) }; st=${st%% *}
    case "$st" in ''|T|t|Z|X) continue ;; esac
    for spec in "$@"; do
      if [ "${spec%%:*}" = "$comm" ]; then
        n=$((n + 1))
        case "$spec" in *:*) pct=$((pct + ${spec#*:})) ;; *) pct=$((pct + 100)) ;; esac
      fi
    done
  done <"$CG/cgroup.procs"
  NBUSY=$n
  BUSY_PCT=$pct
}
cpu_write_stat() { # BUSY TOTAL (ticks of the whole machine)
  local b=$1 t=$2 h=$(( $1 / 2 )) i=$(( ($2 - $1) / 2 ))
  printf 'cpu  %016d 0 0 %016d 0 0 0 0 0 0\ncpu0 %016d 0 0 %016d 0 0 0 0 0 0\ncpu1 %016d 0 0 %016d 0 0 0 0 0 0\n' \
    "$b" $(( t - b )) "$h" "$i" "$h" "$i" 1<>"$CPU_FAKE_STAT"
}
cpu_feed() {
  local busy=100 total=2000 p tick
  mkfifo "$T/tick"; exec {tick}<>"$T/tick"   # read -t on it: a sleep without a fork
  while :; do
    cpu_busy "$@"; p=$BUSY_PCT
    [ "$p" -le 200 ] || p=200
    busy=$(( busy + p / 10 + 1 )); total=$(( total + 20 ))
    cpu_write_stat "$busy" "$total"
    read -r -t 0.1 -u "$tick" _ || true
  done
}
cpu_fake_stat() {
  command -v unshare >/dev/null || { echo "1..0 # SKIP unshare is not installed"; exit 77; }
  cpu_write_stat 100 2000
  cpu_feed "$@" &
  CPU_FEED_PID=$!
  renice -n -10 -p "$CPU_FEED_PID" >/dev/null
  cat >"$CPU_HEALERD_NS" <<WRAP
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind "\$0" /proc/stat && exec "\$@"' "$CPU_FAKE_STAT" "$BUILD/bin/healerd" "\$@"
WRAP
  chmod 755 "$CPU_HEALERD_NS"
}
