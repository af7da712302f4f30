#!/usr/bin/env bash
# What a plugin author hit, on the real agent: a misspelled plugins.<name> section refused with the
# nearest name (--check-config, start, reload), a .so named otherwise than its descriptor refused
# with the fix, --once exiting 2 when a plugin was refused, the real reason in /api/v1/plugins,
# and one state_dir per agent (a second agent and --once are refused while one runs).
. "$SRC/tests/lib/agent.sh"

PDIR=$(plugin_dir "$BUILD/plugins/dirwatch.so")
mkdir -p "$T/watched"
GOOD="dirwatch = { directory = \"$T/watched\"; paths_allow = [\"$T/watched\"]; max_bytes = 1000000; };"

# ---- a misspelled section ------------------------------------------------------------------
write_config "$T/typo.conf" "$PDIR" "$GOOD
  dirwacth = { max_bytes = 5; };"
LINE=$(grep -n 'dirwacth' "$T/typo.conf" | cut -d: -f1)
set +e
"$HEALERD" -c "$T/typo.conf" --check-config >"$T/cc.out" 2>"$T/cc.err"; rc=$?
set -e
check "--check-config exits 2 on an unknown plugin section" [ "$rc" = 2 ]
check "it names FILE:LINE and the nearest plugin" \
  grep -q "^$T/typo.conf:$LINE: unknown plugin section 'dirwacth': did you mean 'dirwatch'?" "$T/cc.err"
set +e
"$HEALERD" -c "$T/typo.conf" 2>"$T/start.err"; rc=$?
set -e
check "the agent refuses to start with it: exit 2" [ "$rc" = 2 ]
check "and says why" grep -q "unknown plugin section 'dirwacth': did you mean 'dirwatch'?" "$T/start.err"

# ---- a reload to it is refused; the running set stays -----------------------------------------
write_config "$T/a.conf" "$PDIR" "$GOOD"
start_agent "$T/a.conf"
cp "$T/typo.conf" "$T/a.conf"
kill -HUP "$AGENT_PID"
wait_for "a reload with the typo is refused" 10 grep -q "reload refused: .*problem" "$T/agent.log"
check "the reload names the section" grep -q "unknown plugin section 'dirwacth'" "$T/agent.log"
check "dirwatch still runs" [ "$(get /api/v1/plugins | jq -r '.plugins[] | select(.name == "dirwatch") | .state')" = loaded ]

# ---- one state_dir, one agent ----------------------------------------------------------------
write_config "$T/b.conf" "$PDIR" "$GOOD"
set +e
"$HEALERD" -c "$T/b.conf" 2>"$T/second.err"; rc=$?
"$HEALERD" -c "$T/b.conf" --once >"$T/once-locked.out" 2>"$T/once-locked.err"; rc_once=$?
"$HEALERD" -c "$T/b.conf" --check-config >/dev/null 2>&1; rc_cc=$?
set -e
check "a second agent on the same state_dir exits 1" [ "$rc" = 1 ]
check "naming the state_dir and the running agent's pid" \
  grep -q "state_dir $T/state is in use by another healerd (pid $AGENT_PID)" "$T/second.err"
check "--once on it is refused too (exit 1)" [ "$rc_once" = 1 ]
check "--check-config needs no lock (exit 0)" [ "$rc_cc" = 0 ]
check "the lock is a plain file, not a symlink" [ -f "$T/state/lock" -a ! -L "$T/state/lock" ]
stop_agent
check "after the agent stops, --once runs (exit 0)" "$HEALERD" -c "$T/b.conf" --once >/dev/null 2>&1

# ---- a refused plugin: --once exits 2, the reasons are the real ones ----------------------------
install -m 0755 "$BUILD/plugins/dirwatch.so" "$PDIR/memory2.so"
write_config "$T/c.conf" "$PDIR" "dirwatch = { directory = \"$T/watched\"; paths_allow = [\"$T/watched\"]; max_bytes = \"big\"; };"
set +e
"$HEALERD" -c "$T/c.conf" --once >"$T/once.out" 2>"$T/once.err"; rc=$?
set -e
check "--once exits 2 when a plugin was refused" [ "$rc" = 2 ]
check "--once says which and why on stderr" grep -q "memory2.so: refused: its descriptor is named \"dirwatch\" but its file is memory2.so" "$T/once.err"
start_agent "$T/c.conf"
get /api/v1/plugins >"$T/plugins.json"
reason() { jq -r --arg f "$PDIR/$1.so" '.plugins[] | select(.file == $f) | .reason' "$T/plugins.json"; }
check "/api/v1/plugins: the name mismatch with its fix" \
  sh -c "echo '$(reason memory2)' | grep -q 'fix: rename memory2.so to dirwatch.so'"
check "/api/v1/plugins: the settings error itself, with FILE:LINE" \
  sh -c "echo '$(reason dirwatch)' | grep -q '$T/c.conf:[0-9]*: plugins.dirwatch.max_bytes'"
check "no reason says 'see the errors above'" [ "$(grep -c 'see the errors above' "$T/plugins.json")" = 0 ]
stop_agent
finish
