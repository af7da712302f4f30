#!/usr/bin/env bash
# bench/memory_fault.sh — time from a memory hog starting in a real v1 memory cgroup (256M,
# swappiness 0; the hog grows 2 MiB every 20 ms towards 400M) to its memory_high issue on the
# bus and to the hog killed, for the memory plugin with (a) PSI trigger + cgroup usage events,
# (b) the PSI trigger only, (c) polling only, at the default interval (1 s); earlyoom on the
# same hog; and both agents' idle CPU and RSS. Numbers, not pass/fail.
# earlyoom cannot be confined to a cgroup and this machine is shared, so it runs with
# --dryrun and a system-wide -M threshold set just under the current MemAvailable: its
# detection time is reported, it kills nothing.
# usage: BUILD=build bench/memory_fault.sh   (as root, needs /sys/fs/cgroup/memory)
set -euo pipefail
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
RUNS=${RUNS:-3}
T=$(mktemp -d /tmp/healerd-bench.XXXXXX)
chmod 755 "$T"
CG=/sys/fs/cgroup/memory/healer-mem-bench-$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -d "$CG" ] && for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  rm -rf "$T"
}
trap cleanup EXIT
install -m 0755 "$BUILD/tests/memory_hog" "$T/memory_hog"
mkdir -p "$T/plugins"; chmod 755 "$T/plugins"
install -m 0755 "$BUILD/plugins/memory.so" "$T/plugins/"
now() { date +%s.%N; }
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
    local oom
    oom=$(sed -n 's/^oom_kill //p' "$CG/memory.oom_control" || true)
    printf "%-26s run %d: issue %6s ms, signal sent %6s ms, hog gone %6s ms, cgroup oom_kill %s\n" \
      "$name" "$r" "$(ms "$t0" "$t_issue")" "$(ms "$t0" "$t_kill")" "$(ms "$t0" "$t_gone")" "$oom"
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

# earlyoom, dry-run, on the same hog: threshold EO_MARGIN_MIB (64) under the current
# MemAvailable (the cgroup reclaims its own cache, so the system sees less than the hog's size).
for r in $(seq "$RUNS"); do
  mkdir "$CG"; echo 256M >"$CG/memory.limit_in_bytes"; echo 0 >"$CG/memory.swappiness"
  avail=$(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo)
  thr=$(( avail - ${EO_MARGIN_MIB:-64} * 1024 ))
  ( earlyoom --dryrun -r 0 -p -M "$thr,$((thr / 2))" --prefer '^memory_hog$' 2>&1 |
      while IFS= read -r l; do echo "$(date +%s.%N) $l"; done >"$T/earlyoom.log" ) &
  eo=$!
  PIDS+=("$eo")
  sleep 1.2
  t0=$(now)
  start_hog
  t_det="-"
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
  for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
done

# Idle cost: 20 s each, defaults (the agent with only the memory plugin watching the system).
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
earlyoom --dryrun -r 0 >/dev/null 2>&1 &
eo=$!; PIDS+=("$eo"); sleep 2
idle "$eo" "earlyoom --dryrun"
kill -TERM "$eo"; wait "$eo" || true
