#!/usr/bin/env bash
# Holds on the real agent (issue #11, intent): the ticker fixture raises "ticker_issue" on "tick"
# again and again and heals it by writing a file (the ground truth of what ran). A hold makes the
# issue "held" and nothing runs; a release lets it heal again; a hold survives kill -9 and a
# restart; a short hold expires by itself. Every hold and release is an audit.jsonl line.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/ticker.so")
TICKS="$T/ticks"
mkdir -p "$TICKS"
echo "s3cret-token" >"$T/token"
chmod 600 "$T/token"
AUTH='Authorization: Bearer s3cret-token'
# many heals an hour (the ticker heals every interval; the loop rule is off in write_config)
MODE=live MAX_HEALS=100000 write_config "$T/a.conf" "$PDIR" \
  "ticker = { dir = \"$TICKS\"; paths_allow = [\"$TICKS\"]; fresh = false; };"
# what ran: the audit log's lines for the ticker's action (the files are one per agent pid)
heals() { grep -c '"action":"write_tick"' "$T/state/audit.jsonl" || true; }
healed_more() { [ "$(heals)" -gt "$1" ]; }
kill9() { # only the agent this test started
  kill -KILL "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null || true
  AGENT_PID=""
}
state() { get /api/v1/issues | jq -r '.issues[] | select(.target == "tick") | .state'; }
post() { curl -s --max-time 5 -X POST -H "$AUTH" "$URL$1"; }
suppressed_hold() {
  get /metrics | sed -n 's/^healing_suppressed_total{.*reason="hold".*} \([0-9]*\).*/\1/p' | head -n1
}

start_agent "$T/a.conf"
wait_for "the ticker heals" 10 healed_more 0

# ---- bad requests: 401 without the token, 400 naming the value ------------------------------
check "hold without token: 401" \
  [ "$(status_of -X POST "$URL/api/v1/holds?target=tick")" = 401 ]
check "hold with a wrong token: 401" \
  [ "$(status_of -X POST -H "Authorization: Bearer nope" "$URL/api/v1/holds?target=tick")" = 401 ]
check "hold for=abc: 400" \
  [ "$(status_of -X POST -H "$AUTH" "$URL/api/v1/holds?target=tick&for=abc")" = 400 ]
check "the error names the value" sh -c "curl -s -X POST -H '$AUTH' '$URL/api/v1/holds?target=tick&for=abc' | jq -r .error | grep -q 'for=abc'"
check "hold with an empty target: 400" \
  [ "$(status_of -X POST -H "$AUTH" "$URL/api/v1/holds?target=")" = 400 ]
check "release of no hold: 404" \
  [ "$(status_of -X POST -H "$AUTH" "$URL/api/v1/holds/release?target=nothing")" = 404 ]

# ---- hold: held, nothing runs -----------------------------------------------------------------
check "hold tick until released: 200" sh -c "'$HEALCTL' --url '$URL' --token-file '$T/token' hold tick --for 0 --reason 'maintenance' >/dev/null"
wait_for "the issue shows held" 10 sh -c "[ \"\$(curl -s '$URL/api/v1/issues' | jq -r '.issues[] | select(.target == \"tick\") | .state')\" = held ]"
wait_for "counted in healing_suppressed_total{reason=hold}" 10 sh -c "[ -n \"\$(curl -s '$URL/metrics' | grep 'healing_suppressed_total{.*reason=\"hold\"')\" ]"
N=$(heals)
# the ticker raises every 0.2 s: wait until the engine has merged many more repeats while held
C0=$(get /api/v1/issues | jq '.issues[] | select(.target == "tick") | .count')
wait_for "the issue keeps coming while held" 10 sh -c "[ \$(curl -s '$URL/api/v1/issues' | jq '.issues[] | select(.target == \"tick\") | .count') -ge $((C0 + 10)) ]"
check "no heal ran while held ($N before, $(heals) after)" [ "$(heals)" = "$N" ]
check "the issue shows the hold's reason" [ "$(get /api/v1/issues | jq -r '.issues[] | select(.target == "tick") | .hold.reason')" = maintenance ]
check "healctl holds lists it" sh -c "'$HEALCTL' --url '$URL' holds | grep -q tick"
check "GET /api/v1/holds lists it" [ "$(get /api/v1/holds | jq -r '.holds[0].target')" = tick ]

# ---- kill -9 and a restart: the hold survives --------------------------------------------------
kill9
N=$(heals)
start_agent "$T/a.conf"
check "the hold is back after kill -9" [ "$(get /api/v1/holds | jq -r '.holds[0].target')" = tick ]
wait_for "the issue is held again" 10 sh -c "[ \"\$(curl -s '$URL/api/v1/issues' | jq -r '.issues[] | select(.target == \"tick\") | .state')\" = held ]"
C0=$(get /api/v1/issues | jq '.issues[] | select(.target == "tick") | .count')
wait_for "repeats merge while held after the restart" 10 sh -c "[ \$(curl -s '$URL/api/v1/issues' | jq '.issues[] | select(.target == \"tick\") | .count') -ge $((C0 + 10)) ]"
check "no heal ran after the restart ($N before, $(heals) after)" [ "$(heals)" = "$N" ]

# ---- release: heals again --------------------------------------------------------------------
check "healctl unhold tick" sh -c "'$HEALCTL' --url '$URL' --token-file '$T/token' unhold tick >/dev/null"
wait_for "heals again after the release" 10 healed_more "$N"
check "no hold listed" [ "$(get /api/v1/holds | jq '.holds | length')" = 0 ]

# ---- expiry: a 2 s hold ends by itself --------------------------------------------------------
check "hold for 2s: 200" [ "$(status_of -X POST -H "$AUTH" "$URL/api/v1/holds?target=tick&for=2s&by=test")" = 200 ]
wait_for "held" 10 sh -c "[ \"\$(curl -s '$URL/api/v1/issues' | jq -r '.issues[] | select(.target == \"tick\") | .state')\" = held ]"
N=$(heals)
wait_for "heals again once the hold expired" 15 healed_more "$N"
stop_agent

# ---- the audit log has every hold and release --------------------------------------------------
A="$T/state/audit.jsonl"
check "audit: the hold with its reason" \
  sh -c "jq -c 'select(.plugin == \"operator\" and .action == \"hold\" and .target == \"tick\" and .params.reason == \"maintenance\" and .result == \"ok\")' '$A' | grep -q ."
check "audit: the release" \
  sh -c "jq -c 'select(.plugin == \"operator\" and .action == \"unhold\" and .target == \"tick\" and .result == \"ok\")' '$A' | grep -q ."
check "audit: the release of no hold, as not_found" \
  sh -c "jq -c 'select(.plugin == \"operator\" and .action == \"unhold\" and .target == \"nothing\" and .result == \"not_found\")' '$A' | grep -q ."
check "audit: the 2 s hold by test" \
  sh -c "jq -c 'select(.action == \"hold\" and .params.by == \"test\" and .params.for_s == 2)' '$A' | grep -q ."
finish
