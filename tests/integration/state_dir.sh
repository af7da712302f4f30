#!/usr/bin/env bash
# The state directory on the real agent: one others may write is refused (start, reload,
# --check-config) with the fix; links planted as audit.jsonl or knowledge.db are refused and
# their targets untouched; a knowledge.db of a newer schema is moved aside; and on a full file
# system (a small tmpfs this test mounts as state_dir) no action runs and no half line is
# written, until space is freed and healing resumes.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/stopper.so")
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 600 &
VICTIM=$!
MNT=""
state_cleanup() { # only what this test started or mounted; keeps finish's exit status
  local rc=$?
  set +e
  kill -KILL "$VICTIM" 2>/dev/null
  wait "$VICTIM" 2>/dev/null
  cleanup_agent_only
  [ -n "$MNT" ] && umount "$MNT" 2>/dev/null
  cleanup
  exit $rc
}
cleanup_agent_only() {
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=""
  fi
}
trap state_cleanup EXIT
S="$T/state"
vstate() { awk '{print $3}' "/proc/$VICTIM/stat"; }
stopped() { [ "$(vstate)" = T ]; }
heal_conf() { MODE=live write_config "$T/heal.conf" "$PDIR" "stopper = { pid = $VICTIM; };" "scope = { uids = [65534]; };"; }
idle_conf() { MODE=live write_config "$T/idle.conf" "$PDIR" "stopper = { pid = 0; };" "scope = { uids = [65534]; };"; }
heal_conf
idle_conf

# 1. A state_dir others may write: --check-config, the start and a reload say how to fix it.
chmod 0777 "$S"
rc=0; "$HEALERD" -c "$T/idle.conf" --check-config >"$T/check.out" 2>"$T/check.err" || rc=$?
check "--check-config exits 2 for a world-writable state_dir" test "$rc" = 2
check "--check-config names the fix" grep -q "state_dir $S is writable by others.*chmod 0700 $S" "$T/check.err"
rc=0; "$HEALERD" -c "$T/idle.conf" 2>"$T/agent.log" || rc=$?
check "the agent refuses to start on it (exit 2)" test "$rc" = 2
check "saying how to fix it" grep -q "chmod 0700 $S" "$T/agent.log"
chmod 0700 "$S"
start_agent "$T/idle.conf"
chmod 0770 "$S"
kill -HUP "$AGENT_PID"
wait_for "a reload is refused while the group may write it" 10 grep -q "reload refused: state_dir $S is writable by its group" "$T/agent.log"
chmod 0700 "$S"
check "SIGTERM exits 0" stop_agent

# 2. Links planted as state files are never followed; their targets are untouched.
echo "root only" >"$T/secret"; chmod 0600 "$T/secret"
mv "$S/audit.jsonl" "$T/audit.saved"
ln -s "$T/secret" "$S/audit.jsonl"
rc=0; "$HEALERD" -c "$T/idle.conf" 2>"$T/agent.log" || rc=$?
check "a link as audit.jsonl is refused" grep -q "$S/audit.jsonl: is a symbolic link: refusing to follow it" "$T/agent.log"
check "the agent did not start" test "$rc" != 0
check "its target is untouched" test "$(cat "$T/secret")" = "root only"
rm "$S/audit.jsonl"; mv "$T/audit.saved" "$S/audit.jsonl"
sqlite3 "$T/other.db" "CREATE TABLE app (v INTEGER); INSERT INTO app VALUES (7);"
sum_before=$(sha256sum <"$T/other.db")
mv "$S/knowledge.db" "$T/kb.saved"; rm -f "$S/knowledge.db-wal" "$S/knowledge.db-shm"
ln -s "$T/other.db" "$S/knowledge.db"
rc=0; "$HEALERD" -c "$T/idle.conf" 2>"$T/agent.log" || rc=$?
check "a link as knowledge.db is refused" grep -q "$S/knowledge.db: is a symbolic link" "$T/agent.log"
check "the other database is untouched" test "$(sha256sum <"$T/other.db")" = "$sum_before"
rm "$S/knowledge.db"

# 3. A knowledge.db of a newer schema is moved aside; the agent starts with a fresh one.
sqlite3 "$S/knowledge.db" "PRAGMA user_version = 99;"
start_agent "$T/idle.conf"
check "a newer schema is moved aside, said where" grep -q "knowledge.db: not a usable knowledge base (schema version 99 is newer than this healerd knows ([0-9]*)); moved it to $S/knowledge.db.corrupt-" "$T/agent.log"
check "the moved file keeps its content" bash -c "[ \"\$(sqlite3 $S/knowledge.db.corrupt-* 'PRAGMA user_version')\" = 99 ]"
# the schema this healerd knows, as it said it (not a number to update with every migration)
known=$(grep -o "newer than this healerd knows ([0-9]*)" "$T/agent.log" | grep -o "[0-9][0-9]*" | head -1)
check "the fresh one is ours (schema $known)" bash -c "[ -n \"$known\" ] && [ \"\$(sqlite3 $S/knowledge.db 'PRAGMA user_version')\" = \"$known\" ]"
check "SIGTERM exits 0" stop_agent

# 4. A full file system: a 2 MiB tmpfs of our own as state_dir.
MNT="$S"
rm -rf "$S"; mkdir -m 0700 "$S"
mount -t tmpfs -o size=2m,mode=0700 healerd-test "$S"
start_agent "$T/idle.conf"
dd if=/dev/zero of="$S/filler" bs=4k 2>/dev/null || true
check "the file system is full" bash -c "! dd if=/dev/zero of='$S/more' bs=4k count=1 2>/dev/null"
lines_before=$(wc -l <"$S/audit.jsonl")
heal_conf; cp "$T/heal.conf" "$T/idle.conf.live"; cp "$T/heal.conf" "$T/cur.conf"
# Raise the issue by a reload to the config naming the victim.
cp "$T/heal.conf" "$T/idle.conf"; kill -HUP "$AGENT_PID"
wait_for "the stop is refused for want of an audit line" 20 grep -q "signal .* for stopper refused: the audit log $S/audit.jsonl cannot be written" "$T/agent.log"
wait_for "status says the audit log is failing" 10 bash -c "curl -s '$URL/api/v1/status' | jq -e '.audit == \"failing\"'"
check "counted in audit_failures_total" bash -c "curl -s '$URL/metrics' | grep -Eq '^[a-z_]*_audit_failures_total [1-9]'"
check "the victim was not stopped" bash -c "[ \"\$(awk '{print \$3}' /proc/$VICTIM/stat)\" != T ]"
check "no half line: the file ends a line" bash -c "[ ! -s '$S/audit.jsonl' ] || [ \"\$(tail -c1 '$S/audit.jsonl' | od -An -c | tr -d ' ')\" = '\\n' ]"
check "every line is JSON" bash -c "jq -c . '$S/audit.jsonl' >/dev/null"
check "no line claims the stop was done" bash -c "! jq -e 'select(.actuator == \"signal\" and .result == \"ok\")' '$S/audit.jsonl' | grep -q ."
# Space again: the issue is closed and raised once more; this time the stop is done, audited.
rm -f "$S/filler"
idle_conf; kill -HUP "$AGENT_PID"
wait_for "the issue closes" 20 bash -c "curl -s '$URL/api/v1/issues' | jq -e '[.issues[] | select(.type == \"stopper_issue\")] | length == 0'"
heal_conf; cp "$T/heal.conf" "$T/idle.conf"; kill -HUP "$AGENT_PID"
wait_for "healing resumes once space is free: the victim is stopped" 20 stopped
wait_for "the stop is audited" 10 bash -c "jq -e 'select(.actuator == \"signal\" and .result == \"ok\")' '$S/audit.jsonl' | grep -q ."
check "status says the audit log is ok" bash -c "curl -s '$URL/api/v1/status' | jq -e '.audit == \"ok\"'"
check "every line is JSON" bash -c "jq -c . '$S/audit.jsonl' >/dev/null"
stop_agent || true
umount "$S" && MNT=""
finish
