#!/usr/bin/env bash
# python_plugin.sh — a plugin that is a program (plugins.<name>.exec): the Python example
# sdk/examples/python/filewatch.py run by the real agent, live. An old file appears in the
# watched directory -> stale_files issue -> plan -> its action runs through the agent's
# act_remove_old_files (audited; the old file really gone, the new one kept) -> verdict healed.
# The program is checked like a .so (a symlink or a group-writable program is refused), and a
# program that crashes is contained like any plugin child while the others keep healing.
# A program is confined like a .so child (healerd-plugin confines itself, then executes it): the
# fixture tests/fixtures/programs/pyprobe.py (the example plus direct attempts) gets EPERM from
# kill(2) of a process this test started and EACCES opening /proc/sys/vm/drop_caches for writing,
# while the agent's act_signal on the same process and its own heal work.
set -euo pipefail
# Old files are made old in all three times (debugfs on a loop-mounted ext4 in this test's own
# mount namespace): the agent ages a file by the newest of atime/mtime/ctime, and touch -d leaves
# ctime at now.
. "$SRC/tests/plugins/disk_lib.sh"
disk_private_ns "$0" "$@"
export MODE=live MAX_HEALS=100000 INTERVAL=0.3
. "$SRC/tests/lib/agent.sh"
disk_need_ext4
trap 'for d in watched watched1 watched2; do umount "$T/$d" 2>/dev/null || true; done; cleanup' EXIT

/usr/bin/python3 -c 'import msgpack' || { echo "python3-msgpack is missing: scripts/install-deps.sh"; exit 1; }
FIX="$BUILD/tests/plugins"
PROG="$T/programs/filewatch.py"
mkdir -p -m 0755 "$T/programs" "$T/watched" "$T/out"
disk_old_dir "$T/watched"
install -m 0755 "$SRC/sdk/examples/python/filewatch.py" "$PROG"
PD=$(plugin_dir "$FIX/ticker.so")
fw() { # extra keys for the filewatch section; more sections
  echo "filewatch = { exec = \"$1\"; directory = \"$T/watched\"; paths_allow = [\"$T/watched\"];
      max_age_days = 1.0; auto_delete = true; allow_auto = true; interval = 0.3; ${2:-} };
    ticker = { dir = \"$T/out\"; paths_allow = [\"$T/out\"]; isolation = \"process\"; }; ${3:-}"
}
# The same program (its own name and issue type) as a child protocol 1 reader (no "protocol" in
# its descriptor): the agent must send it one message per datagram (msgpack.unpackb of a batch
# would raise and end it), while filewatch (protocol 2) may get batches.
PROG1="$T/programs/filewatch1.py"
sed -e 's/^NAME = "filewatch"$/NAME = "filewatch1"/' -e 's/^ISSUE = "stale_files"$/ISSUE = "stale_files1"/' \
  -e '/"protocol": 2,/d' "$PROG" >"$PROG1"
chmod 0755 "$PROG1"
mkdir -p -m 0755 "$T/watched1"
disk_old_dir "$T/watched1"
FW1="filewatch1 = { exec = \"$PROG1\"; directory = \"$T/watched1\"; paths_allow = [\"$T/watched1\"];
      max_age_days = 1.0; auto_delete = true; allow_auto = true; interval = 0.3; };"

# ---- the describe handshake: --check-config reads the program in a child ---------------------
check "the example announces child protocol 2" bash -c "'$PROG' --describe | jq -e '.protocol == 2'"
check "its protocol 1 copy announces none" bash -c "'$PROG1' --describe | jq -e '.name == \"filewatch1\" and (has(\"protocol\") | not)'"
write_config "$T/c.conf" "$PD" "$(fw "$PROG" "" "$FW1")"
check "--check-config accepts the Python plugin" "$HEALERD" --check-config -c "$T/c.conf"

# ---- file safety: the program is checked like a .so --------------------------------------------
ln -sf "$PROG" "$T/programs/link.py"
write_config "$T/l.conf" "$PD" "$(fw "$T/programs/link.py")"
rc=0; "$HEALERD" --check-config -c "$T/l.conf" 2>"$T/l.err" || rc=$?
check "a program named through a symlink is refused" bash -c "[ $rc -eq 2 ] && grep -q 'exec names a symbolic link' $T/l.err"
install -m 0775 "$PROG" "$T/programs/gw.py"
write_config "$T/g.conf" "$PD" "$(fw "$T/programs/gw.py")"
rc=0; "$HEALERD" --check-config -c "$T/g.conf" 2>"$T/g.err" || rc=$?
check "a group-writable program is refused" bash -c "[ $rc -eq 2 ] && grep -q 'the program $T/programs/gw.py.*writable' $T/g.err"
write_config "$T/t.conf" "$PD" "$(fw "$PROG" 'isolation = "thread";')"
rc=0; "$HEALERD" --check-config -c "$T/t.conf" 2>"$T/t.err" || rc=$?
check "isolation = thread with exec is refused" bash -c "[ $rc -eq 2 ] && grep -q 'cannot hold a program' $T/t.err"

# ---- end to end, live -------------------------------------------------------------------------
start_agent "$T/c.conf"
wait_for "the Python plugin is running in its own process" 20 bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"filewatch\") | .state==\"loaded\" and .isolation==\"process\" and .process.run_state==\"running\"'"
echo fresh >"$T/watched/keep.txt"
head -c 5000 /dev/zero >"$T/watched/old.log"
disk_make_old 10 "$T/watched" "$T/watched/old.log"
wait_for "stale_files healed through the agent" 30 grep -q "heal #.* stale_files on $T/watched: healed" "$T/agent.log"
check "the old file was really removed" test ! -e "$T/watched/old.log"
check "the new file was kept" test -e "$T/watched/keep.txt"
check "the removal is in the audit log, by filewatch, through remove_old_files" bash -c \
  "jq -e -s 'map(select(.plugin==\"filewatch\" and (tostring|test(\"remove_old_files\")) and (tostring|test(\"old.log\")))) | length >= 1' $T/state/audit.jsonl >/dev/null"
wait_for "the issue is resolved by the plugin" 10 bash -c \
  "! curl -s $URL/api/v1/issues | jq -e '.issues[]? | select((.type|startswith(\"stale_files\")) and .state!=\"healed\")'"
head -c 100 /dev/zero >"$T/watched1/old1.log"
disk_make_old 10 "$T/watched1" "$T/watched1/old1.log"
wait_for "the protocol 1 copy heals as well (one message per datagram)" 30 bash -c "[ ! -e $T/watched1/old1.log ]"
check "no malformed message either way, and the protocol 1 copy never crashed" bash -c \
  "! grep -q -e 'malformed message' -e 'filewatch1 crashed' $T/agent.log"

# ---- a crash of the program is contained -----------------------------------------------------
PYPID=$(curl -s "$URL/api/v1/plugins" | jq -r '.plugins[] | select(.name=="filewatch") | .process.pid')
check "the program runs as a child of the agent" bash -c "[ \"\$(awk '{print \$4}' /proc/$PYPID/stat)\" = $AGENT_PID ]"
check "the child runs the program checked (its descriptor)" bash -c "[ \"\$(readlink /proc/$PYPID/fd/4)\" = $PROG ] && grep -q python3 /proc/$PYPID/cmdline"
kill -SEGV "$PYPID" # our agent's child, started by this test
wait_for "the crash is logged with its signal" 10 grep -q "plugin filewatch crashed: killed by signal 11 (SIGSEGV)" "$T/agent.log"
before=$(ls "$T/out" | wc -l)
wait_for "the ticker keeps healing" 20 bash -c "[ \$(ls $T/out | wc -l) -gt $before ]"
wait_for "the program is restarted" 20 bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"filewatch\") | .process.run_state==\"running\" and .process.crashes==1'"
head -c 100 /dev/zero >"$T/watched/old2.log"
disk_make_old 10 "$T/watched" "$T/watched/old2.log"
wait_for "the restarted program heals again" 30 bash -c "[ ! -e $T/watched/old2.log ]"
check "the agent is alive" kill -0 "$AGENT_PID"
stop_agent
check "the program stops with the agent on MSG_STOP, not killed" bash -c \
  "! grep -q -e 'filewatch crashed' -e 'filewatch.*did not stop' <(sed -n '/SIGTERM received/,\$p' $T/agent.log)"

# ---- a program is confined: direct changes fail, the same through the agent work --------------
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
VICTIM=$!
trap 'kill -KILL $VICTIM 2>/dev/null || true; for d in watched watched1 watched2; do umount "$T/$d" 2>/dev/null || true; done; cleanup' EXIT
export HEALER_PY_EXAMPLES="$SRC/sdk/examples/python" PYTHONDONTWRITEBYTECODE=1
install -m 0755 "$SRC/tests/fixtures/programs/pyprobe.py" "$T/programs/pyprobe.py"
mkdir -p "$T/watched2"
disk_old_dir "$T/watched2"
head -c 100 /dev/zero >"$T/watched2/old.log"
disk_make_old 10 "$T/watched2" "$T/watched2/old.log"
write_config "$T/p.conf" "$PD" "pyprobe = { exec = \"$T/programs/pyprobe.py\"; pid = $VICTIM;
    directory = \"$T/watched2\"; paths_allow = [\"$T/watched2\"]; max_age_days = 1.0;
    auto_delete = true; allow_auto = true; interval = 0.3; };" "scope = { uids = [65534]; };"
start_agent "$T/p.conf"
wait_for "the probe's heal ran through the agent" 30 grep -q "heal #.* stale_files on $T/watched2: healed" "$T/agent.log"
check "direct kill(2) of the test's process: EPERM" grep -q "pyprobe: direct kill other: EPERM" "$T/agent.log"
check "direct open of /proc/sys/vm/drop_caches for writing: refused" grep -Eq "pyprobe: direct open drop_caches: (EACCES|EPERM)" "$T/agent.log"
check "the agent's act_signal worked" grep -q "pyprobe: host signal: 0 " "$T/agent.log"
check "the process survived the direct SIGKILL and is stopped by the agent" \
  bash -c "[ \"\$(awk '{print \$3}' /proc/$VICTIM/stat)\" = T ]"
check "the old file was removed through the agent" test ! -e "$T/watched2/old.log"
PYPID=$(curl -s "$URL/api/v1/plugins" | jq -r '.plugins[] | select(.name=="pyprobe") | .process.pid')
check "the program runs with no_new_privs, a seccomp filter and only dac_read_search" bash -c \
  "grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$PYPID/status && grep -q '^Seccomp:[[:space:]]*2' /proc/$PYPID/status && grep -q '^CapEff:[[:space:]]*0000000000000004' /proc/$PYPID/status"
check "healerd-plugin logged how it confined the program" grep -q "healerd-plugin: $T/programs/pyprobe.py: no_new_privs" "$T/agent.log"
check "/api/v1/plugins says the program is confined" bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"pyprobe\") | .process.privileges | test(\"confined by healerd-plugin\")' >/dev/null"
stop_agent
kill -CONT "$VICTIM" 2>/dev/null || true
finish
