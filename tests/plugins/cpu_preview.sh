#!/usr/bin/env bash
# A pending plan's preview (issue #13 item 2) on a live agent: the cpu plugin's stop of two busy
# processes of uid 2000 waits for a person; before anyone answers, the agent runs the waiting
# steps through the plugin with dry-run forced and lists what they would touch: each real pid
# with its name and uid. Nothing is changed by it: the processes keep running (not stopped), and
# every signal line in the audit log is a dry-run marked as a preview. Rejected at the end.
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

pending_id() { get /api/v1/pending | jq -e '.pending[] | select(.waiting_action == "stop_processes") | .id'; }
wait_for "a plan with stop_processes waits for confirmation" 30 pending_id
ID=$(pending_id)
ready() { get /api/v1/pending | jq -e --argjson id "$ID" '.pending[] | select(.id == $id) | .preview.state == "ready"' >/dev/null; }
wait_for "its preview is ready" 30 ready
get /api/v1/pending | jq --argjson id "$ID" '.pending[] | select(.id == $id) | .preview' >"$T/preview.json"
check "the preview lists hog 1 with its name and uid" \
  jq -e --argjson p "$HOG1" '.touches[] | select(.kind == "process" and .pid == $p and .name == "cpuhog" and .uid == 2000 and .plugin == "cpu")' "$T/preview.json"
check "the preview lists hog 2 with its name and uid" \
  jq -e --argjson p "$HOG2" '.touches[] | select(.kind == "process" and .pid == $p and .name == "cpuhog" and .uid == 2000)' "$T/preview.json"
check "each item says what would be done" \
  jq -e '[.touches[] | select(.kind == "process") | .text | test("would|SIG")] | all' "$T/preview.json"
check "GET /api/v1/heals/ID has the same preview" \
  bash -c "curl -s $URL/api/v1/heals/$ID | jq -e '.preview.state == \"ready\" and (.preview.touches | length) > 0'"
for p in "$HOG1" "$HOG2"; do
  check "hog $p still running, not stopped (state $(state_of "$p"))" \
    bash -c "s=\$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f1); [ \"\$s\" = R ] || [ \"\$s\" = S ]"
done
check "audit: signal lines exist (the preview's)" \
  jq -se '[.[] | select(.actuator == "signal")] | length > 0' "$A"
check "audit: every signal line is a dry-run marked as preview" \
  jq -se '[.[] | select(.actuator == "signal")] | all(.dry_run == true and .params.preview == true and .result == "dry_run")' "$A"
check "healctl show heal prints Would touch:" \
  bash -c "'$BUILD/bin/healctl' --url $URL show heal $ID | grep -A40 'Would touch:' | grep -q 'pid $HOG1'"
check "reject with token: 200" \
  [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/reject")" = 200 ]
check "hog 1 still running after the reject" alive "$HOG1"
check "SIGTERM exits 0" stop_agent
finish
