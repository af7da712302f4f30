#!/usr/bin/env bash
# tests/plugins/network_loop.sh — the restart-loop test of the network healer (issue #11): inside
# namespace A the test forces veth-a down again and again (every 3 s, 20 times: 60 s), with no
# cooldown. The agent may heal the first drops, must recognise the link as flapping after
# link_flap_count drops within link_flap_window_s, raise link_flapping for a person and stop
# healing it; a relapse inside the verify window counts as a failure, not a heal. Also measures
# the relapse heal: a drop 1 s after a heal is healed at once (re-published on the event, not at
# the next detect). Prints the counts ("# measured:") that plugins/network/README.md quotes.
# Never touches the host's namespace.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/network_lib.sh"
net_require

host_before=$(host_snapshot)
net_setup

FLAP_COUNT=4
# interval 5 s: a re-decision that waited for detect() would show as seconds, not milliseconds
NET_INTERVAL=5 NET_VERIFY_WINDOW=1.5 NET_EXTRA="link_flap_count = $FLAP_COUNT; link_flap_window_s = 90.0;" \
  MODE=live network_conf "$T/healerd.conf"
start_ns_agent "$T/healerd.conf"
wait_for "the plugin is loaded" 10 bash -c "ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/plugins | jq -e '.plugins[] | select(.name==\"network\" and .state==\"loaded\")'"

heals_of() { api "/api/v1/heals?limit=500" | jq --arg t "$1" --arg o "$2" '[.heals[] | select(.issue_type == $t and .outcome == $o)] | length'; }

# 1. One drop, healed, then a second drop 1 s after that heal: healed again without waiting
#    for the 5 s detect (the time from the drop to the link running again is printed).
ip -n "$NA" link set veth-a down
wait_for "first drop healed (restart_interface, verified over the window)" 20 action_healed network_down restart_interface
sleep 1
t0=$(date +%s%N)
ip -n "$NA" link set veth-a down
wait_for "the drop 1 s after the heal is healed" 20 link_up
t1=$(date +%s%N)
echo "relapse drop -> link up again: $(( (t1 - t0) / 1000000 )) ms (interval 5 s)"
wait_for "the second heal is verified" 20 bash -c "[ \"\$(ip netns exec $NA curl -s 'http://127.0.0.1:$PORT/api/v1/heals?limit=500' | jq '[.heals[] | select(.issue_type==\"network_down\" and .outcome==\"healed\")] | length')\" -ge 2 ]"

# 2. The loop: a drop every 3 s, 20 times.
start=$(date +%s)
for i in $(seq 20); do
  ip -n "$NA" link set veth-a down
  sleep 3
done
elapsed=$(( $(date +%s) - start ))
wait_for "link_flapping is open" 10 issue_open link_flapping
check "network_down is not open while the link is flapping" no_issue network_down
runs=$(jq -s '[.[] | select(.actuator=="run" and ((.params.argv // []) | join(" ")) == "ip link set dev veth-a up" and .result=="ok")] | length' "$T/state/audit.jsonl")
healed=$(heals_of network_down healed)
failed=$(heals_of network_down failed)
echo "# measured: 22 drops in ${elapsed}s + 2 before; interface restarts: $runs; network_down heals: healed $healed, relapsed $(heals_of network_down relapsed), failed $failed"
# Drops before flapping is recognised: FLAP_COUNT (the first two above count too). At most one
# restart per drop until then; none after.
check "restarts bounded by link_flap_count ($runs <= $FLAP_COUNT)" [ "$runs" -le "$FLAP_COUNT" ]
check "no heal for link_flapping: it waits for a person" bash -c "[ \"\$(ip netns exec $NA curl -s 'http://127.0.0.1:$PORT/api/v1/heals?limit=500' | jq '[.heals[] | select(.issue_type==\"link_flapping\" and (.actions | length) > 0)] | length')\" = 0 ]"
check "the flapping issue names the drops" bash -c "ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/issues | jq -e '.issues[] | select(.type==\"link_flapping\") | .summary | test(\"flapping\")' >/dev/null"
check "the link is left down by the last drop: no restart after flapping" link_down
check "the agent is still running" kill -0 "$AGENT_PID"
check "the agent stops cleanly" stop_agent
host_after=$(host_snapshot)
if [ "$host_before" = "$host_after" ]; then ok "nothing changed in the host's namespace"; else
  bad "the host's namespace changed"; diff <(echo "$host_before") <(echo "$host_after") || true; fi
finish
