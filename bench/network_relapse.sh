#!/usr/bin/env bash
# bench/network_relapse.sh — a fault 1 s after a heal (issue #11): the link is dropped, healed
# (restart_interface, verified), and dropped again 1 s later; measured from that second drop to
# the link running again and to its heal recorded (the first drop's time to running is the
# baseline: most of both is the kernel's linkwatch, which reports carrier at most once a
# second). Two placements of the second drop:
#   after:   1 s after the first heal was recorded healed (its verify window over);
#   relapse: 1 s after the link came back, inside a 3 s verify window (the heal fails as a
#            relapse and the issue is re-published at once).
# Real namespaces (tests/plugins/network_lib.sh), agent interval 5 s, so a re-decision that
# waited for detect() shows as seconds. Flap detection is off (link_flap_count = 0): this
# measures latency, not restraint (tests/plugins/network_loop.sh does that).
# Usage: bench/network_relapse.sh [BUILD] [TRIALS] [after|relapse]. Numbers only, no pass/fail.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
TRIALS=${2:-12}
PLACE=${3:-after}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BUILD SRC
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/network_lib.sh"
net_require
net_setup
window=1.0
[ "$PLACE" = relapse ] && window=3.0
MODE=live INTERVAL=5.0 NET_INTERVAL=5.0 NET_VERIFY_WINDOW=$window \
  NET_EXTRA="link_flap_count = 0;" network_conf "$T/healerd.conf"
start_ns_agent "$T/healerd.conf"
sleep 2

now() { date +%s.%N; }
last_id() { api "/api/v1/heals?limit=1" | jq '.heals[0].id // 0'; }
# wait_heal AFTER_ID: the first network_down heal with a larger id that has finished; prints it.
wait_heal() {
  local h
  for _ in $(seq 400); do
    h=$(api "/api/v1/heals?limit=20" | jq -c --argjson l "$1" \
      '[.heals[] | select(.id > $l and .issue_type == "network_down" and .finished_at != null)] | min_by(.id) // empty')
    [ -n "$h" ] && { echo "$h"; return 0; }
    sleep 0.05
  done
  return 1
}
wait_up() { for _ in $(seq 1000); do link_up && return 0; sleep 0.01; done; return 1; }

: >"$T/up.txt"
: >"$T/first.txt"
: >"$T/healed.txt"
: >"$T/outcomes.txt"
for i in $(seq "$TRIALS"); do
  l0=$(last_id)
  t0=$(now)
  ip -n "$NA" link set veth-a down
  wait_up
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.6f\n", $2 - $1}' >>"$T/first.txt"
  [ "$PLACE" = relapse ] || wait_heal "$l0" >/dev/null
  sleep 1
  l1=$(last_id)
  t0=$(now)
  ip -n "$NA" link set veth-a down
  wait_up
  t1=$(now)
  echo "$t0 $t1" | awk '{printf "%.6f\n", $2 - $1}' >>"$T/up.txt"
  # In the relapse placement the first heal ends (as a relapse) after the second drop: the
  # heal that brings the link back is the newest one that finished healed.
  h=""
  for _ in $(seq 400); do
    h=$(api "/api/v1/heals?limit=20" | jq -c --argjson l "$l0" \
      '[.heals[] | select(.id > $l and .issue_type == "network_down" and .outcome == "healed")] | max_by(.id) // empty')
    [ -n "$h" ] && [ "$(echo "$h" | jq --argjson t "$t0" '.finished_at > $t')" = true ] && break
    sleep 0.05
  done
  echo "$h" | jq -r --arg t0 "$t0" '"\(.finished_at - ($t0|tonumber))"' >>"$T/healed.txt"
  api "/api/v1/heals?limit=20" | jq -r --argjson l "$l0" \
    '.heals[] | select(.id > $l and .issue_type == "network_down") | .outcome' >>"$T/outcomes.txt"
  for _ in $(seq 200); do no_issue network_down && break; sleep 0.05; done
  sleep 0.5
  echo "# trial $i done" >&2
done

stats() { # stats NAME FILE
  sort -g "$2" | awk -v name="$1" '
    { v[NR] = $1 * 1000 }
    function q(p,  i) { i = int(p * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; return v[i] }
    END { if (NR == 0) { printf "%-34s no samples\n", name; exit }
          printf "%-34s n=%d  p50 %.0f ms  p90 %.0f ms  max %.0f ms\n",
                 name, NR, q(0.5), q(0.9), v[NR] }'
}
echo "network_relapse ($PLACE): second drop 1 s after a heal, verify_window_s $window, interval 5 s"
stats "first drop -> link running again" "$T/first.txt"
stats "second drop -> link running again" "$T/up.txt"
stats "second drop -> its heal recorded" "$T/healed.txt"
echo "heal outcomes: $(sort "$T/outcomes.txt" | uniq -c | tr '\n' ' ')"
