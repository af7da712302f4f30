#!/usr/bin/env bash
# bench/memory_emergency.sh — the system-wide emergency path on the default configuration
# (emergency_available_percent = 10), side by side with earlyoom 1.7 on its defaults: a hog that
# grows as fast as this machine faults pages in (memory_fast_hog, transparent huge pages),
# latency from MemAvailable crossing 10 % of MemTotal to the hog receiving SIGTERM. Both ends
# are timed inside the hog on CLOCK_MONOTONIC: a 1 ms sampler thread notes the crossing, the
# SIGTERM handler notes the signal. Numbers, not pass/fail.
#
# Only the bench's own processes can ever be killed:
# - a ballast (memory_fast_hog holding memory, outside every scope) takes MemAvailable down to
#   START_PCT once, so each run's hog only has the last START_PCT - 10 points to eat;
# - healerd runs with only the memory plugin, scope.cgroup = a memory cgroup of the bench's own
#   holding nothing but the hog, and scope.uids = a uid of its own (the hog runs as it);
# - earlyoom runs in real kill mode only inside a private PID namespace (unshare --pid --fork
#   --kill-child --mount-proc) that holds itself, the namespace's init (sh) and the hog: it can
#   neither see nor signal anything else (as bench/memory_fault.sh does);
# - the hog stops growing at FLOOR_PCT (4 %, under earlyoom's SIGKILL level and far above the
#   kernel's OOM killer), exits by itself HOLD_S after that, and asks the kernel's OOM killer to
#   take it first (oom_score_adj 1000); the trap kills everything the bench started.
# ISOLATION picks how the memory plugin runs: "process" (its confined child, the default) or
# "thread" (in the agent); "both" runs healerd once with each. EARLYOOM=0 skips earlyoom.
# usage: BUILD=build bench/memory_emergency.sh   (as root; RUNS=10 START_PCT=40 COOLDOWN=0
#        ISOLATION=process EARLYOOM=1)
set -euo pipefail
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
RUNS=${RUNS:-10}
START_PCT=${START_PCT:-40}
FLOOR_PCT=4
HOLD_S=20
CROSS=10   # emergency_available_percent's default, and earlyoom's -m default
COOLDOWN=${COOLDOWN:-0}
PAGES=${PAGES:-huge}
ISOLATION=${ISOLATION:-process}
MEMORY_KEYS=${MEMORY_KEYS:-}   # more keys for plugins.memory, e.g. 'cpu_max_percent = 0;' 
EARLYOOM=${EARLYOOM:-1}
case $ISOLATION in process|thread) MODES=$ISOLATION ;; both) MODES="process thread" ;;
  *) echo "ISOLATION must be process, thread or both"; exit 2 ;; esac
TUID=$(( 62000 + $$ % 1000 ))
. "$(dirname "$0")/../tests/lib/testtmp.sh"   # the loader refuses a plugin_dir below /tmp
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healerd-emerg.XXXXXX")
chmod 755 "$T"
CGNAME=healer-mem-emerg-$$
CG=/sys/fs/cgroup/memory/$CGNAME
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -d "$CG" ] && for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  rm -rf "$T" "${P:-}"
}
trap cleanup EXIT
[ "$EARLYOOM" = 0 ] || command -v earlyoom >/dev/null || { echo "earlyoom not installed (scripts/install-deps.sh)"; exit 1; }
[ -w /sys/fs/cgroup/memory ] || { echo "needs root and the v1 memory controller"; exit 1; }
install -m 0755 "$BUILD/tests/memory_fast_hog" "$T/memory_fast_hog"
# The plugin folder stays root-only: $T is handed to the hog's uid below.
P=$(mktemp -d "$TESTTMP/healerd-emerg-plugins.XXXXXX")
chmod 755 "$P"
install -m 0755 "$BUILD/plugins/memory.so" "$P/"
mkdir "$CG"
chown "$TUID" "$T"

memavail_pct() { awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {printf "%.1f", 100*a/t}' /proc/meminfo; }
memavail_kb() { sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
# This VM reports freed pages to its host for a few seconds after a process dies (free page
# reporting), and meanwhile they are missing from MemAvailable: wait until it holds still.
settle_mem() {
  local a b
  sleep 1; a=$(memavail_kb)
  for _ in $(seq 15); do
    sleep 1; b=$(memavail_kb)
    [ $(( a > b ? a - b : b - a )) -le 16384 ] && return 0
    a=$b
  done
}
gone() { ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" | cut -c1)" = Z ]; }

echo "# $(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, swap $(awk '/^SwapTotal:/ {print $2}' /proc/meminfo) kB; MemAvailable $(memavail_pct) %"
# The ballast: once, down to START_PCT available.
"$T/memory_fast_hog" "$T/ballast.out" 0.001 "$START_PCT" 1048576 100000 huge &
BALLAST=$!
PIDS+=("$BALLAST")
until grep -q "^grown" "$T/ballast.out" 2>/dev/null; do
  gone "$BALLAST" && { echo "ballast died"; exit 1; }
  sleep 0.2
done
echo "# ballast: $(cat "$T/ballast.out"); MemAvailable now $(memavail_pct) %"

# run_hog OUT: the hog as $TUID in the bench's cgroup; its pid in HOG.
run_hog() {
  ( echo "$BASHPID" >"$CG/cgroup.procs"
    exec setpriv --reuid=$TUID --regid=$TUID --clear-groups "$T/memory_fast_hog" "$1" "$CROSS" \
      "$FLOOR_PCT" 1048576 "$HOLD_S" "$PAGES" ) &
  HOG=$!
  PIDS+=("$HOG")
}
# result OUT: "latency_ms rate_mib_s" or "- rate" when no SIGTERM arrived.
result() {
  awk '/^cross/ {c=$2; r=$4} /^term/ {t=$2}
       END { if (c && t) printf "%.1f %s\n", (t-c)/1e6, r; else printf "- %s\n", r ? r : "-" }' "$1"
}
stats() { # NAME FILE: p50/p90/p99/max of the latencies in FILE (nearest rank)
  sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
    if (!NR) { printf "%-30s no samples\n", name; exit }
    split("50 90 99", q, " ");
    for (i = 1; i <= 3; i++) { k = int((q[i] * NR + 99) / 100); if (k < 1) k = 1; p[i] = v[k] }
    printf "%-30s n=%d  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n", name, NR, p[1], p[2], p[3], v[NR] }'
}

# ---- healerd: one agent per isolation mode, only the memory plugin, defaults but the scope ----
for iso in $MODES; do
mkdir -p "$T/hd-$iso"
cat >"$T/hd-$iso/healerd.conf" <<CONF
agent = { mode = "live"; plugin_dir = "$P"; state_dir = "$T/hd-$iso"; log_level = "info"; };
limits = { max_heals_per_hour = 1000; cooldown_minutes = $COOLDOWN; };
http = { listen = "127.0.0.1:0"; };
scope = { cgroup = "/$CGNAME"; uids = [$TUID]; };
protect = { names = ["sshd", "healerd"]; min_uid = 1000; };
plugins = { memory = { isolation = "$iso"; $MEMORY_KEYS }; };
CONF
"$BUILD/bin/healerd" -c "$T/hd-$iso/healerd.conf" 2>"$T/hd-$iso/agent.log" &
AGENT=$!
PIDS+=("$AGENT")
for _ in $(seq 100); do grep -q "running (pid" "$T/hd-$iso/agent.log" && break; sleep 0.05; done
: >"$T/hd-$iso.lat"
for r in $(seq "$RUNS"); do
  settle_mem
  out="$T/hd-$iso.$r.out"
  start=$(memavail_pct)
  run_hog "$out"
  end=$(( $(date +%s) + 60 ))
  while ! gone "$HOG" && [ "$(date +%s)" -le "$end" ]; do sleep 0.05; done
  kill -KILL "$HOG" 2>/dev/null || true; wait "$HOG" 2>/dev/null || true
  read -r lat rate < <(result "$out")
  [ "$lat" != - ] && echo "$lat" >>"$T/hd-$iso.lat"
  printf "healerd (%s) run %2d: from %s %% available, hog %5s MiB/s, crossing -> SIGTERM %7s ms\n" "$iso" "$r" "$start" "$rate" "$lat"
done
# The child's CPU quota (plugins.memory.cpu_max_percent): how often the kernel throttled it.
cg=$(find /sys/fs/cgroup/cpu/ -maxdepth 4 -name "healerd-plugin.$AGENT.memory" 2>/dev/null | head -n1)
[ -n "$cg" ] && [ -r "$cg/cpu.stat" ] && echo "# the child's cpu.stat: $(tr '\n' ' ' <"$cg/cpu.stat")"
kill -TERM "$AGENT"; wait "$AGENT" || true
victims=$(grep '"actuator":"signal"' "$T/hd-$iso/audit.jsonl" 2>/dev/null | grep '"result":"ok"' | grep -o '"name":"[^"]*"' | sort | uniq -c | tr -s ' ' | tr '\n' ';' || true)
echo "# healerd ($iso) signalled: ${victims:-nothing}"
{ grep -c "fast sampler" "$T/hd-$iso/agent.log" || true; } | sed 's/^/# emergencies published by the fast sampler: /'
done

# ---- earlyoom: defaults (-m 10 -s 100 on this swapless machine), in a private PID namespace ----
UNSHARE=(unshare --pid --fork --kill-child --mount-proc)
cat >"$T/eo_ns.sh" <<'NS'
# pid 1 of a private PID namespace: earlyoom in real kill mode and the hog, nothing else.
set -u
dir=$1 cg=$2 hog=$3 uid=$4 cross=$5 floor=$6 hold=$7 pages=$8 out=$9
[ "$$" = 1 ] || exit 90
[ "$(ls /proc | grep -c '^[0-9][0-9]*$')" -le 8 ] || exit 91
earlyoom -m 10 -s 100 -r 3600 --avoid '^(sh|earlyoom)$' --prefer '^memory_fast_hog$' >"$dir/earlyoom.log" 2>&1 &
i=0
until grep -q 'SIGKILL when' "$dir/earlyoom.log" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -le 100 ] || exit 92; sleep 0.05
done
sh -c 'echo $$ >"$1/cgroup.procs" && exec setpriv --reuid="$2" --regid="$2" --clear-groups "$3" "$4" "$5" "$6" 1048576 "$7" "$8"' \
  sh "$cg" "$uid" "$hog" "$out" "$cross" "$floor" "$hold" "$pages" &
wait $!
exit 0
NS
: >"$T/eo.lat"
for r in $(seq "$RUNS"); do
  [ "$EARLYOOM" = 0 ] && break
  settle_mem
  out="$T/eo.$r.out"; d="$T/eo$r"; mkdir -p "$d"; chmod 755 "$d"
  start=$(memavail_pct)
  "${UNSHARE[@]}" sh "$T/eo_ns.sh" "$d" "$CG" "$T/memory_fast_hog" "$TUID" "$CROSS" "$FLOOR_PCT" "$HOLD_S" "$PAGES" "$out" 2>"$d/ns.err" &
  ns=$!
  PIDS+=("$ns")
  end=$(( $(date +%s) + 60 ))
  while ! gone "$ns" && [ "$(date +%s)" -le "$end" ]; do sleep 0.05; done
  rc=0; if gone "$ns"; then wait "$ns" || rc=$?; else kill -KILL "$ns"; wait "$ns" 2>/dev/null || true; rc=124; fi
  if [ "$rc" -ge 90 ] && [ "$rc" -le 92 ]; then echo "earlyoom: the PID namespace check failed ($rc): not run"; break; fi
  read -r lat rate < <(result "$out")
  [ "$lat" != - ] && echo "$lat" >>"$T/eo.lat"
  victim=$(grep -m1 -o 'SIGTERM to process [0-9]* uid [0-9]* "[^"]*"' "$d/earlyoom.log" || echo none)
  printf "earlyoom run %2d: from %s %% available, hog %5s MiB/s, crossing -> SIGTERM %7s ms (%s)\n" "$r" "$start" "$rate" "$lat" "$victim"
done

echo "# latency from MemAvailable <= $CROSS % to SIGTERM in the hog (cooldown_minutes = $COOLDOWN)"
for iso in $MODES; do stats "healerd (memory, $iso)" "$T/hd-$iso.lat"; done
[ "$EARLYOOM" = 0 ] || stats "earlyoom 1.7" "$T/eo.lat"
