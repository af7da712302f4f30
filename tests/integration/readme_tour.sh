#!/usr/bin/env bash
# The README tour as written (issue #10, safe first contact): the development config that CMake
# generates, the README's own commands (read from README.md, paths moved into the test's
# directory and the port made ephemeral), dry-run first, then live for the example plugin only.
# Every built-in plugin stays in dry-run: the audit log holds no change by any plugin but
# dirwatch, and dirwatch's plan waits for confirmation, then deletes the demo files.
. "$SRC/tests/lib/agent.sh"
DEV="$BUILD/healerd.conf"
[ -f "$DEV" ] || { echo "1..0 # SKIP no $DEV"; exit 0; }
S="$BUILD/state"
# The dev config with its state and port moved into $T (the dirwatch directory too).
# Its plugins copied into $T: a clone below a world-writable /tmp (CI's may be) has its build
# tree's plugin folder refused by the loader, as the README says.
PD=$(plugin_dir "$BUILD"/plugins/*.so)
sed -e "s#$S#$T/state#g" -e 's#"127.0.0.1:9191"#"127.0.0.1:0"#' \
  -e "s#plugin_dir = \"$BUILD/plugins\"#plugin_dir = \"$PD\"#" "$DEV" >"$T/dev.conf"
check "the dev config's plugin folder was moved" grep -q "plugin_dir = \"$PD\"" "$T/dev.conf"
mkdir -p "$T/state"
check "the dev config is dry-run" grep -q '^  mode = "dry-run";' "$T/dev.conf"
check "README step 3: the dev config counts every demo file as old, as the README says" \
  bash -c "sed -n '/^  dirwatch = {/,/^  };/p' '$T/dev.conf' | grep -q '^    max_age_days = 0.0;' && grep -q 'sets to 0' '$SRC/README.md'"
for p in cpu thermal memory disk nixconfig service network plans; do
  check "the dev config pins $p to dry-run" grep -q "^  $p = { mode = \"dry-run\"; };" "$T/dev.conf"
done

# README step 3, verbatim but for the paths.
tour() { sed -n '/^## A five-minute tour/,/^## /p' "$SRC/README.md"; }
tour_cmd() { tour | grep -E "^        $1" | sed -e 's/^        //' -e "s#build/state#$T/state#g" \
  -e "s#build/healerd.conf#$T/dev.conf#g" -e "s#build/live.conf#$T/live.conf#g" -e "s#build/bin/#$BUILD/bin/#g"; }
[ -n "$(tour_cmd 'for i in')" ] || { bad "README step 3 commands found"; finish; }

start_agent "$T/dev.conf"
check "dry-run: every plugin says dry-run" \
  bash -c "curl -s $URL/api/v1/plugins | jq -e '[.plugins[] | select(.state == \"loaded\") | .mode] | length > 0 and all(. == \"dry-run\")'"
( cd "$T" && eval "$(tour_cmd 'mkdir -p')" && eval "$(tour_cmd 'for i in')" )
dry_heal() { "$HEALCTL" --url "$URL" --json history | jq -e '.heals[] | select(.issue_type == "dir_oversize" and .outcome == "dry_run")'; }
wait_for "README step 3: healctl history shows a dry_run heal" 30 dry_heal
check "nothing was deleted" [ -f "$T/state/demo/old1.log" ]
check "SIGTERM exits 0" stop_agent

# README step 4: the token, the live copy, and the agent on it.
eval "$(tour_cmd 'head -c 24')"
check "README step 4: a token was written" [ -s "$T/state/token" ]
eval "$(tour_cmd "sed '0,")"
check "README step 4: the live copy's agent section is live" \
  bash -c "sed -n '/^agent = {/,/^};/p' '$T/live.conf' | grep -q 'mode = \"live\";'"
start_agent "$T/live.conf"
plugin_mode() { curl -s "$URL/api/v1/plugins" | jq -r --arg n "$1" '.plugins[] | select(.name == $n) | .mode'; }
check "live: dirwatch is live" [ "$(plugin_mode dirwatch)" = live ]
for p in cpu thermal memory disk nixconfig service network plans; do
  m=$(plugin_mode "$p")
  [ -z "$m" ] || check "live: $p stays in dry-run" [ "$m" = dry-run ]
done
pending_id() { "$HEALCTL" --url "$URL" --json pending | jq -e '.pending[] | select(.issue_type == "dir_oversize") | .id'; }
wait_for "live: dirwatch's plan waits for confirmation (it deletes files)" 30 pending_id
check "nothing deleted while pending" [ -f "$T/state/demo/old1.log" ]
ID=$(pending_id)
check "healctl confirm with the README's token file" \
  "$HEALCTL" --url "$URL" --token-file "$T/state/token" confirm "$ID"
removed() { [ ! -e "$T/state/demo/old1.log" ]; }
wait_for "the old files are removed" 30 removed
A="$T/state/audit.jsonl"
check "audit: no change by any plugin but dirwatch" \
  jq -se '[.[] | select(.actuator != null and .dry_run != true and .plugin != "dirwatch" and .result == "ok")] | length == 0' "$A"
check "SIGTERM exits 0" stop_agent

# Beyond the tour: the same live agent with dirwatch itself in dry-run (plugins.dirwatch.mode):
# its heal is a dry run (no confirmation asked, history says dry_run) and nothing is deleted.
sed 's#^  dirwatch = {#  dirwatch = {\n    mode = "dry-run";#' "$T/live.conf" >"$T/pdry.conf"
for i in 1 2 3; do head -c 50M /dev/zero >"$T/state/demo/old$i.log"; done
start_agent "$T/pdry.conf"
check "plugin dry-run in a live agent: /api/v1/status says live" \
  [ "$(get /api/v1/status | jq -r .mode)" = live ]
check "plugin dry-run in a live agent: dirwatch says dry-run" [ "$(plugin_mode dirwatch)" = dry-run ]
dry_heals() { "$HEALCTL" --url "$URL" --json history | jq -e '[.heals[] | select(.issue_type == "dir_oversize" and .outcome == "dry_run")] | length >= 2'; }
wait_for "plugin dry-run: a dry_run heal, without asking" 30 dry_heals || tail -n 20 "$T/agent.log"
check "plugin dry-run: nothing pending" bash -c "! '$HEALCTL' --url '$URL' --json pending | jq -e '.pending[] | select(.issue_type == \"dir_oversize\")'"
check "plugin dry-run: nothing deleted" [ -f "$T/state/demo/old1.log" ]
check "SIGTERM exits 0" stop_agent
finish
