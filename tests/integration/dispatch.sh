#!/usr/bin/env bash
# Exact dispatch in the real agent, with the stepper fixture's misbehaving steps:
# 1. a step that outlives agent.action_timeout is recorded as a timeout; the next step of the
#    same plugin waits until the stuck one has returned (never queued behind it), and the late
#    result is discarded, never credited to the step after it; a step that forgets to set its
#    outcome is an error, not a success; a step that settles is verified by a timer (detect()
#    keeps running meanwhile) and rechecked before it counts as healed.
# 2. a critical issue pre-empts a gentler heal of the same issue while it settles: that heal is
#    cancelled (its pending verification dropped) and the critical step runs at once.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/stepper.so")
TRIG="$T/trigger"
# The fixture's own trace, in its state directory: the one place its confined child may write.
LOG="$T/state/plugins/stepper/steps.log"
heals() { get /api/v1/heals; }
# acts N: "action:outcome" of heal N (newest first = 0), space-separated
acts() { heals | jq -r ".heals[$1].actions | map(.action + \":\" + .outcome) | join(\" \")"; }

# ---- 1. timeout, late result, forgotten outcome, settle by timer -------------------------------
MODE=live ACTION_TIMEOUT=2.0 write_config "$T/a.conf" "$PDIR" \
  "stepper = { trigger = \"$TRIG\"; log = \"$LOG\"; ladder = [\"slow\", \"forget\", \"settle\"];
               slow_seconds = 3.0; settle_seconds = 0.6; };"
start_agent "$T/a.conf"
echo 2 >"$TRIG"
wait_for "the heal ends" 20 sh -c "curl -s $URL/api/v1/heals | jq -e '.heals | length >= 1'"
A=$(acts 0)
echo "# actions: $A"
check "slow: timeout; forget: error; settle: healed" [ "$A" = "slow:timeout forget:error settle:healed" ]
check "the heal is healed" [ "$(heals | jq -r '.heals[0].outcome')" = healed ]
check "the late result was discarded" grep -q "late result of step .* from stepper discarded: done" "$T/agent.log"
# order in the plugin: forget started only after slow had returned (one step at a time)
t_slow_end=$(awk '$2 == "executed" && $3 == "slow" {print $1; exit}' "$LOG")
t_forget=$(awk '$2 == "execute" && $3 == "forget" {print $1; exit}' "$LOG")
check "forget ran after slow returned ($t_slow_end < $t_forget)" \
  awk -v a="$t_slow_end" -v b="$t_forget" 'BEGIN { exit !(a != "" && b != "" && a < b) }'
# settle: executed, then verified twice by the timer with detect() running in between
t_settle=$(awk '$2 == "execute" && $3 == "settle" {print $1; exit}' "$LOG")
t_v2=$(awk '$2 == "verify" && $3 == "settle" {n++; if (n == 2) {print $1; exit}}' "$LOG")
n_detect=$(awk -v a="$t_settle" -v b="$t_v2" '$2 == "detect" && $1 > a && $1 < b' "$LOG" | wc -l)
check "settle verified twice (recheck)" [ -n "$t_v2" ]
check "detect ran while settle settled ($n_detect times)" [ "$n_detect" -ge 3 ]
check "the forgotten outcome is named in the record" \
  sh -c "curl -s $URL/api/v1/heals | jq -r '.heals[0].actions[1].message' | grep -q 'did not set result->outcome'"
check "the forgotten outcome is logged as a plugin bug" grep -q "execute(forget) returned without setting result->outcome" "$T/agent.log"
left=$(heals | jq -r '.heals[0].actions[2].message' | sed -n 's/.*time left \([0-9.]*\) s.*/\1/p')
check "execute() learns its deadline: 0 < time left ($left) <= action_timeout (2)" \
  awk -v l="$left" 'BEGIN { exit !(l != "" && l > 0 && l <= 2.0) }'
check "outside an action there is no deadline" bash -c "! grep -q 'detect deadline' '$LOG'"
# The knowledge base: a timed-out step is an attempt, never a success; a verified one is a
# success. The trigger stays until here, so the issue is still detected after heal #1 healed and,
# with cooldown 0, gets a heal #2 (cancelled below when the trigger goes); whether that one has
# run its slow step before the knowledge is read depends on timing (in a plugin child it usually
# has). So the exact one-heal figures are checked when one heal ran, and otherwise the rule.
rm -f "$TRIG"
closed() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "stepper_issue")'; }
wait_for "the issue closes once the trigger is gone" 10 closed
kn() { get /api/v1/knowledge | jq -c "[.knowledge[] | select(.action == \"$1\") | $2]"; }
# heal #2 ends (cancelled) as the issue closes, and its record reaches the API a moment later (the
# writer thread): count the heals once the count has held still for 2 s (CI under ASan read 1
# here and then found slow's second attempt)
NH=$(heals | jq '.heals | length')
for _ in $(seq 1 10); do
  sleep 2; N2=$(heals | jq '.heals | length'); [ "$N2" = "$NH" ] && break; NH=$N2
done
if [ "$NH" = 1 ]; then
  slow_one() { [ "$(kn slow '.attempts, .successes')" = "[1,0]" ]; }   # read again on every poll
  settle_one() { [ "$(kn settle .successes)" = "[1]" ]; }
  wait_for "knowledge: slow 1 attempt, 0 successes" 10 slow_one
  wait_for "knowledge: settle 1 success" 10 settle_one
else
  echo "# $(heals | jq '.heals | length') heals:"
  heals | jq -c ".heals[] | [.id, .outcome, (.actions | map(.action + \":\" + .outcome))]" | head -5
  slow_ok() { kn slow '.attempts >= 1 and .successes == 0' | grep -qx '\[true\]'; }
  settle_ok() { kn settle '.successes >= 1' | grep -qx '\[true\]'; }
  wait_for "knowledge: slow attempted, never a success" 10 slow_ok
  wait_for "knowledge: settle counted a success" 10 settle_ok
fi
check "SIGTERM exits 0" stop_agent

# ---- 2. a critical issue pre-empts a settling heal --------------------------------------------
rm -rf "$T/state" "$LOG"
MODE=live ACTION_TIMEOUT=5.0 write_config "$T/a.conf" "$PDIR" \
  "stepper = { trigger = \"$TRIG\"; log = \"$LOG\"; ladder = [\"settle\"]; settle_seconds = 3.0; };"
start_agent "$T/a.conf"
echo 1 >"$TRIG"
wait_for "settle executed" 10 grep -q "execute settle" "$LOG"
echo 3 >"$TRIG"
wait_for "urgent ran" 10 grep -q "execute urgent" "$LOG"
wait_for "two heals recorded" 10 sh -c "curl -s $URL/api/v1/heals | jq -e '.heals | length >= 2'"
H=$(heals)
check "the gentle heal was cancelled: pre-empted" \
  [ "$(echo "$H" | jq -r '.heals[-1] | .outcome + "/" + .reason')" = "cancelled/pre-empted by a critical issue on the same target" ]
check "the critical heal healed with urgent" [ "$(acts 0)" = "urgent:healed" ]
sleep 3.5   # past the settle time: the cancelled verification must not run
check "the cancelled verification never ran" bash -c "! grep -q 'verify settle' '$LOG'"
check "the pre-emption was logged" grep -q "pre-empted by a critical issue" "$T/agent.log"
rm -f "$TRIG"
check "SIGTERM exits 0" stop_agent
finish
