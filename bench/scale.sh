#!/usr/bin/env bash
# bench/scale.sh — the idle cost of the agent as the host grows (issue #12): healerd with all
# seven plugins (isolation = "thread": one process to measure, shipped intervals) while nothing
# is wrong, one dimension grown at a time, the others at their smallest:
#   processes  100 / 1 000 / 10 000 sleeping processes the bench spawns (build/tests/sleepers)
#   cgroups    10 / 100 / 1 000 v1 memory cgroups under its own parent, watched by memory through
#              one glob (memory/<parent>/cg*); for these rows the memory thread alone (hd-memory,
#              /proc/PID/task/TID/schedstat) is measured too, printed as a comment line
#   units      10 / 100 / 500 units in the isolated systemd root (tests/lib/systemd-root.sh),
#              watched by service (skipped with a message when the root is unavailable)
#   links      1 / 10 / 100 dummy links in a network namespace it creates (the agent runs in it)
#   mounts     1 / 10 / 50 tmpfs mounts in a mount namespace of its own, watched by disk
# "While healthy": this machine is shared and often saturated by others, which would put the cpu
# plugin in its sampling mode; so the agent sees a /proc/stat the bench writes (10 % busy, in the
# agent's own mount namespace; every other /proc file is real). REAL_STAT=1 uses the real one.
# For each: CPU % of one core (utime + stime from /proc/PID/stat over the window), RSS, PSS and
# private memory (smaps_rollup), threads. Then the hot per-process scan (bench_procscan). Prints
# a table, writes it to OUT/scale.dat and draws OUT/scale.png with gnuplot.
# Usage: bench/scale.sh [BUILD] [OUT]   (QUICK=1: fewer sizes, 10 s windows; WINDOW=S overrides;
#        WARM=S: seconds between the start and the window (10; the memory plugin's flat cgroups
#        reach their longest read period, leak_quiet_backoff, about 75 s after the start);
#        DIMS="cgroups units": only these dimensions, the chart drawn from them;
#        C_SIZES="1000": other cgroup counts; each row's CPU by thread goes to
#        OUT/scale_threads.txt)
# A full run (60 s windows, 15 rows) takes about 20 minutes; QUICK=1 about 3.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${2:-$SRC/docs}
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
  WINDOW=${WINDOW:-10}; WARM=${WARM:-3}
  P_SIZES="100 1000"; C_SIZES=${C_SIZES:-10 100}; U_SIZES="10 100"; L_SIZES="1 10"; M_SIZES="1 10"
else
  WINDOW=${WINDOW:-60}; WARM=${WARM:-10}
  P_SIZES="100 1000 10000"; C_SIZES=${C_SIZES:-10 100 1000}; U_SIZES="10 100 500"; L_SIZES="1 10 100"
  M_SIZES="1 10 50"
fi
DIMS=${DIMS:-processes cgroups units links mounts}
want() { case " $DIMS " in *" $1 "*) return 0 ;; esac; return 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (cgroups, namespaces, mounts)"; exit 77; }
. "$SRC/tests/lib/testtmp.sh"   # the loader refuses a plugin_dir below /tmp
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healerd-scale.XXXXXX")
chmod 755 "$T"
CGP="healer-scale-$$"
CGROOT=/sys/fs/cgroup/memory
AGENT=""; SLEEPERS=""; FEED=""; SYSROOT_UP=0
finish() {
  if [ -n "$FEED" ]; then kill -KILL "$FEED" 2>/dev/null || true; wait "$FEED" 2>/dev/null || true; fi
  if [ -n "$AGENT" ]; then kill -TERM "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true; fi
  if [ -n "$SLEEPERS" ]; then kill -KILL "$SLEEPERS" 2>/dev/null || true; wait "$SLEEPERS" 2>/dev/null || true; fi
  if [ -d "$CGROOT/$CGP" ]; then
    for d in "$CGROOT/$CGP"/cg*; do [ -d "$d" ] && rmdir "$d" 2>/dev/null || true; done
    rmdir "$CGROOT/$CGP" 2>/dev/null || true
  fi
  [ "$SYSROOT_UP" = 1 ] && sysroot_stop >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap finish EXIT

mkdir -p "$T/plugins" "$T/state" "$T/nix" "$T/mnt" "$T/logs" "$T/tmp"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"; chmod 600 "$T/token"
# The quiet /proc/stat: counters advancing at 10 % busy, written in place (the bind mount holds
# the inode).
cat /proc/stat >"$T/stat"
if [ "${REAL_STAT:-0}" != 1 ]; then
  ( busy=1000; total=10000
    while :; do
      busy=$((busy + 20)); total=$((total + 200))
      printf 'cpu  %d 0 0 %d 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\ncpu1 1 0 0 1 0 0 0 0 0 0\n' \
        "$busy" "$((total - busy))" >"$T/stat"
      sleep 1
    done ) &
  FEED=$!
fi
for p in cpu memory thermal disk nixconfig service network; do
  install -m 0755 "$BUILD/plugins/$p.so" "$T/plugins/"
done
echo '{ config, pkgs, ... }: { networking.hostName = "scale"; }' >"$T/nix/configuration.nix"
[ -d "$CGROOT" ] && mkdir -p "$CGROOT/$CGP"

# --- the isolated systemd root with 500 units (started once) ---
BUSADDR=""
if want units && [ -f "$SRC/tests/lib/systemd-root.sh" ]; then
  . "$SRC/tests/lib/systemd-root.sh"
  rc=0; sysroot_build >/dev/null 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    sysroot_prepare "$T/sysroot"
    d="$SYSROOT_DIR/root/etc/systemd/system"
    mkdir -p "$d/multi-user.target.wants"
    for i in $(seq 500); do
      printf '[Unit]\nDescription=scale %s\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true\n' \
        "$i" >"$d/scale-$i.service"
      ln -sf "../scale-$i.service" "$d/multi-user.target.wants/scale-$i.service"
    done
    if sysroot_start && sysroot_wait_running; then SYSROOT_UP=1; BUSADDR="unix:path=$SYSROOT_BUS"; fi
  fi
fi
! want units || [ -n "$BUSADDR" ] || echo "# units: SKIP, no isolated systemd root (tests/lib/systemd-root.sh)"

# conf PROCS CGROUPS UNITS: the agent's configuration (links and mounts are made by run)
conf() {
  local cgs="" units="" i svc
  # One glob, as an operator would write it for many cgroups (re-expanded every 30 s).
  [ -d "$CGROOT" ] && [ "$2" -gt 0 ] && cgs="\"memory/$CGP/cg*\""
  if [ -n "$BUSADDR" ]; then
    for i in $(seq "$3"); do units="$units${units:+, }\"scale-$i.service\""; done
    svc="service = { isolation = \"thread\"; bus_address = \"$BUSADDR\"; units = [$units]; };"
  else
    svc="service = { enabled = false; };"
  fi
  cat <<CONF
agent = { mode = "dry-run"; plugin_dir = "$T/plugins"; state_dir = "$T/state"; log_level = "warn"; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = {
  cpu = { isolation = "thread"; };
  memory = { isolation = "thread"; cgroups = [$cgs]; };
  thermal = { isolation = "thread"; };
  disk = { isolation = "thread"; mounts = ["$T/mnt/*"]; log_dirs = ["$T/logs"]; tmp_dirs = ["$T/tmp"];
           journal_dirs = []; preview_nix = false; };
  nixconfig = { isolation = "thread"; config_file = "$T/nix/configuration.nix"; eval = false;
                rollback = false; status_file = ""; backup_dir = "$T/nix/backups";
                state_file = "$T/nix/generations"; };
  network = { isolation = "thread"; };
  $svc
};
CONF
}

hz=$(getconf CLK_TCK)
# "TID NAME TICKS" for each of the agent's threads, sorted for join
threads_ticks() {
  local t
  for t in /proc/"$AGENT"/task/*; do
    echo "${t##*/} $(tr ' ' _ <"$t/comm" 2>/dev/null) $(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"
  done | sort
}
ROWS=()
printf '%-10s %7s %10s %9s %9s %9s %8s\n' dimension size "cpu_%core" "rss_MiB" "pss_MiB" "priv_MiB" threads
: >"$T/scale.dat"
: >"$T/scale_threads.txt"
# run DIMENSION SIZE PROCS CGROUPS UNITS LINKS MOUNTS
run() {
  local dim=$1 size=$2 procs=$3 ncg=$4 nun=$5 nlinks=$6 nmounts=$7 i
  if [ "$ncg" -gt 0 ] && [ -d "$CGROOT" ]; then
    for i in $(seq "$ncg"); do mkdir -p "$CGROOT/$CGP/cg$i"; done
  fi
  if [ "$procs" -gt 0 ]; then
    "$BUILD/tests/sleepers" "$procs" >"$T/sleepers.out" &
    SLEEPERS=$!
    for i in $(seq 600); do grep -q '^ready' "$T/sleepers.out" && break; sleep 0.1; done
  fi
  conf "$procs" "$ncg" "$nun" >"$T/healerd.conf"
  mkdir -p "$T/mnt"
  # A network and a mount namespace of the agent's own: links and tmpfs mounts vanish with it.
  unshare -n -m --propagation private sh -c '
    ip link set lo up
    i=1; while [ "$i" -le "$1" ]; do ip link add "scale$i" type dummy && ip link set "scale$i" up; i=$((i+1)); done
    [ "$4" = 1 ] || mount --bind "$3/stat" /proc/stat
    i=1; while [ "$i" -le "$2" ]; do mkdir -p "$3/mnt/m$i" && mount -t tmpfs -o size=1m tmpfs "$3/mnt/m$i"; i=$((i+1)); done
    shift 4; exec "$@"' sh "$nlinks" "$nmounts" "$T" "${REAL_STAT:-0}" "$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/agent.log" &
  AGENT=$!
  for i in $(seq 200); do grep -q 'http: listening' "$T/agent.log" && break; sleep 0.05; done
  sleep "$WARM"
  local t0 t1 s0 s1 rss pss priv th mtid="" m0=0 m1=0 mt
  # The memory plugin's own thread, for the cgroups rows: CPU ns from schedstat (tick-free).
  for mt in /proc/"$AGENT"/task/*; do
    [ "$(cat "$mt/comm" 2>/dev/null)" = hd-memory ] && { mtid=${mt##*/}; break; }
  done
  threads_ticks >"$T/th0"
  t0=$(awk '{print $14 + $15}' "/proc/$AGENT/stat"); s0=$(date +%s.%N)
  [ -n "$mtid" ] && m0=$(awk '{print $1}' "/proc/$AGENT/task/$mtid/schedstat" 2>/dev/null || echo 0)
  sleep "$WINDOW"
  t1=$(awk '{print $14 + $15}' "/proc/$AGENT/stat"); s1=$(date +%s.%N)
  [ -n "$mtid" ] && m1=$(awk '{print $1}' "/proc/$AGENT/task/$mtid/schedstat" 2>/dev/null || echo 0)
  threads_ticks >"$T/th1"
  { printf '%s %s:' "$dim" "$size"
    join "$T/th0" "$T/th1" | awk -v hz="$hz" -v w="$WINDOW" '$5 > $3 {
      printf " %s %.3f", $2, 100 * ($5 - $3) / hz / w }'
    echo; } >>"$T/scale_threads.txt"
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT/status")
  th=$(awk '/^Threads/ {print $2}' "/proc/$AGENT/status")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$AGENT/smaps_rollup")
  priv=$(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$AGENT/smaps_rollup")
  grep -E '^(error|warn)' "$T/agent.log" | head -3 | sed 's/^/#   /' >&2 || true
  kill -TERM "$AGENT"; wait "$AGENT" 2>/dev/null || true; AGENT=""
  if [ -n "$SLEEPERS" ]; then kill -KILL "$SLEEPERS"; wait "$SLEEPERS" 2>/dev/null || true; SLEEPERS=""; fi
  # The next row's glob must match only its own cgroups.
  for i in $(seq "$ncg"); do rmdir "$CGROOT/$CGP/cg$i" 2>/dev/null || true; done
  awk -v d="$dim" -v n="$size" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" \
      -v rss="$rss" -v pss="$pss" -v priv="$priv" -v th="$th" 'BEGIN {
    printf "%-10s %7d %10.3f %9.1f %9.1f %9.1f %8d\n", d, n, 100 * (t1 - t0) / hz / (s1 - s0),
           rss / 1024, pss / 1024, priv / 1024, th }' | tee -a "$T/scale.dat"
  if [ "$dim" = cgroups ] && [ -n "$mtid" ]; then
    # detect() runs every second (the plugin's interval): ms per second = ms per interval.
    awk -v n="$size" -v m0="$m0" -v m1="$m1" -v s0="$s0" -v s1="$s1" 'BEGIN {
      printf "#   cgroups %d: thread hd-memory %.3f %% of a core (%.3f ms of CPU per 1 s interval)\n",
             n, 100 * (m1 - m0) / 1e9 / (s1 - s0), (m1 - m0) / 1e6 / (s1 - s0) }'
  fi
}

if want processes; then for n in $P_SIZES; do run processes "$n" "$n" 10 10 1 1; done; fi
if ! want cgroups; then :
elif [ -d "$CGROOT" ]; then
  for n in $C_SIZES; do run cgroups "$n" 0 "$n" 10 1 1; done
else
  echo "# cgroups: SKIP, no v1 memory hierarchy at $CGROOT"
fi
if want units && [ -n "$BUSADDR" ]; then for n in $U_SIZES; do run units "$n" 0 10 "$n" 1 1; done; fi
if want links; then for n in $L_SIZES; do run links "$n" 0 10 10 "$n" 1; done; fi
if want mounts; then for n in $M_SIZES; do run mounts "$n" 0 10 10 1 "$n"; done; fi

# --- hot: the cpu plugin's per-process scan once utilization reached its watch level ---
if want processes && [ -x "$BUILD/bench/bench_procscan" ]; then
  echo "# hot per-process scan (the cpu plugin's scanner once utilization reached watch_percent; build/bench/bench_procscan):"
  "$BUILD/bench/bench_procscan" "$([ "$QUICK" = 1 ] && echo 5 || echo 20)" 2>&1 | grep -E 'kept open' | sed 's/^/#   /' | tee "$T/hot.txt" ||
    echo "#   (the hot scan bench failed or was interrupted)"   # the table and chart still follow
fi

mkdir -p "$OUT"
cp "$T/scale.dat" "$OUT/scale.dat"
cp "$T/scale_threads.txt" "$OUT/scale_threads.txt"
if command -v gnuplot >/dev/null; then
  gnuplot <<GP
set terminal pngcairo size 1000,520 noenhanced font ",10"
set output "$OUT/scale.png"
set multiplot layout 1,2 title "healerd idle with all seven plugins, by host size (window ${WINDOW} s)"
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.8
set xtics rotate by -45 scale 0
set grid ytics
set key top left
set title "CPU, % of one core (target 0.1)"
set yrange [0:*]
plot "$OUT/scale.dat" using 3:xtic(sprintf("%s %d", stringcolumn(1), column(2))) title "cpu %" lc rgb "#3366aa", \
     0.1 with lines lw 2 lc rgb "#cc3333" title "target"
set title "memory, MiB (target: RSS 16)"
plot "$OUT/scale.dat" using 4:xtic(sprintf("%s %d", stringcolumn(1), column(2))) title "RSS" lc rgb "#3366aa", \
     "" using 5 title "PSS" lc rgb "#66aa33", "" using 6 title "private" lc rgb "#aa6633", \
     16 with lines lw 2 lc rgb "#cc3333" title "target"
unset multiplot
GP
  echo "# chart: $OUT/scale.png; data: $OUT/scale.dat"
else
  echo "# no gnuplot (scripts/install-deps.sh installs gnuplot-nox): no chart"
fi
