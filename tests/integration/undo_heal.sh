#!/usr/bin/env bash
# Point-in-time recovery (issue #15 item 3): the real agent (live) heals with the changer
# fixture, which writes a file in a declared directory, renices a process this test started,
# stops it (SIGSTOP) and kills another. `healctl undo HEAL_ID` writes the file back, renices
# back and continues the process, and says the killed one cannot be brought back; --dry-run
# changes nothing; no token is 401; `restore --to` reverts two heals newest first; a file
# edited after its heal is refused unless --force; removed files come back from the copies
# agent.backup_deletions_max_mb allows, and one too big for it is said to be lost.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/changer.so")
DATA="$T/data"
mkdir -m 0755 "$DATA"
OUT="$DATA/app.conf"
TRIG="$T/trigger"
echo original >"$OUT"
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
VICTIM=$!
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
DOOMED=$!
pitr_cleanup() { # only what this test started; keeps finish's exit status
  local rc=$?
  set +e
  kill -CONT "$VICTIM" 2>/dev/null
  kill -KILL "$VICTIM" "$DOOMED" 2>/dev/null
  wait "$VICTIM" "$DOOMED" 2>/dev/null
  cleanup
  exit $rc
}
trap pitr_cleanup EXIT
echo "s3cret-token" >"$T/token"
chmod 600 "$T/token"

state() { awk '{print $3}' "/proc/$VICTIM/stat"; }
nice_of() { awk '{print $19}' "/proc/$VICTIM/stat"; }
stopped() { [ "$(state)" = T ]; }
running() { [ "$(state)" != T ]; }
content() { [ "$(cat "$OUT")" = "$1" ]; }
nice_is() { [ "$(nice_of)" = "$1" ]; }
heal_of() { # the heal that wrote healed-TAG, from the audit log
  jq -r --arg v "healed-$1" 'select(.plugin == "changer" and .actuator == "write_file" and .result == "ok" and (.params.value | rtrimstr("\n")) == $v) | .heal_id' "$T/state/audit.jsonl" | tail -n1
}
healed() { # TAG: the heal ran and its change is in the change log
  content "healed-$1" && [ -n "$(heal_of "$1")" ]
}
ctl() { "$HEALCTL" --url "$URL" --token-file "$T/token" "$@"; }

SPOOL="$DATA/spool"
mkdir -m 0755 "$SPOOL"
MODE=live write_config "$T/agent.conf" "$PDIR" \
  "changer = { trigger = \"$TRIG\"; out = \"$OUT\"; pid = $VICTIM; kill_pid = $DOOMED; clean_dir = \"$SPOOL\"; paths_allow = [\"$DATA\"]; };" \
  "scope = { uids = [65534]; };"
sed -i 's/^  action_timeout = .*/&\n  backup_deletions_max_mb = 1;/' "$T/agent.conf"
start_agent "$T/agent.conf"

# ---- one heal: write, renice, stop, kill ----
echo "A stop kill" >"$TRIG"
wait_for "heal A wrote the file" 10 healed A
wait_for "and stopped the victim" 10 stopped
check "and reniced it to 5" nice_is 5
wait_for "and killed the other process" 10 bash -c "! kill -0 $DOOMED"
rm -f "$TRIG"
HA=$(heal_of A)
check "the change log names heal A's changes" bash -c "[ \$(grep -c '\"heal_id\":$HA' '$T/state/changes.jsonl') -ge 4 ]"

check "undo without a token is 401" [ "$(status_of -X POST "$URL/api/v1/heals/$HA/undo")" = 401 ]
check "restore without a token is 401" [ "$(status_of -X POST "$URL/api/v1/restore?to=-1h")" = 401 ]
check "GET on the undo route is 405" [ "$(status_of "$URL/api/v1/heals/$HA/undo")" = 405 ]

ctl undo "$HA" --dry-run >"$T/dry.out"
check "--dry-run says what it would do" grep -q "^would .*write" "$T/dry.out"
check "--dry-run would continue the victim" grep -q "^would .*stop pid:$VICTIM" "$T/dry.out"
check "--dry-run changed no file" content healed-A
check "--dry-run left the victim stopped" stopped
check "--dry-run left the nice value" nice_is 5

ctl undo "$HA" >"$T/undo.out"
check "undo exits 0" test $? -eq 0
check "the file is back" content original
check "the victim runs again" running
check "its nice value is back" nice_is 0
check "the killed process is reported not undoable" grep -q "^NOT .*kill pid:$DOOMED: not_undoable: .*cannot be brought back" "$T/undo.out"
check "newest first: the stop, then the renice, then the write" bash -c "grep -n '^undone' '$T/undo.out' | awk -F: '{print \$2}' | grep -o 'stop\|renice\|write' | tr '\n' ' ' | grep -q '^stop renice write'"
check "each reversal audited as operator/undo with heal A's id" bash -c "[ \$(jq -c 'select(.plugin == \"operator\" and .action == \"undo\" and .heal_id == $HA and .result == \"ok\" and .actuator != null)' '$T/state/audit.jsonl' | wc -l) -eq 3 ]"
check "and the request itself audited" bash -c "jq -s -e '[.[] | select(.plugin == \"operator\" and .action == \"undo\" and .actuator == null and .params.undone == 3 and .params.dry_run == false)] | length == 1' '$T/state/audit.jsonl' >/dev/null"
ctl undo "$HA" >"$T/again.out"
check "a second undo finds it all undone" bash -c "[ \$(grep -c '^already' '$T/again.out') -eq 3 ]"
rc=0; ctl undo 999999 2>"$T/404.err" || rc=$?
check "an unknown heal is an error naming 404" bash -c "[ $rc -eq 1 ] && grep -q 404 '$T/404.err'"

# ---- restore over two heals, newest first ----
T0=$(date +%s.%N)
sleep 0.05
echo "B" >"$TRIG"
wait_for "heal B wrote the file" 10 healed B
rm -f "$TRIG"
echo "C" >"$TRIG"
wait_for "heal C wrote the file" 10 healed C
rm -f "$TRIG"
check "two renices: nice 10" nice_is 10
ctl restore --to "$T0" --json >"$T/restore.json"
check "restore: the file is back to what it was before B" content original
check "restore: nice back to 0" nice_is 0
check "restore: newest change first" jq -e '[.items[].change] as $c | $c == ($c | sort | reverse)' "$T/restore.json"
check "restore: 4 undone, none refused" jq -e '.undone == 4 and ([.items[] | select(.result == "refused")] | length) == 0' "$T/restore.json"

# ---- a file edited after its heal ----
echo "D" >"$TRIG"
wait_for "heal D wrote the file" 10 healed D
rm -f "$TRIG"
HD=$(heal_of D)
echo "edited by hand" >"$OUT"
rc=0; ctl undo "$HD" >"$T/edited.out" || rc=$?
check "a refused write makes undo exit 1" test "$rc" -eq 1
check "it says the file changed since" grep -q "^NOT .*write.*refused: .*changed since the heal wrote it" "$T/edited.out"
check "the hand edit is kept" content "edited by hand"
check "the renice of the same heal was undone" nice_is 0
ctl undo "$HD" --force >"$T/forced.out"
check "--force writes the backup back" content original

# ---- removed files, kept within agent.backup_deletions_max_mb = 1 ----
echo alpha >"$SPOOL/a.log"
echo beta >"$SPOOL/b.log"
chmod 640 "$SPOOL/b.log"
head -c 2097152 /dev/zero >"$SPOOL/big.bin"   # 2 MiB: more than the bound
sleep 1.1   # older than the heal by the newest of atime/mtime/ctime
echo "E clean" >"$TRIG"
wait_for "heal E emptied the spool" 10 bash -c "[ -z \"\$(ls -A '$SPOOL')\" ]"
rm -f "$TRIG"
HE=$(heal_of E)
# (jq -s: jq -e over many lines answers for the last line only)
wait_for "two copies kept, the big file not" 10 bash -c "jq -s -e '[.[] | select(.actuator == \"remove_old_files\" and .heal_id == $HE and .params.kept == 2 and .params.not_kept == 1)] | length == 1' '$T/state/audit.jsonl'"
ctl undo "$HE" >"$T/files.out"
check "a.log is back" bash -c "[ \"\$(cat '$SPOOL/a.log')\" = alpha ]"
check "b.log is back with its mode" bash -c "[ \"\$(cat '$SPOOL/b.log')\" = beta ] && [ \$(stat -c %a '$SPOOL/b.log') = 640 ]"
check "the big one is not" test ! -e "$SPOOL/big.bin"
check "and the answer says it did not fit" grep -q "^undone .*remove.*put back 2 .*1 of the removed files did not fit" "$T/files.out"

check "SIGTERM exits 0" stop_agent
finish
