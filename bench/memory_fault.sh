#!/usr/bin/env bash
# bench/memory_fault.sh — time from a memory hog starting in a real v1 memory cgroup (256M,
# swappiness 0; the hog grows 2 MiB every 20 ms towards 400M) to its memory_high issue on the
# bus and to the hog killed, for the memory plugin with (a) PSI trigger + cgroup usage events,
# (b) the PSI trigger only, (c) polling only, at the default interval (1 s); earlyoom on the
# same hog; and both agents' idle CPU and RSS. Numbers, not pass/fail.
# earlyoom cannot be confined to a cgroup and this machine is shared, so it runs in real kill
# mode only inside a private PID namespace (unshare --pid --fork --kill-child --mount-proc) holding nothing
# but itself, the namespace's init (sh) and the hog: it scans that namespace's /proc and kill(2)
# resolves pids in it, so the hog is the only process it could ever kill. Its memory threshold
# is system-wide (/proc/meminfo is not namespaced): -M is set to the current MemAvailable minus
# the hog's size at earlyoom's default 10 % / 5 % of the cgroup's 256M left (EO_TERM_PCT=90 and
# EO_KILL_PCT=95 used, healerd's emergency_kill levels), with the hog in the same cgroup as for
# healerd; before each earlyoom run the bench waits until MemAvailable holds still (see settle_mem).
# When the confinement cannot be checked (no unshare, no --mount-proc, the namespace
# sees foreign processes) earlyoom runs with --dryrun instead and kills nothing.
# usage: BUILD=build bench/memory_fault.sh   (as root, needs /sys/fs/cgroup/memory)
set -euo pipefail
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
RUNS=${RUNS:-3}
. "$(dirname "$0")/lib/memcg.sh"
bench_memcg_init healerd-bench healer-mem-bench   # T, CG, PIDS, the cleanup on exit
ms() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "" || b == "-") print "-"; else printf "%.0f", (b - a) * 1000 }'; }
gone() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null || true); [ -z "$st" ] || [ "${st#Z}" != "$st" ]; }
start_hog() {
  ( echo "$BASHPID" >"$CG/cgroup.procs"
    exec setpriv --reuid=65534 --regid=65534 --clear-groups "$T/memory_hog" 400 2 20 >/dev/null ) &
  HOG=$!
  PIDS+=("$HOG")
}

config() { # config NAME PSI EVENTS
  mkdir -p "$T/$1"
  cat >"$T/$1/healerd.conf" <<CONF
agent = { mode = "live"; plugin_dir = "$T/plugins"; state_dir = "$T/$1"; log_level = "info"; };
limits = { max_heals_per_hour = 1000; cooldown_minutes = 0; };
http = { listen = "127.0.0.1:0"; };
scope = { cgroup = "/$(basename "$CG")"; };
protect = { names = ["sshd", "healerd"]; min_uid = 1000; };
plugins = { memory = { watch_system = false; cgroups = ["memory/$(basename "$CG")"];
  psi_trigger = $2; cgroup_events = $3; verify_settle_s = 0.2; kill_grace_s = 1.0; }; };
CONF
}

run_agent_case() { # NAME PSI EVENTS
  local name=$1
  config "$name" "$2" "$3"
  for r in $(seq "$RUNS"); do
    mkdir "$CG"; echo 256M >"$CG/memory.limit_in_bytes"; echo 0 >"$CG/memory.swappiness"
    rm -f "$T/$name/audit.jsonl"
    "$BUILD/bin/healerd" -c "$T/$name/healerd.conf" 2>"$T/$name/agent.log" &
    local agent=$!
    PIDS+=("$agent")
    for _ in $(seq 100); do grep -q "running (pid" "$T/$name/agent.log" && break; sleep 0.05; done
    sleep 1.2
    local t0 t_issue="-" t_gone="-"
    t0=$(now)
    start_hog
    local end=$(( $(date +%s) + 30 ))
    while [ "$(date +%s)" -le "$end" ]; do
      [ "$t_issue" = "-" ] && grep -q "issue #.* memory_high" "$T/$name/agent.log" && t_issue=$(now)
      if gone "$HOG"; then t_gone=$(now); break; fi
      sleep 0.005
    done
    local t_kill
    t_kill=$(grep '"actuator":"signal"' "$T/$name/audit.jsonl" 2>/dev/null | head -n1 |
             sed -n 's/.*"time":"\([^"]*\)".*/\1/p' || true)
    [ -n "$t_kill" ] && t_kill=$(date -d "$t_kill" +%s.%N) || t_kill="-"
    local oom peak
    oom=$(sed -n 's/^oom_kill //p' "$CG/memory.oom_control" || true)
    peak=$(( $(cat "$CG/memory.max_usage_in_bytes") >> 20 ))
    printf "%-26s run %d: issue %6s ms, signal sent %6s ms, hog gone %6s ms, peak %3d MiB, cgroup oom_kill %s\n" \
      "$name" "$r" "$(ms "$t0" "$t_issue")" "$(ms "$t0" "$t_kill")" "$(ms "$t0" "$t_gone")" "$peak" "$oom"
    kill -TERM "$agent"; wait "$agent" || true
    kill -KILL "$HOG" 2>/dev/null || true; wait "$HOG" 2>/dev/null || true
    for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  done
}

echo "# memory hog: 2 MiB per 20 ms towards 400 MiB in a 256 MiB v1 cgroup; interval 1 s"
if [ -z "${SKIP_AGENT:-}" ]; then
  run_agent_case "events(psi+cgroup)" true true
  run_agent_case "psi-trigger-only" true false
  run_agent_case "polling-only" false false
fi


# earlyoom on the same hog in the same cgroup. Real kill mode only inside a private PID namespace:
# ns_ok checks that unshare gives a namespace where we are pid 1 and /proc shows only a handful of
# pids (the host's /proc shows hundreds); eo_ns.sh checks it again before it starts earlyoom.
EO_TERM_PCT=${EO_TERM_PCT:-90}
EO_KILL_PCT=${EO_KILL_PCT:-95}
EO_TERM_MIB=$(( 256 * EO_TERM_PCT / 100 ))
EO_KILL_MIB=$(( 256 * EO_KILL_PCT / 100 ))
UNSHARE=(unshare --pid --fork --kill-child --mount-proc)
ns_ok() {
  command -v unshare >/dev/null || return 1
  local out
  out=$("${UNSHARE[@]}" sh -c 'echo "$$ $(ls /proc | grep -c "^[0-9][0-9]*$")"' 2>/dev/null) || return 1
  set -- $out
  [ "${1:-}" = 1 ] && [ "${2:-99}" -le 8 ]
}
# stop_ns PID: the unshare process; its only child is the namespace's init, and SIGKILL to that
# init (from the host) ends everything in the namespace. --kill-child does the same when unshare dies.
stop_ns() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do kill -KILL "$c" 2>/dev/null || true; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cat >"$T/eo_ns.sh" <<'NS'
# pid 1 of a private PID namespace with its own /proc: earlyoom in real kill mode and the hog,
# nothing else. usage: sh eo_ns.sh DIR CGROUP HOG TERM_MIB KILL_MIB
set -u
dir=$1 cg=$2 hog=$3 term_mib=$4 kill_mib=$5
# Refuse to start earlyoom unless this really is a fresh namespace with its own /proc.
[ "$$" = 1 ] || exit 90
[ "$(ls /proc | grep -c '^[0-9][0-9]*$')" -le 8 ] || exit 91
# /proc/meminfo is system-wide: trip when the hog has taken about TERM_MIB (KILL_MIB) more.
avail=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo)
term=$((avail - term_mib * 1024)) kill=$((avail - kill_mib * 1024))
echo "$avail $term $kill" >"$dir/thresholds"
earlyoom -r 1 -s 100 -M "$term,$kill" --avoid '^(sh|earlyoom)$' --prefer '^memory_hog$' 2>&1 |
  while IFS= read -r l; do echo "$(date +%s.%N) $l"; done >"$dir/earlyoom.log" &
i=0
until grep -q 'SIGKILL when' "$dir/earlyoom.log" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -le 100 ] || exit 92; sleep 0.05
done
sleep 1.2
t0=$(date +%s.%N)
sh -c 'echo $$ >"$1/cgroup.procs" && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$2" 400 2 20 >/dev/null' \
  sh "$cg" "$hog" &
h=$!
st=0; wait "$h" || st=$?
t1=$(date +%s.%N)
sleep 0.3 # the log loop's last lines
echo "$t0 $t1 $st" >"$dir/result"
NS

eo_kill_run() { # RUN; returns 1 when the namespace refused to start earlyoom
  local r=$1 d="$T/eo$1" ns rc=0 end t0 t1 st l t_sig="-" victim oom peak how
  mkdir -p "$d"
  "${UNSHARE[@]}" sh "$T/eo_ns.sh" "$d" "$CG" "$T/memory_hog" "$EO_TERM_MIB" "$EO_KILL_MIB" 2>"$d/ns.err" &
  ns=$!
  PIDS+=("$ns")
  end=$(( $(date +%s) + 30 ))
  while ! gone "$ns" && [ "$(date +%s)" -le "$end" ]; do sleep 0.05; done
  if gone "$ns"; then wait "$ns" || rc=$?; else rc=124; fi
  stop_ns "$ns"
  if [ "$rc" -ge 90 ] && [ "$rc" -le 92 ]; then
    echo "earlyoom: the namespace check failed (exit $rc); not running it in kill mode"; return 1
  fi
  if [ ! -s "$d/result" ]; then
    echo "earlyoom (kill, pid ns)     run $r: no result (exit $rc)"; return 0
  fi
  read -r t0 t1 st <"$d/result"
  l=$(grep -m1 "^[0-9.]* sending SIG[A-Z]* to process" "$d/earlyoom.log" || true)
  [ -n "$l" ] && t_sig=${l%% *}
  victim=$(grep -m1 -o 'SIG[A-Z]* to process [0-9]* uid [0-9]* "[^"]*"' "$d/earlyoom.log" || true)
  oom=$(sed -n 's/^oom_kill //p' "$CG/memory.oom_control")
  peak=$(( $(cat "$CG/memory.max_usage_in_bytes") >> 20 ))
  case $st in 143) how=SIGTERM ;; 137) how=SIGKILL ;; *) how="exit $st" ;; esac
  printf "%-26s run %d: signal sent %6s ms, hog gone %6s ms (%s), peak %3d MiB, cgroup oom_kill %s, victim: %s\n" \
    "earlyoom (kill, pid ns)" "$r" "$(ms "$t0" "$t_sig")" "$(ms "$t0" "$t1")" "$how" "$peak" "$oom" "${victim:-none}"
}

eo_dryrun_run() { # RUN: the fallback; earlyoom with --dryrun on the host, kills nothing
  local r=$1 avail thr eo t0 t_det="-" end l victim oom c
  avail=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo)
  thr=$(( avail - EO_TERM_MIB * 1024 ))
  ( earlyoom --dryrun -r 1 -s 100 -M "$thr,$((avail - EO_KILL_MIB * 1024))" --prefer '^memory_hog$' 2>&1 |
      while IFS= read -r l; do echo "$(date +%s.%N) $l"; done >"$T/earlyoom.log" ) &
  eo=$!
  PIDS+=("$eo")
  sleep 1.2
  t0=$(now)
  start_hog
  end=$(( $(date +%s) + 15 ))
  while [ "$(date +%s)" -le "$end" ]; do
    l=$(grep -m1 "^[0-9.]* low memory!" "$T/earlyoom.log" || true)
    if [ -n "$l" ]; then t_det=${l%% *}; break; fi
    gone "$HOG" && break
    sleep 0.005
  done
  victim=$(grep -m1 -o 'to process [0-9]* uid [0-9]* "[^"]*"' "$T/earlyoom.log" || true)
  oom=$(sed -n 's/^oom_kill //p' "$CG/memory.oom_control")
  printf "%-26s run %d: detection (dry run) %6s ms, victim named: %s, hog gone %s, cgroup oom_kill %s\n" \
    "earlyoom --dryrun" "$r" "$(ms "$t0" "$t_det")" "${victim:-?}" "$(gone "$HOG" && echo yes || echo no)" "$oom"
  # the subshell's children: earlyoom and the timestamping loop (ours, by parent pid)
  for c in $(ps -o pid= --ppid "$eo"); do kill -TERM "$c" 2>/dev/null || true; done
  kill -TERM "$eo" 2>/dev/null || true; wait "$eo" 2>/dev/null || true
  kill -KILL "$HOG" 2>/dev/null || true; wait "$HOG" 2>/dev/null || true
}

if ns_ok; then EO_MODE=kill; else
  EO_MODE=dryrun
  echo "earlyoom: no private PID namespace with its own /proc (unshare --pid --fork --mount-proc); --dryrun only"
fi
echo "# earlyoom 1.7: -M at MemAvailable - ${EO_TERM_MIB} MiB (SIGTERM), - ${EO_KILL_MIB} MiB (SIGKILL), i.e. ${EO_TERM_PCT} % / ${EO_KILL_PCT} % of the 256M cgroup; -s 100 -r 1"
# This VM reports freed pages to its host (free page reporting) for a few seconds after a
# process dies, and meanwhile they are not in MemFree: the next hog would then take them back
# without MemAvailable dropping. So wait until MemAvailable has held still (8 MiB) for 2 s.
memavail() { sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo; }
settle_mem() {
  local a b i
  sleep 2; a=$(memavail)
  for i in $(seq 10); do
    sleep 2; b=$(memavail)
    [ $(( a > b ? a - b : b - a )) -le 8192 ] && return 0
    a=$b
  done
  echo "# MemAvailable did not settle (last change $(( (b - a) / 1024 )) MiB in 2 s)"
}
for r in $(seq "$RUNS"); do
  mkdir "$CG"; echo 256M >"$CG/memory.limit_in_bytes"; echo 0 >"$CG/memory.swappiness"
  settle_mem
  if [ "$EO_MODE" = kill ] && ! eo_kill_run "$r"; then EO_MODE=dryrun; fi
  [ "$EO_MODE" = dryrun ] && eo_dryrun_run "$r"
  for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
done

# Idle cost: 20 s each, defaults (the agent with only the memory plugin watching the system;
# earlyoom with no options, in kill mode alone in its own PID namespace, or --dryrun on the host).
idle() { # PID NAME
  local pid=$1 hz a b rss
  hz=$(getconf CLK_TCK)
  a=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep 20
  b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  rss=$(sed -n 's/^VmRSS: *//p' "/proc/$pid/status")
  printf "%-26s idle: CPU %.3f %% of one core, RSS %s\n" "$2" "$(awk -v a="$a" -v b="$b" -v hz="$hz" 'BEGIN{print (b-a)/hz/20*100}')" "$rss"
}
mkdir -p "$T/idle"
cat >"$T/idle/healerd.conf" <<CONF
agent = { mode = "dry-run"; plugin_dir = "$T/plugins"; state_dir = "$T/idle"; };
http = { listen = "127.0.0.1:0"; };
plugins = { memory = { }; };
CONF
"$BUILD/bin/healerd" -c "$T/idle/healerd.conf" 2>"$T/idle/agent.log" &
ag=$!; PIDS+=("$ag"); sleep 2
idle "$ag" "healerd (memory plugin)"
kill -TERM "$ag"; wait "$ag" || true
if [ "$EO_MODE" = kill ]; then
  # earlyoom is the namespace's init here (pid 1, which it never picks): nothing else to kill.
  "${UNSHARE[@]}" earlyoom >/dev/null 2>&1 &
  ns=$!; PIDS+=("$ns"); sleep 2
  eo=$(ps -o pid= --ppid "$ns" | head -n1 | tr -d ' ')
  if [ -n "$eo" ] && [ "$(cat "/proc/$eo/comm" 2>/dev/null)" = earlyoom ]; then
    idle "$eo" "earlyoom (kill, pid ns)"
  else
    echo "earlyoom (kill, pid ns)    idle: not running"
  fi
  stop_ns "$ns"
else
  earlyoom --dryrun >/dev/null 2>&1 &
  eo=$!; PIDS+=("$eo"); sleep 2
  idle "$eo" "earlyoom --dryrun"
  kill -TERM "$eo"; wait "$eo" || true
fi
