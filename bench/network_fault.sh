#!/usr/bin/env bash
# bench/network_fault.sh — from a link going down to the network_down issue on the bus, and to
# healed (restart_interface verified), in real network namespaces (tests/plugins/network_lib.sh)
# with the agent inside namespace A in live mode. N trials; prints p50, p90, p99 and max.
# Usage: bench/network_fault.sh [BUILD] [TRIALS]. Numbers only, no pass/fail.
# t0 is taken just before running `ip link set dev veth-a down`, so each number includes that
# command's own start-up (printed separately as "ip command").
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
TRIALS=${2:-30}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BUILD SRC
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/network_lib.sh"
net_require
net_setup
# A realistic interval: detection of the link is event-driven and does not wait for it.
MODE=live INTERVAL=5.0 NET_INTERVAL=5.0 network_conf "$T/healerd.conf"
start_ns_agent "$T/healerd.conf"
sleep 2

now() { date +%s.%N; }
: >"$T/issue.txt"
: >"$T/healed.txt"
: >"$T/ip.txt"
for i in $(seq "$TRIALS"); do
  last=$(api "/api/v1/heals?limit=1" | jq '.heals[0].id // 0')
  t0=$(now)
  ip -n "$NA" link set veth-a down
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.6f\n", $2 - $1}' >>"$T/ip.txt"
  for _ in $(seq 200); do
    h=$(api "/api/v1/heals?limit=1")
    if echo "$h" | jq -e --argjson l "$last" '.heals[0].id > $l and .heals[0].issue_type == "network_down"' >/dev/null; then
      break
    fi
    sleep 0.05
  done
  echo "$h" | jq -r --arg t0 "$t0" '.heals[0] | "\(.detected_at - ($t0|tonumber)) \(.finished_at - ($t0|tonumber)) \(.outcome)"' |
    while read -r d f o; do
      echo "$d" >>"$T/issue.txt"
      [ "$o" = healed ] && echo "$f" >>"$T/healed.txt"
    done
  for _ in $(seq 100); do link_up && route_via "$B_IP" && break; sleep 0.05; done
  for _ in $(seq 100); do no_issue network_down && break; sleep 0.05; done
  sleep 0.3
done

stats() { # stats NAME FILE
  sort -g "$2" | awk -v name="$1" '
    { v[NR] = $1 * 1000 }
    function q(p,  i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { if (NR == 0) { printf "%-30s no samples\n", name; exit }
          printf "%-30s n=%d  p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms\n",
                 name, NR, q(0.5), q(0.9), q(0.99), v[NR] }'
}
echo "network_fault: link down in a namespace -> network_down, healed by restart_interface"
stats "ip command (included)" "$T/ip.txt"
stats "link down -> issue on the bus" "$T/issue.txt"
stats "link down -> healed" "$T/healed.txt"
