#!/usr/bin/env bash
# The governor's limits hold across crashes and restarts: a live agent killed with SIGKILL and
# restarted over and over never heals more than max_heals_per_hour within the hour (counted by
# the files the heals really wrote); a POSTed pause survives a restart; dry-run keeps its own
# windows, so switching to live (reload) heals at once, and a live cooldown survives a restart.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/ticker.so")
TICKS="$T/ticks"
mkdir -p "$TICKS"
echo "s3cret-token" >"$T/token"
chmod 600 "$T/token"
AUTH='Authorization: Bearer s3cret-token'
# conf MODE FRESH MAX_HEALS COOLDOWN_MINUTES
conf() {
  MODE=$1 MAX_HEALS=$3 COOLDOWN=$4 write_config "$T/a.conf" "$PDIR" \
    "ticker = { dir = \"$TICKS\"; paths_allow = [\"$TICKS\"]; fresh = $2; };"
}
heals() { find "$TICKS" -name 'heal-*' | wc -l; }
kill9() { # only the agent this test started
  kill -KILL "$AGENT_PID"
  wait "$AGENT_PID" 2>/dev/null || true
  AGENT_PID=""
}
logged() { grep -q "$1" "$T/agent.log"; }

# ---- 1. a crash loop: 7 runs, each ended by kill -9 ------------------------------------------
conf live true 3 0
start_agent "$T/a.conf"
wait_for "run 1 heals" 10 sh -c "[ \$(find '$TICKS' -name 'heal-*' | wc -l) -ge 1 ]"
kill9                                   # right after a heal: the commit must already be on disk
for run in 2 3 4 5 6 7; do
  start_agent "$T/a.conf"
  # every run lives until the governor refuses a fresh issue for the hour: time enough for the
  # old in-memory governor to heal three more
  wait_for "run $run: the hour's limit holds (rate_limit)" 10 logged "not healed: rate_limit"
  cp "$T/agent.log" "$T/run$run.log"
  [ "$run" = 4 ] && check "run 4: status counts the earlier runs' heals" \
    [ "$(get /api/v1/status | jq .limits.heals_last_hour)" = 3 ]
  kill9
done
N=$(heals)
echo "# heals executed across 7 runs: $N"
check "at most 3 heals in the hour across 7 crashed runs (got $N)" [ "$N" -le 3 ]
check "and the heals did run (got $N)" [ "$N" -ge 1 ]
check "the governor's state was restored at start" grep -q "info governor: restored: 3 heal(s)" "$T/run7.log"
AUD=$(grep -c '"action":"write_tick".*"result":"healed"\|"result":"healed".*"action":"write_tick"' \
        "$T/state/audit.jsonl" || true)
check "the audit log has no more than 3 healed ticks (got $AUD)" [ "$AUD" -le 3 ]

# ---- 2. a POSTed pause survives a restart ----------------------------------------------------
rm -rf "$T/state" "$TICKS"; mkdir -p "$TICKS"
conf live true 100 0
start_agent "$T/a.conf"
check "pause: 200" [ "$(status_of -X POST -H "$AUTH" "$URL/api/v1/pause")" = 200 ]
kill9
BEFORE=$(heals)
start_agent "$T/a.conf"
check "still paused after kill -9 and a restart" [ "$(get /api/v1/status | jq .paused)" = true ]
wait_for "fresh issues are refused: paused" 10 logged "not healed: paused"
check "no heal while paused" [ "$(heals)" = "$BEFORE" ]
check "healctl status says paused" sh -c "'$HEALCTL' --url '$URL' status | grep -q PAUSED"
check "resume: 200" [ "$(status_of -X POST -H "$AUTH" "$URL/api/v1/resume")" = 200 ]
wait_for "heals again after resume" 10 sh -c "[ \$(find '$TICKS' -name 'heal-*' | wc -l) -gt $BEFORE ]"
stop_agent

# ---- 3. dry-run has its own windows; live cooldowns survive a restart ------------------------
rm -rf "$T/state" "$TICKS"; mkdir -p "$TICKS"
conf dry-run false 1 60                 # one target, 1 heal an hour, 60 min cooldown
start_agent "$T/a.conf"
wait_for "a dry-run heal" 10 logged "ticker_issue on tick: dry_run"
check "dry-run wrote nothing" [ "$(heals)" = 0 ]
check "the dry-run cooldown is shown" \
  [ "$(get /api/v1/issues | jq '.issues[0].cooldown_until | type')" = '"number"' ]
conf live false 1 60
kill -HUP "$AGENT_PID"
wait_for "reloaded into live" 10 logged "info agent: reloaded"
wait_for "live heals at once: dry-run did not consume the live cooldown or hour" 10 \
  sh -c "[ \$(find '$TICKS' -name 'heal-*' | wc -l) -ge 1 ]"
UNTIL=$(get /api/v1/issues | jq '.issues[0].cooldown_until')
NOW=$(date +%s)
check "issues: cooldown_until about an hour ahead (got $UNTIL)" \
  jq -e -n --argjson u "$UNTIL" --argjson n "$NOW" '$u > $n + 3000 and $u < $n + 3700' >/dev/null
check "status lists the cooldown" \
  [ "$(get /api/v1/status | jq -r '.cooldowns[] | select(.target == "tick") | .issue_type')" = ticker_issue ]
check "healctl issues shows the cooldown's end" \
  sh -c "'$HEALCTL' --url '$URL' issues | grep -q 'cooldown until [0-9:]* (59m left)\|cooldown until [0-9:]* (1h 0m left)'"
check "healctl status lists it" \
  sh -c "'$HEALCTL' --url '$URL' status | grep -q 'cooldown ticker_issue on tick until'"
stop_agent
start_agent "$T/a.conf"                 # a clean restart: the live cooldown holds
wait_for "after a restart the cooldown still refuses" 10 logged "not healed: \(cooldown\|rate_limit\)"
check "no second live heal (got $(heals))" [ "$(heals)" = 1 ]
check "the cooldown survived the restart" \
  [ "$(get /api/v1/issues | jq '.issues[0].cooldown_until | type')" = '"number"' ]
stop_agent
finish
