#!/usr/bin/env bash
# Safe first contact (issue #10): in a live agent with the cpu plugin's defaults (auto_stop
# false), a plan that would stop a busy process of an ordinary user (uid 2000) waits for the
# operator. Its automatic steps run at once (issue #11: renice does not wait for a human), the
# plan waits at the stop step, nothing is signalled while it is pending; once confirmed, the hog
# is stopped. The agent is confined to the test's cgroup (scope.cgroup).
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/cpu_lib.sh"
cpu_setup
PDIR=$(plugin_dir "$BUILD/plugins/cpu.so")

start_burner cpuhog 2000 100;   HOG1=${CPU_PIDS[-1]}
start_burner cpuhog 2000 100;   HOG2=${CPU_PIDS[-1]}
for p in "${CPU_PIDS[@]}"; do wait_comm "$p" cpuhog; done


CPU="cpu = { interval = 0.5; high_percent = 60.0; high_seconds = 1.0;
  critical_percent = 100.0; critical_seconds = 3600.0; clear_seconds = 1.0;
  renice_percent = 50.0; renice_min_percent = 3.0; stop_percent = 55.0;
  stop_min_percent = 20.0; grace_seconds = 1.0; settle_seconds = 1.0; killable = [\"cpuhog\"]; };"
EXTRA="scope = { cgroup = \"/$CG_NAME\"; };"
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
MODE=live INTERVAL=0.5 ACTION_TIMEOUT=20.0 write_config "$T/live.conf" "$PDIR" "$CPU" "$EXTRA"
start_agent "$T/live.conf"
A="$T/state/audit.jsonl"

pending_id() { get /api/v1/pending | jq -e '.pending[] | select(.actions | map(.action) | index("stop_processes")) | .id'; }
wait_for "a plan with stop_processes waits for confirmation" 30 pending_id
ID=$(pending_id)
check "stop_processes is flagged stops" \
  bash -c "curl -s $URL/api/v1/pending | jq -e '.pending[] | .actions[] | select(.action == \"stop_processes\") | .flags | index(\"stops\")'"
check "the pending plan says why it asks" \
  bash -c "curl -s $URL/api/v1/pending | jq -r '.pending[].reason // empty' | grep -q 'stops or kills processes'"
check "hog 1 running while pending" alive "$HOG1"
check "the plan waits at stop_processes" \
  bash -c "curl -s $URL/api/v1/pending | jq -e '.pending[] | select(.waiting_action == \"stop_processes\")'"
check "the automatic renice ran before it waited" \
  bash -c "curl -s $URL/api/v1/pending | jq -e '.pending[] | .ran[] | select(.action == \"renice\")'"
check "audit: a renice before the confirmation" \
  jq -se '[.[] | select(.actuator == "renice")] | length > 0' "$A"
check "audit: no signal before the confirmation (but the preview's dry-run lines)" \
  bash -c "[ ! -s '$A' ] || jq -se '[.[] | select(.actuator == \"signal\" and .params.preview != true)] | length == 0' '$A' >/dev/null"
check "confirm with token: 200" \
  [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/confirm")" = 200 ]
both_gone() { gone "$HOG1" && gone "$HOG2"; }
wait_for "after the confirmation the hogs are stopped" 60 both_gone
check "audit: SIGTERM to the hogs" \
  jq -se --argjson a "$HOG1" '[.[] | select(.actuator == "signal" and .params.signal == 15 and .params.pid == $a)] | length > 0' "$A"
check "SIGTERM exits 0" stop_agent
finish
