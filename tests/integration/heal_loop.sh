#!/usr/bin/env bash
# Heal-loop escalation and relapse on the real agent (issue #11): the ticker fixture raises
# "ticker_issue" on "tick" again at once after every heal. With loop_heals = 3 the agent heals
# it three times, then the fourth plan waits for a person ("loop: 3 heals in 60 minutes"); each
# heal whose issue came back is "relapsed" in /api/v1/heals and a failure in the statistics;
# after kill -9 and a restart the loop is still recognised.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/ticker.so")
TICKS="$T/ticks"
mkdir -p "$TICKS"
echo "s3cret-token" >"$T/token"
chmod 600 "$T/token"
MODE=live MAX_HEALS=100000 LOOP_HEALS=3 RELAPSE_S=300 write_config "$T/a.conf" "$PDIR" \
  "ticker = { dir = \"$TICKS\"; paths_allow = [\"$TICKS\"]; fresh = false; };"
heals() { grep -c '"action":"write_tick","actuator":null' "$T/state/audit.jsonl" || true; }
pending_reason() { curl -s "$URL/api/v1/pending" | jq -r '.pending[0].reason // empty'; }
kill9() { kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true; AGENT_PID=""; }

start_agent "$T/a.conf"
wait_for "the fourth plan waits for a person" 20 sh -c "curl -s '$URL/api/v1/pending' | jq -e '.pending[0].reason == \"loop: 3 heals in 60 minutes\"'"
check "exactly 3 heals ran (got $(heals))" [ "$(heals)" = 3 ]
check "the issue says loop" [ "$(get /api/v1/issues | jq -r '.issues[] | select(.target == "tick") | .reason')" = loop ]
check "the heals that came back are relapsed in /api/v1/heals" \
  [ "$(get /api/v1/heals | jq '[.heals[] | select(.outcome == "relapsed")] | length')" = 3 ]
check "knowledge: 3 attempts, 0 successes" \
  [ "$(get /api/v1/knowledge | jq -c '.knowledge[] | select(.action == "write_tick") | [.attempts, .successes]')" = "[3,0]" ]
kill9
start_agent "$T/a.conf"
wait_for "after kill -9 and a restart the loop is still recognised" 20 sh -c "curl -s '$URL/api/v1/pending' | jq -e '.pending[0].reason == \"loop: 3 heals in 60 minutes\"'"
check "still 3 heals (got $(heals))" [ "$(heals)" = 3 ]
stop_agent
finish
