#!/usr/bin/env bash
# bench/network_idle.sh — idle cost of the network plugin: the agent inside a test namespace
# (tests/plugins/network_lib.sh) with only the network plugin, probing one DNS name and one
# TCP target every INTERVAL seconds, nothing wrong; then the same agent with no plugin at all.
# Prints CPU % of one core over SECONDS and RSS for both. Usage:
#   bench/network_idle.sh [BUILD] [SECONDS] [INTERVAL]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
SECONDS_TO_MEASURE=${2:-60}
IV=${3:-5.0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BUILD SRC
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/network_lib.sh"
net_require
net_setup

measure() { # measure LABEL
  sleep 3
  local hz t0 t1 s0 s1 rss
  hz=$(getconf CLK_TCK)
  t0=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"); s0=$(date +%s.%N)
  sleep "$SECONDS_TO_MEASURE"
  t1=$(awk '{print $14 + $15}' "/proc/$AGENT_PID/stat"); s1=$(date +%s.%N)
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$AGENT_PID/status")
  awk -v l="$1" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v rss="$rss" 'BEGIN {
    printf "%-44s CPU %.3f %% of one core over %.0f s, RSS %.1f MiB\n", l,
           100 * (t1 - t0) / hz / (s1 - s0), s1 - s0, rss / 1024 }'
}

MODE=live INTERVAL="$IV" NET_INTERVAL="$IV" network_conf "$T/net.conf"
start_ns_agent "$T/net.conf"
measure "agent + network plugin (probes every ${IV} s)"
stop_agent

mkdir -p "$T/empty"
chmod 755 "$T/empty"
MODE=live INTERVAL="$IV" write_config "$T/none.conf" "$T/empty" ""
start_ns_agent "$T/none.conf"
measure "agent, no plugin (baseline)"
stop_agent
