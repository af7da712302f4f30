#!/usr/bin/env bash
# The plans plugin's cost while everything is healthy: a healerd with only plans.so (its child,
# dry-run) and four checks every second (HTTP to a local python3 server, TCP to it, a file's age,
# a process by name), run for RUN seconds; then the child's CPU time (utime+stime from
# /proc/PID/stat) per check run, and its private memory. Numbers only; cleans up.
set -euo pipefail
BUILD=${1:-build}
RUN=${2:-20}
BUILD=$(cd "$BUILD" && pwd)
T=$(mktemp -d "$BUILD/bench/run.XXXXXX") # not under /tmp: the loader refuses a world-writable parent
chmod 755 "$T"
PY=$(python3 -c 'import sys; print(sys.executable)')
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pid=; web=
cleanup() {
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  [ -n "$web" ] && { kill "$web" 2>/dev/null || true; wait "$web" 2>/dev/null || true; }
  rm -rf "$T"
}
trap cleanup EXIT
"$PY" "$(dirname "$0")/../tests/fixtures/plans/web_server.py" "$PORT" "$T/web.pid" </dev/null >/dev/null 2>&1 &
web=$!
mkdir -p "$T/plugins" "$T/plans.d"
install -m 0755 "$BUILD/plugins/plans.so" "$T/plugins/"
touch "$T/beat"
cat >"$T/plans.d/bench.conf" <<CONF
checks = (
  { name = "web"; type = "http"; url = "http://127.0.0.1:$PORT/health"; interval_s = 1; },
  { name = "port"; type = "tcp"; host = "127.0.0.1"; port = $PORT; interval_s = 1; },
  { name = "beat"; type = "file"; path = "$T/beat"; max_age_s = 86400; interval_s = 1; },
  { name = "proc"; type = "process"; process = "$(basename "$PY" | cut -c1-15)"; interval_s = 1; }
);
CONF
cat >"$T/healerd.conf" <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$T/plugins"; state_dir = "$T/state"; log_level = "error"; };
http = { listen = ""; };
plugins = { plans = { }; };
CONF
"$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/agent.log" &
pid=$!
sleep 2
child=$(pgrep -P "$pid" -f healerd-plugin | head -n1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=$(ticks "$child"); s0=$(date +%s.%N)
sleep "$RUN"
t1=$(ticks "$child"); s1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
priv=$(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s}' "/proc/$child/smaps_rollup")
awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s0="$s0" -v s1="$s1" -v priv="$priv" 'BEGIN {
  secs = s1 - s0; cpu = (b - a) / hz; runs = 4 * secs;
  printf "plans child, 4 checks each second for %.0f s: CPU %.3f s (%.2f%% of one CPU), %.2f ms per check run; private memory %.1f MiB\n",
         secs, cpu, 100 * cpu / secs, 1000 * cpu / runs, priv / 1024 }'
