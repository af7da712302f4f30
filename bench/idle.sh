#!/usr/bin/env bash
# Idle cost of the agent: healerd with the example plugin (dirwatch) at a 1 s interval, HTTP on,
# nothing wrong. Prints CPU % of one core over SECONDS and the resident set size. Numbers only.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd) # absolute: healer_test_tmp walks up from it
SECONDS_TO_MEASURE=${2:-60}
. "$(dirname "$0")/../tests/lib/testtmp.sh"   # the loader refuses a plugin_dir below /tmp
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healerd-idle.XXXXXX")
chmod 755 "$T"
mkdir -p "$T/plugins" "$T/watched"
install -m 0755 "$BUILD/plugins/dirwatch.so" "$T/plugins/"
cat >"$T/healerd.conf" <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$T/plugins"; state_dir = "$T/state"; log_level = "warn"; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = { dirwatch = { directory = "$T/watched"; interval = 1.0; paths_allow = ["$T/watched"]; }; };
CONF
"$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$T"' EXIT
sleep 3
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
sleep "$SECONDS_TO_MEASURE"
t1=$(ticks); s1=$(date +%s.%N)
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
threads=$(awk '/^Threads/ {print $2}' "/proc/$pid/status")
awk -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v rss="$rss" -v hwm="$hwm" -v th="$threads" 'BEGIN {
  printf "idle agent (dirwatch at 1 s, HTTP on): CPU %.3f %% of one core over %.0f s, RSS %.1f MiB (peak %.1f MiB), %d threads\n",
         100 * (t1 - t0) / hz / (s1 - s0), s1 - s0, rss / 1024, hwm / 1024, th }'
