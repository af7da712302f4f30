#!/usr/bin/env bash
# tests/plugins/network_lossy.sh — a lossy path is degraded, not dead (issue #11): in namespaces
# of its own, the test makes the TCP target's address in B vanish for 0.9 s of every 2.5 s
# (B does not forward: the probe's SYN is silently dropped, a real loss, no RST), so about a third
# of the agent's probe rounds fail and never 3 in a row. The agent (live mode) must raise
# connectivity_degraded with loss measurements, plan and run nothing (no actuator call in
# audit.jsonl, no restart_interface or reset_routes), never raise connectivity_lost; when the
# target answers always again the issue must close. Never touches the host's namespace.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/network_lib.sh"
net_require

LOSS_PID=""
lossy_cleanup() {
  set +e
  if [ -n "$LOSS_PID" ]; then kill -TERM "$LOSS_PID" 2>/dev/null; wait "$LOSS_PID" 2>/dev/null; fi
  net_cleanup
}
trap lossy_cleanup EXIT

host_before=$(host_snapshot)
net_setup

# interval 0.5 s: probe rounds start at least 0.5 s apart, so a 0.9 s gap holds at most two.
NET_INTERVAL=0.5 NET_EXTRA="loss_window = 10; loss_degraded_percent = 20; loss_clear_percent = 10; loss_lost_rounds = 3;" \
  MODE=live network_conf "$T/healerd.conf"
start_ns_agent "$T/healerd.conf"
wait_for "the plugin is loaded" 10 bash -c "ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/plugins | jq -e '.plugins[] | select(.name==\"network\" and .state==\"loaded\")'"
sleep 2   # a few clean rounds
check "no issue open at the start" bash -c "[ \"\$(ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/issues | jq '.issues | length')\" = 0 ]"

# The lossy path: FAR_IP present 1.6 s, absent 0.9 s, again and again.
(
  while :; do
    sleep 1.6
    ip -n "$NB" addr del "$FAR_IP/32" dev lo 2>/dev/null || true
    sleep 0.9
    ip -n "$NB" addr add "$FAR_IP/32" dev lo 2>/dev/null || true
  done
) &
LOSS_PID=$!
t0=$(date +%s%N)
wait_for "connectivity_degraded is raised" 30 issue_open connectivity_degraded
t1=$(date +%s%N)
echo "loss started -> connectivity_degraded raised: $(( (t1 - t0) / 1000000 )) ms (window 10 rounds of 0.5 s)"
api /api/v1/issues | jq -c '.issues[] | select(.type=="connectivity_degraded")' >"$T/issue.json"
echo "issue: $(jq -c '{severity, summary, measurements, components}' "$T/issue.json")"
# is JQ: the raised issue satisfies it
is() { jq -e "$1" "$T/issue.json" >/dev/null; }
check "it is medium (below connectivity_lost's high)" is '.severity == "medium"'
check "it names the target" is ".components == [\"$FAR_IP:$FAR_PORT\"]"
check "loss_percent is at least loss_degraded_percent and below 100" is '.measurements.loss_percent >= 20 and .measurements.loss_percent < 100'
check "the window and its failed rounds are measured" is '.measurements.loss_window_rounds == 10 and .measurements.loss_failed_rounds >= 2 and .measurements.target0_loss_percent == .measurements.loss_percent'
check "the summary says nothing is done automatically" is '.summary | test("No automatic action")'

# 20 s more of loss (8 cycles): sampled every 0.25 s, connectivity_lost never opens and the
# degraded issue stays open (hysteresis: it closes only below loss_clear_percent).
lost_seen=0; closed_seen=0; samples=0; max_loss=0; min_loss=100
end=$(( $(date +%s) + 20 ))
while [ "$(date +%s)" -lt "$end" ]; do
  j=$(api /api/v1/issues)
  samples=$((samples + 1))
  echo "$j" | jq -e '[.issues[] | select(.type=="connectivity_lost")] | length > 0' >/dev/null && lost_seen=$((lost_seen + 1))
  if l=$(echo "$j" | jq -e '.issues[] | select(.type=="connectivity_degraded") | .measurements.loss_percent'); then
    l=${l%.*}
    [ "$l" -gt "$max_loss" ] && max_loss=$l
    [ "$l" -lt "$min_loss" ] && min_loss=$l
  else
    closed_seen=$((closed_seen + 1))
  fi
  sleep 0.25
done
echo "lossy phase: $samples samples; loss_percent over the 10-round window between $min_loss and $max_loss %"
check "connectivity_lost never opened ($lost_seen of $samples samples)" [ "$lost_seen" = 0 ]
check "connectivity_degraded stayed open through the loss ($closed_seen of $samples samples closed)" [ "$closed_seen" = 0 ]

kill -TERM "$LOSS_PID" 2>/dev/null; wait "$LOSS_PID" 2>/dev/null || true
LOSS_PID=""
ip -n "$NB" addr add "$FAR_IP/32" dev lo 2>/dev/null || true
t0=$(date +%s%N)
wait_for "connectivity_degraded closes once the target answers always" 30 no_issue connectivity_degraded
t1=$(date +%s%N)
echo "loss ended -> connectivity_degraded closed: $(( (t1 - t0) / 1000000 )) ms (window 10 rounds of 0.5 s)"

api "/api/v1/heals?limit=500" >"$T/heals.json"
check "no action was planned or run for any issue" jq -e '[.heals[] | .actions[]] | length == 0' "$T/heals.json"
check "no restart_interface or reset_routes anywhere in the history" bash -c "! grep -qE 'restart_interface|reset_routes' '$T/heals.json'"
check "no actuator call: audit.jsonl is empty" bash -c "[ ! -s '$T/state/audit.jsonl' ]"
check "nothing waits for confirmation" bash -c "[ \"\$(ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/pending | jq '.pending | length')\" = 0 ]"
api /metrics >"$T/metrics.txt"
check "connectivity_degraded was counted as detected" bash -c "awk '/issues_detected_total\\{issue_type=\"connectivity_degraded\"/ {s += \$NF} END {exit !(s > 0)}' '$T/metrics.txt'"
# every declared issue type has its series from the start, at 0: the sum must stay 0
check "connectivity_lost was never counted as detected" bash -c "awk '/issues_detected_total\\{issue_type=\"connectivity_lost\"/ {s += \$NF} END {exit !(NR > 0 && s == 0)}' '$T/metrics.txt'"
check "the loss gauge is exported per target" grep -q "network_tcp_loss_percent{.*target=\"$FAR_IP:$FAR_PORT\"" "$T/metrics.txt"
check "the agent is still running" kill -0 "$AGENT_PID"
check "the agent stops cleanly" stop_agent
host_after=$(host_snapshot)
if [ "$host_before" = "$host_after" ]; then ok "nothing changed in the host's namespace"; else
  bad "the host's namespace changed"; diff <(echo "$host_before") <(echo "$host_after") || true; fi
finish
