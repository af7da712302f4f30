#!/usr/bin/env bash
# bench/fleet_etcd_storm.sh — W agents' fleet-wide limiters asking one etcd for K slots at once
# (a group-wide incident): starts a throw-away single-member etcd on free loopback ports, runs
# build/bench/bench_fleet_etcd_storm against it, prints etcd's CPU and memory meanwhile.
#   W=1000 K=2 HOLD_MS=5000 SECONDS_RUN=30 TIMEOUT_MS=500 bench/fleet_etcd_storm.sh
set -euo pipefail
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed"; exit 0; }
ulimit -n "$(ulimit -Hn)" # one connection per client
source "$(dirname "$0")/lib/fleet.sh"
D=$(mktemp -d)
trap 'kill -KILL ${ETCD_PID:-} 2>/dev/null || true; wait ${ETCD_PID:-} 2>/dev/null || true; rm -rf "$D"' EXIT
bench_etcd_start s "$D"
C=$ETCD_PORT E=$ETCD_PID
hz=$(getconf CLK_TCK)
echo "etcd $(etcd --version | head -n1 | awk '{print $3}') on loopback, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
e0=$(awk '{print $14 + $15}' "/proc/$E/stat"); s0=$(date +%s.%N)
"$BUILD/bench/bench_fleet_etcd_storm" "http://127.0.0.1:$C" "${W:-1000}" "${K:-2}" "${HOLD_MS:-5000}" "${SECONDS_RUN:-30}" "${TIMEOUT_MS:-500}"
e1=$(awk '{print $14 + $15}' "/proc/$E/stat"); s1=$(date +%s.%N)
awk -v e0="$e0" -v e1="$e1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v rss="$(awk '/^VmRSS/ {print $2}' "/proc/$E/status")" \
  'BEGIN { printf "etcd meanwhile: CPU %.1f %% of one core, RSS %.0f MiB\n", 100 * (e1 - e0) / hz / (s1 - s0), rss / 1024 }'
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
