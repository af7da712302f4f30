#!/usr/bin/env bash
# bench/soak.sh — the whole agent's memory over a week of steady issues (issue #12, item 3).
# A real healerd (live, the soak plugin in a healerd-plugin child: engine, governor, holds,
# heal loops, relapse marks, bus, proxy, audit, knowledge writer, metrics, HTTP all in play)
# with K targets that each have one issue a minute for DAYS days = 1 440 x DAYS x K heals.
# The agent runs on a wall clock sped up SPEED times (bench/soak_clock.c, an LD_PRELOAD for the
# agent and its child; monotonic time, sleeps and timeouts stay real), so the governor's hour,
# the loop window and the relapse window pass as they would in a week, and the week takes minutes. Two patterns:
#   recurring  the same K targets again and again
#   fresh      every issue on a new target name (t-000001, ...): per-target state that is never
#              forgotten grows here (cooldowns, loop history, relapse marks, label sets, issues)
# Every 10 % of the heals: RSS, Private_Dirty (smaps_rollup), open fds, threads, /metrics bytes,
# knowledge.db size (with its WAL), the child's RSS; then the slope after the first 10 % as KiB
# per 10 000 heals (least squares).
# Usage: bench/soak.sh [BUILD]   env: K=20 DAYS=7 SPEED=2400 INTERVAL=0.025 PATTERNS="recurring fresh"
#        MAX_S=1800 (real seconds per pattern at most)
#        LOOP_WINDOW=60 (limits.loop_window_minutes; 10080 keeps a week of heals: LOOPS_CAP's case)
#        VALGRIND=1: instead, a short run (K=5, 2 simulated hours) under valgrind --leak-check
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
K=${K:-20}; DAYS=${DAYS:-7}; SPEED=${SPEED:-2400}; PATTERNS=${PATTERNS:-recurring fresh}
VALGRIND=${VALGRIND:-0}; ISO=${ISO:-process}; INTERVAL=${INTERVAL:-0.025}
MAX_S=${MAX_S:-1800}           # real seconds per pattern at most
LOOP_WINDOW=${LOOP_WINDOW:-60}  # minutes: the loop history keeps this long (LOOPS_CAP bounds it)
if [ "$VALGRIND" = 1 ]; then K=${VG_K:-5}; DAYS=${VG_DAYS:-0.0834}; SPEED=${VG_SPEED:-60}; fi
for b in bin/healerd bin/healerd-plugin bench/plugins/soak.so bench/plugins/soak_clock.so; do
  [ -e "$BUILD/$b" ] || { echo "soak: $BUILD/$b missing (cmake --build $BUILD)"; exit 2; }
done
. "$SRC/tests/lib/testtmp.sh"   # the loader refuses a plugin_dir below /tmp
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healerd-soak.XXXXXX")
chmod 755 "$T"
# State on tmpfs: knowledge.db is synchronous = FULL and the governor's commit is synchronous
# before each live heal, so on this machine's disk a heal waits for a few fsyncs (~60 heals/s);
# the agent's memory is the same either way. STATE_DIR_PARENT=DIR keeps it on a disk.
S=$(mktemp -d "${STATE_DIR_PARENT:-/dev/shm}/healerd-soak.XXXXXX")
chmod 700 "$S"
AGENT=""
finish() {
  if [ -n "$AGENT" ]; then kill -TERM "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true; fi
  rm -rf "$T" "$S"
}
trap finish EXIT
trap "exit 1" INT TERM   # so that the EXIT trap cleans up on a signal too
mkdir -p -m 0755 "$T/plugins"
install -m 0755 "$BUILD/bench/plugins/soak.so" "$T/plugins/"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"; chmod 600 "$T/token"
NS=soak
TOTAL=$(awk -v k="$K" -v d="$DAYS" 'BEGIN { printf "%d", 1440 * d * k }')

# Our own process only: the agent's RSS etc. by pid; the child is the agent's child.
kib() { awk -v k="$2" '$1 == k":" { print $2; exit }' "$1" 2>/dev/null || echo 0; }
child_of() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -m1 . || true; }
metrics_text() { curl -s --max-time 10 "http://127.0.0.1:$PORT/metrics"; }
healed_of() { awk -v n="${NS}_healing_successes_total" 'index($0, n "{") == 1 { s += $NF } END { printf "%d", s }'; }

run_pattern() { # run_pattern NAME FRESH
  local name=$1 fresh=$2 st="$S/state-$1"
  mkdir -p -m 0700 "$st"
  cat >"$T/healerd.conf" <<CONF
agent = { mode = "live"; interval = 1.0; plugin_dir = "$T/plugins"; state_dir = "$st";
          log_level = "warn"; action_timeout = 30.0; };
# Heals must really happen, every minute on every target: no cooldown, no health floor, an
# hourly limit far above the K x 60 a simulated hour brings; the loop rule on (default 60-minute
# window) but at 1 000 heals, above the 60 a target gets in an hour; relapse marks at the
# default 300 s, so every heal is marked relapsed by the next issue a minute later.
limits = { max_heals_per_hour = 100000; cooldown_minutes = 0; min_health_for_auto = 0;
           loop_heals = 1000; loop_window_minutes = $LOOP_WINDOW; };
metrics = { namespace = "$NS"; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = { soak = { targets = $K; period_s = 60.0; fresh = $fresh; interval = $INTERVAL; isolation = "$ISO"; }; };
CONF
  local pre=()
  [ "$VALGRIND" = 1 ] && pre=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
                               --errors-for-leak-kinds=definite,indirect --num-callers=30
                               --log-file="$T/vg-$name.%p")
  local t0
  t0=$(date +%s.%N)
  LD_PRELOAD="$BUILD/bench/plugins/soak_clock.so" SOAK_CLOCK_SPEED=$SPEED SOAK_CLOCK_T0=$t0 \
    HEALERD_PLUGIN_RUNNER="$BUILD/bin/healerd-plugin" \
    "${pre[@]}" "$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/agent-$name.log" &
  AGENT=$!
  PORT=""
  for _ in $(seq 600); do
    PORT=$(ss -Hltnp 2>/dev/null | awk -v p="pid=$AGENT," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
    [ -n "$PORT" ] && break
    kill -0 "$AGENT" 2>/dev/null || { echo "soak: the agent exited:"; tail -5 "$T/agent-$name.log"; exit 1; }
    sleep 0.1
  done
  [ -n "$PORT" ] || { echo "soak: no HTTP port"; tail -5 "$T/agent-$name.log"; exit 1; }
  local next=0 step=$(( (TOTAL + 9) / 10 )) healed=0 last=-1 stall=0 rows="$T/rows-$name"
  : >"$rows"
  echo "== $name: K=$K targets, $DAYS simulated days = $TOTAL heals, clock x$SPEED, load $(cut -d' ' -f1-3 /proc/loadavg)"
  printf "%5s %8s %6s %8s %9s %4s %4s %9s %10s %9s %6s\n" "%" heals sim_d "RSS KiB" "PrivDirty" fds thr \
    "metrics B" "kdb KiB" "child RSS" "real s"
  while :; do
    local mt; mt=$(metrics_text) || mt=""
    healed=$(healed_of <<<"$mt")
    if [ "$healed" -ge "$next" ]; then
      local ch rss pd fds thr mb kdb crss el simd
      rss=$(kib /proc/"$AGENT"/status VmRSS)
      pd=$(kib /proc/"$AGENT"/smaps_rollup Private_Dirty)
      fds=$(ls /proc/"$AGENT"/fd | wc -l)
      thr=$(kib /proc/"$AGENT"/status Threads)
      mb=$(printf %s "$mt" | wc -c)
      kdb=$(( ($(stat -c %s "$st/knowledge.db" 2>/dev/null || echo 0) + $(stat -c %s "$st/knowledge.db-wal" 2>/dev/null || echo 0)) / 1024 ))
      ch=$(child_of "$AGENT"); crss=0; [ -n "$ch" ] && crss=$(kib /proc/"$ch"/status VmRSS)
      el=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
      simd=$(awk -v e="$el" -v s="$SPEED" 'BEGIN { printf "%.2f", e * s / 86400 }')
      local pct=$(( healed * 100 / TOTAL ))
      printf "%5s %8s %6s %8s %9s %4s %4s %9s %10s %9s %6s\n" "$pct" "$healed" "$simd" "$rss" "$pd" \
        "$fds" "$thr" "$mb" "$kdb" "$crss" "$el"
      echo "$pct $healed $rss $pd $fds $thr $mb $kdb $crss" >>"$rows"
      next=$(( next + step ))
      [ "$healed" -ge "$TOTAL" ] && break
    fi
    # Bounded: stop after MAX_S real seconds, or when no heal happened for 60 s.
    if awk -v a="$t0" -v b="$(date +%s.%N)" -v m="$MAX_S" 'BEGIN { exit !(b - a > m) }'; then
      echo "soak: $MAX_S s passed at $healed heals, stopping"; break
    fi
    if [ "$healed" = "$last" ]; then
      stall=$((stall + 1))
      [ "$stall" -ge 120 ] && { echo "soak: no heal for 60 s at $healed, stopping"; break; }
    else stall=0; last=$healed; fi
    kill -0 "$AGENT" 2>/dev/null || { echo "soak: the agent died"; tail -5 "$T/agent-$name.log"; exit 1; }
    sleep 0.5
  done
  local late; late=$(metrics_text | awk -v n="${NS}_healing_suppressed_total" 'index($0, n "{") == 1 { s += $NF } END { printf "%d", s }')
  kill -TERM "$AGENT"; wait "$AGENT" || true; AGENT=""
  # Slope after the first 10 %: least squares of each column against heals, KiB per 10 000 heals.
  awk -v name="$name" 'NR > 1 && $1 >= 10 { n++; x[n] = $2; for (c = 3; c <= 9; c++) y[c, n] = $c }
    END {
      if (n < 2) { print "slope: too few samples"; exit }
      split("RSS PrivDirty fds threads metrics_B kdb_KiB child_RSS", lab, " ")
      for (i = 1; i <= n; i++) sx += x[i]; mx = sx / n
      for (i = 1; i <= n; i++) sxx += (x[i] - mx) ^ 2
      printf "slope (%s, per 10 000 heals, from 10 %%):", name
      for (c = 3; c <= 9; c++) {
        sy = 0; sxy = 0
        for (i = 1; i <= n; i++) sy += y[c, i]; my = sy / n
        for (i = 1; i <= n; i++) sxy += (x[i] - mx) * (y[c, i] - my)
        printf " %s %+.1f", lab[c - 2], (sxx > 0 ? sxy / sxx * 10000 : 0)
      }
      printf "\n"
    }' "$rows"
  echo "suppressed: $late; $(grep -o 'soak: raised.*' "$T/agent-$name.log" | tail -1)"
  if grep -q 'loop and relapse windows' "$T/agent-$name.log"; then
    echo "the loop history reached LOOPS_CAP (agent/heal_loops.h)"
  fi
  grep -E '^(error|warn)' "$T/agent-$name.log" | sort | uniq -c | sort -rn | head -5 || true
  if [ "$VALGRIND" = 1 ]; then
    # one log per process valgrind saw: the agent's, and forks that exec'd (no summary)
    grep -hE 'definitely lost|indirectly lost|ERROR SUMMARY' "$T/vg-$name".* | sed "s/^/valgrind ($name): /" || true
  fi
}

for p in $PATTERNS; do
  case $p in
    recurring) run_pattern recurring false ;;
    fresh) run_pattern fresh true ;;
    *) echo "soak: unknown pattern $p (recurring, fresh)"; exit 2 ;;
  esac
done
