#!/usr/bin/env bash
# The whole flow through the real agent, the example plugin and real files: --once in dry-run
# (nothing changes, every planned action audited), a risky plan waiting for confirmation over
# HTTP with the bearer token, confirm and reject, pause, repeats merged, metrics that promtool
# accepts, SIGHUP reload (good and bad config), and the command-line contract.
# The old files are old in all three times (debugfs on a loop-mounted ext4 in this test's own
# mount namespace): the agent ages a file by the newest of atime/mtime/ctime; touch -d leaves ctime.
. "$SRC/tests/plugins/disk_lib.sh"
disk_private_ns "$0" "$@"
. "$SRC/tests/lib/agent.sh"
disk_need_ext4
PDIR=$(plugin_dir "$BUILD/plugins/dirwatch.so")
W="$T/watched"
mkdir -p "$W"
disk_old_dir "$W"
trap 'umount "$W" 2>/dev/null || true; cleanup' EXIT
fill() { # two old files (to go) and one new file (to stay), 2.5 MB over a 1 MB limit
  mkdir -p "$W"
  head -c 1000000 /dev/zero >"$W/old1.log"; head -c 1000000 /dev/zero >"$W/old2.log.1"
  disk_make_old 30 "$W" "$W/old1.log" "$W/old2.log.1"
  head -c 500000 /dev/zero >"$W/new.log"
}
DW="dirwatch = { directory = \"$W\"; paths_allow = [\"$W\"]; max_bytes = 1000000; max_age_days = 7.0; };"

# --- command line ---
check "--version" [ "$("$HEALERD" --version)" = "healerd 0.1.0 (plugin ABI 1.3)" ]
set +e
"$HEALERD" --bogus >/dev/null 2>&1; check "bad option exits 2" [ $? = 2 ]
printf 'agent = { interval = -1.0; nonsense = 3; };\n' >"$T/bad.conf"
"$HEALERD" -c "$T/bad.conf" --check-config >"$T/bad.out" 2>"$T/bad.err"; rc=$?
check "--check-config on a bad file exits 2" [ $rc = 2 ]
check "problems are FILE:LINE: message" grep -q "^$T/bad.conf:1: agent.interval" "$T/bad.err"
check "unknown key named" grep -q "^$T/bad.conf:1: .*nonsense" "$T/bad.err"
"$HEALERD" -c "$T/bad.conf" >/dev/null 2>&1; check "starting on a bad config exits 2" [ $? = 2 ]
"$HEALERD" -c "$T/missing.conf" --once >/dev/null 2>&1; check "missing config exits 2" [ $? = 2 ]
set -e

# --- --once in dry-run: plans, audits, changes nothing ---
fill
write_config "$T/once.conf" "$PDIR" "$DW"
check "--check-config accepts the good config" "$HEALERD" -c "$T/once.conf" --check-config
"$HEALERD" -c "$T/once.conf" --once >"$T/once.out" 2>"$T/once.log"
cat "$T/once.out"
check "--once: plugin loaded" grep -q "^plugin dirwatch .*: loaded" "$T/once.out"
check "--once: issue detected" grep -q "^issue #.* dir_oversize .* on $W" "$T/once.out"
check "--once: heal dry-run" grep -q "^heal #.* dir_oversize on $W: dry_run" "$T/once.out"
check "--once: all files still there" [ -f "$W/old1.log" -a -f "$W/old2.log.1" -a -f "$W/new.log" ]
A="$T/state/audit.jsonl"
check "audit: the planned action, dry-run" [ "$(jq -s '[.[] | select(.action == "remove_old_files" and .dry_run == true and .actuator == null)] | length' "$A")" -ge 1 ]
check "audit: the actuator's would-remove line" [ "$(jq -s '[.[] | select(.actuator != null and .result == "dry_run")] | length' "$A")" -ge 1 ]
check "audit: every line has time, heal id, plugin, before" [ "$(jq -s '[.[] | select(.time and .heal_id and .plugin and (.action == null or .before != null))] | length' "$A")" = "$(wc -l <"$A")" ]
check "knowledge.db records the dry-run heal" [ "$(sqlite3 "$T/state/knowledge.db" "select count(*) from heals where dry_run = 1")" -ge 1 ]

# --- live: the deletion waits for confirmation ---
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
MODE=live write_config "$T/live.conf" "$PDIR" "$DW"
start_agent "$T/live.conf"
pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
wait_for "plan waits for confirmation" 10 pending_id
ID=$(pending_id)
check "pending shows the deletes flag" [ "$(get /api/v1/pending | jq -r '.pending[0].actions[0].flags[0]')" = deletes ]
check "files untouched while pending" [ -f "$W/old1.log" ]
check "confirm without token: 401" [ "$(status_of -X POST "$URL/api/v1/pending/$ID/confirm")" = 401 ]
check "confirm with wrong token: 401" [ "$(status_of -X POST -H 'Authorization: Bearer nope' "$URL/api/v1/pending/$ID/confirm")" = 401 ]
check "confirm unknown id: 404" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/999999/confirm")" = 404 ]
check "confirm with token: 200" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/confirm")" = 200 ]
healed() { get /api/v1/heals | jq -e --argjson id "$ID" '.heals[] | select(.id == $id and .outcome == "healed")'; }
wait_for "confirmed heal is healed" 10 healed
check "old files removed" [ ! -e "$W/old1.log" -a ! -e "$W/old2.log.1" ]
check "new file kept" [ -f "$W/new.log" ]
check "knowledge: remove_old_files 1/1" [ "$(get /api/v1/knowledge | jq '.knowledge[] | select(.action == "remove_old_files") | [.attempts, .successes] == [1,1]')" = true ]
get /metrics >"$T/metrics.txt"
check "metrics: attempt counted" grep -q '^luminous_nix_healing_attempts_total{issue_type="dir_oversize",action="remove_old_files"} 1' "$T/metrics.txt"
check "metrics: success counted" grep -q '^luminous_nix_healing_successes_total{issue_type="dir_oversize",action="remove_old_files"} 1' "$T/metrics.txt"
check "metrics: awaiting_confirmation counted" grep -q 'luminous_nix_healing_suppressed_total{issue_type="dir_oversize",reason="awaiting_confirmation"} 1' "$T/metrics.txt"
check "metrics: bus drops exported" grep -q '^luminous_nix_bus_messages_dropped_total 0' "$T/metrics.txt"
check "promtool accepts /metrics" promtool check metrics <"$T/metrics.txt"
check "audit: the real removal" [ "$(jq -s '[.[] | select(.actuator != null and .result == "ok")] | length' "$A")" -ge 1 ]

# --- health: which components are behind the number ---
check "status names the health components (dirwatch's directory)" \
  [ "$(get /api/v1/status | jq -r --arg w "$W" '.health_components[] | select(.plugin == "dirwatch" and .component == $w) | .score | type')" = number ]

# --- reject ---
fill
rejected() { get /api/v1/heals | jq -e '.heals[] | select(.outcome == "rejected")'; }
wait_for "a new plan is pending" 10 pending_id
ID=$(pending_id)
check "reject with token: 200" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/reject")" = 200 ]
wait_for "rejected heal recorded" 5 rejected
check "nothing removed after reject" [ -f "$W/old1.log" ]

# --- repeats merge into one open issue ---
sleep 1
check "repeats merged (count > 1, one issue)" [ "$(get /api/v1/issues | jq '[.issues[] | select(.type == "dir_oversize")] | (length == 1 and .[0].count > 1)')" = true ]

# --- pause ---
check "pause without token: 401" [ "$(status_of -X POST "$URL/api/v1/pause")" = 401 ]
check "pause: 200" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pause")" = 200 ]
check "status says paused" [ "$(get /api/v1/status | jq .paused)" = true ]
check "resume: 200" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/resume")" = 200 ]
check "status says running" [ "$(get /api/v1/status | jq .paused)" = false ]

# --- reload (also logrotate's signal: the audit log is reopened by name) ---
lines_before=$(wc -l <"$A")
mv "$A" "$A.1"
sed -i 's/log_level = "info"/log_level = "debug"/' "$T/live.conf"
kill -HUP "$AGENT_PID"
wait_for "SIGHUP reloads" 10 grep -q "info agent: reloaded" "$T/agent.log"
check "the rotated audit log kept its lines" [ "$(wc -l <"$A.1")" = "$lines_before" ]
check "a fresh audit.jsonl was opened" [ -f "$A" ]
check "plugins running after reload" [ "$(get /api/v1/plugins | jq -r '.plugins[0].state')" = loaded ]
echo 'agent = { interval = "x"; };' >>"$T/live.conf"
kill -HUP "$AGENT_PID"
wait_for "a bad config is refused on reload" 10 grep -q "reload refused" "$T/agent.log"
check "still serving after a refused reload" [ "$(status_of "$URL/healthz")" = 200 ]
# libconfig's scanner exit()s on an @include of "" (it reads the directory): refused, still alive
sed -i '$d' "$T/live.conf"
echo '@include ""' >>"$T/live.conf"
refused=$(grep -c "reload refused" "$T/agent.log")
kill -HUP "$AGENT_PID"
wait_for "an @include of \"\" is refused on reload" 10 \
    test "$(grep -c "reload refused" "$T/agent.log")" -gt "$refused"
check "still serving after @include \"\"" [ "$(status_of "$URL/healthz")" = 200 ]
check "SIGTERM exits 0" stop_agent
finish
