#!/usr/bin/env bash
# nixconfig syntax fixes with the real agent and the real nix-instantiate: an automatic fix in
# an imported file (backed up first, old backups pruned, the file parses afterwards); a fix that
# waits for confirmation, shows the exact change, and is applied once confirmed over HTTP; a
# broken file it must not "fix" stays byte-identical.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/nixconfig_lib.sh"
parses() { nix-instantiate --parse "$1" >/dev/null 2>&1; }

# --- automatic, in an imported module -------------------------------------------------------
cp "$FIX/imports-broken.nix" "$ETC/configuration.nix"
cp "$FIX/hardware.nix" "$FIX/broken-module.nix" "$ETC/"
cp "$ETC/broken-module.nix" "$T/orig-module.nix"
mkdir -p "$NC/backups"
# Backups are named after the file's full path, '/' and '%' percent-escaped.
BB=$(printf '%s' "${ETC#/}/broken-module.nix" | sed 's/%/%25/g; s|/|%2F|g')
for d in 20200101-000000 20200102-000000 20200103-000000; do
  echo old >"$NC/backups/$BB.$d"; touch -d '400 days ago' "$NC/backups/$BB.$d"
done
echo keep >"$NC/backups/$BB.old.20200101-000000"; touch -d '400 days ago' "$NC/backups/$BB.old.20200101-000000"
echo keep >"$NC/backups/other.nix.20200101-000000"; touch -d '400 days ago' "$NC/backups/other.nix.20200101-000000"
# touch ages atime and mtime, never ctime, and remove_old_files ages a file by the newest of the
# three: a backup whose ctime is in the current second is not yet "older than 0 days". Start the
# agent in a later second, as a real backup always is by the next fix.
t0=$(date +%s); while [ "$(date +%s)" = "$t0" ]; do sleep 0.05; done
ACTION_TIMEOUT=30 MODE=live write_config "$T/auto.conf" "$PDIR" "$(NIXCONF 'auto_fix = true; backups_keep = 2;')"
start_agent "$T/auto.conf"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "nixos_config_invalid" and .outcome == "healed")'; }
wait_for "auto: the broken import is fixed (heal healed)" 20 healed
get /api/v1/heals | jq -r '.heals[0].actions[0] | "\(.action): \(.message)"'
check "auto: the module parses now" parses "$ETC/broken-module.nix"
check "auto: exactly the missing ';' was inserted" diff <(sed 's/enable = true$/enable = true;/' "$T/orig-module.nix") "$ETC/broken-module.nix"
check "auto: the main file untouched" cmp -s "$FIX/imports-broken.nix" "$ETC/configuration.nix"
NEWB=$(ls "$NC/backups" | grep -F "$BB." | grep -v -e "$BB.2020" -e "$BB.old" | head -n1)
check "auto: a timestamped backup of the original, named after its full path" cmp -s "$T/orig-module.nix" "$NC/backups/$NEWB"
check "auto: old backups pruned to backups_keep = 2" [ "$(ls "$NC/backups" | grep -F "$BB." | grep -vc -F "$BB.old")" = 2 ]
check "auto: the newest old backup kept, the oldest gone" [ -f "$NC/backups/$BB.20200103-000000" -a ! -e "$NC/backups/$BB.20200101-000000" ]
check "auto: another file's backups untouched (a.nix.old's too)" [ -f "$NC/backups/other.nix.20200101-000000" -a -f "$NC/backups/$BB.old.20200101-000000" ]
check "audit: the write of the module" jq -s -e --arg p "$ETC/broken-module.nix" 'any(.[]; .actuator == "write_file" and .target == $p and .result == "ok")' "$A"
closed() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "nixos_config_invalid")'; }
wait_for "auto: the issue is closed" 10 closed
stop_agent

# --- confirmation: pending with the exact change, applied once confirmed --------------------
rm -rf "$T/state"
cp "$FIX/unclosed-brace.nix" "$ETC/configuration.nix"
rm -f "$ETC/hardware.nix" "$ETC/broken-module.nix"
MODE=live write_config "$T/confirm.conf" "$PDIR" "$(NIXCONF '')"
start_agent "$T/confirm.conf"
pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
wait_for "confirm: the fix waits for confirmation" 20 pending_id
ID=$(pending_id)
DESC=$(get /api/v1/pending | jq -r '.pending[0].actions[0].description')
echo "pending: $DESC"
check "confirm: the description names the edit and its place" grep -q "insert '}\\\\n' at 7:1" <<<"$DESC"
check "confirm: the description carries the diff" grep -q "@@ -7 +7 @@" <<<"$DESC"
check "confirm: flagged as a configuration change" [ "$(get /api/v1/pending | jq -r '.pending[0].actions[0].flags | index("config") != null')" = true ]
sleep 1
check "confirm: unchanged while pending" cmp -s "$FIX/unclosed-brace.nix" "$ETC/configuration.nix"
check "confirm: 200 with the token" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/confirm")" = 200 ]
wait_for "confirm: healed" 20 healed
check "confirm: parses now" parses "$ETC/configuration.nix"
check "confirm: the closing brace was added at the end" diff <(cat "$FIX/unclosed-brace.nix"; echo "}") "$ETC/configuration.nix"
stop_agent

# --- not fixable: reported, never touched ---------------------------------------------------
rm -rf "$T/state"
cp "$FIX/not-fixable.nix" "$ETC/configuration.nix"
MODE=live write_config "$T/nofix.conf" "$PDIR" "$(NIXCONF 'auto_fix = true;')"
start_agent "$T/nofix.conf"
reported() { get /api/v1/issues | jq -e --arg f "$ETC/configuration.nix" '.issues[] | select(.type == "nixos_config_invalid" and .target == $f and .measurements.error_line == 3 and .measurements.error_column == 25)'; }
wait_for "nofix: reported with line 3, column 25" 20 reported
get /api/v1/issues | jq -r '.issues[0].summary'
check "nofix: the summary carries file:line:column and the parser's message" bash -c "get() { curl -s '$URL'\$1; }; get /api/v1/issues | jq -r '.issues[0].summary' | grep -q '$ETC/configuration.nix:3:25: syntax error, unexpected'"
# No plugin proposed an action: the engine says so on the issue (reason no_action) or, in
# older engines, records a failed heal.
noaction() { get /api/v1/issues | jq -e '.issues[] | select(.type == "nixos_config_invalid" and .reason == "no_action")' ||
             get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "nixos_config_invalid" and .outcome == "failed")'; }
wait_for "nofix: no action proposed" 20 noaction
check "nofix: byte-identical" cmp -s "$FIX/not-fixable.nix" "$ETC/configuration.nix"
jq -c '{action,actuator,target,result}' "$A" 2>/dev/null || true
check "nofix: no write in the audit" jq -s -e 'all(.[]; .actuator != "write_file")' "$A"
stop_agent
finish
