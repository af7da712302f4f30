#!/usr/bin/env bash
# Explanations end to end on a live agent: a real heal (the stopper fixture SIGSTOPs a process of
# uid 65534 this test started) is read back through GET /api/v1/heals/ID and
# /api/v1/issues/ID, `healctl show heal`, `healctl show issue` and `healctl explain` (HEALCTL_URL):
# the planner's candidates, the governor's decision, the actuator call with pid, name and uid,
# the audit lines; an unknown id is a clear error, not an empty page.
. "$SRC/tests/lib/agent.sh"
jqe() { jq -e "$@" >/dev/null; }
PDIR=$(plugin_dir "$BUILD/tests/plugins/stopper.so")
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
VICTIM=$!
trap 'kill -KILL $VICTIM 2>/dev/null; cleanup' EXIT
MODE=live write_config "$T/a.conf" "$PDIR" "stopper = { pid = $VICTIM; };" "scope = { uids = [65534]; };"
start_agent "$T/a.conf"
export HEALCTL_URL="$URL"

first_heal() { get /api/v1/heals | jq -e '[.heals[] | select(.issue_type == "stopper_issue" and .outcome == "healed")][0].id'; }
wait_for "a heal is recorded" 10 first_heal
HEAL=$(first_heal)
ISSUE=$(get "/api/v1/heals/$HEAL" | jq -r .issue_id)
get "/api/v1/heals/$HEAL" >"$T/heal.json"

check "the heal names its issue" jqe ".issue_type == \"stopper_issue\" and .target == \"victim\" and .issue_id > 0" "$T/heal.json"
check "the planner's candidates" jqe '.decision.candidates[0] | .plugin == "stopper" and .action == "stop_it" and (.expected | type) == "number"' "$T/heal.json"
check "why the first went first" jqe '.decision.first | type == "string" and length > 0' "$T/heal.json"
check "the governor's verdict and reason" jqe '.decision.governor | .verdict == "allow" and (.reason | length > 0)' "$T/heal.json"
check "the step and its result" jqe ".actions[0] | .action == \"stop_it\" and .outcome == \"healed\" and (.message | test(\"pid $VICTIM\"))" "$T/heal.json"
check "the audit's actuator call names pid, name and uid" jqe \
  "[.audit[] | select(.actuator == \"signal\" and .params.pid == $VICTIM and .params.name == \"sleep\" and .params.uid == 65534 and .result == \"ok\")] | length == 1" "$T/heal.json"

check "GET /api/v1/issues/ID" bash -c "curl -s '$URL/api/v1/issues/$ISSUE' | jq -e '.type == \"stopper_issue\" and .target == \"victim\"'"

check "explain exits 0" bash -c '"$0" explain "$1" >"$2" 2>&1' "$HEALCTL" "$HEAL" "$T/explain.txt"
check "explain: the candidates" grep -q "The planner weighed 1 candidate" "$T/explain.txt"
check "explain: the governor" grep -q 'The governor decided "allow"' "$T/explain.txt"
check "explain: the actuator call" grep -q "Actuator call: stopper signal on pid:$VICTIM: ok" "$T/explain.txt"
check "explain: the outcome" grep -q "^Outcome: healed" "$T/explain.txt"

check "show heal exits 0" bash -c '"$0" show heal "$1" >"$2" 2>&1' "$HEALCTL" "$HEAL" "$T/show.txt"
check "show heal: the action and the pid" bash -c "grep -q stop_it '$T/show.txt' && grep -q 'pid $VICTIM' '$T/show.txt'"

check "show issue exits 0" bash -c '"$0" show issue "$1" >"$2" 2>&1' "$HEALCTL" "$ISSUE" "$T/issue.txt"
check "show issue: type, target and detector" bash -c "grep -q 'stopper_issue on victim' '$T/issue.txt' && grep -q 'detected by stopper' '$T/issue.txt'"
check "show issue: its heals listed" grep -q "heals recorded for it" "$T/issue.txt"

check "an unknown heal is 404" test "$(status_of "$URL/api/v1/heals/999999")" = 404
rc=0
"$HEALCTL" explain 999999 >"$T/none.txt" 2>&1 || rc=$?
check "healctl explain of an unknown heal fails" test $rc -ne 0
check "and says which" grep -q "999999" "$T/none.txt"
check "SIGTERM exits 0" stop_agent
finish
