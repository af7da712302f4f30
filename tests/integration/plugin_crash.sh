#!/usr/bin/env bash
# plugin_crash.sh — crash containment of plugins with isolation = "process": fixtures that
# segfault, abort, exit or hang (in detect and in execute) never stop the agent; the ticker keeps
# healing throughout; each crash is logged with its signal, counted in /metrics, shown in
# /api/v1/plugins; restarts back off and the plugin is failed after max_crashes; a process the
# crashed plugin had stopped is continued from the undo journal; --check-config survives a
# plugin whose constructor faults and exits 2.
set -euo pipefail
export MODE=live MAX_HEALS=100000 INTERVAL=0.3
. "$SRC/tests/lib/agent.sh"
# Under the sanitizer build the children must die of the real signal, not of ASan's report.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0"

FIX="$BUILD/tests/plugins"
heals() { ls "$T/out" 2>/dev/null | wc -l; }

# ---- --check-config with a constructor that faults ------------------------------------------
PD=$(plugin_dir "$FIX/ticker.so" "$FIX/ctorfault.so")
mkdir -p "$T/out"
write_config "$T/c.conf" "$PD" "ticker = { dir = \"$T/out\"; paths_allow = [\"$T/out\"]; isolation = \"process\"; };
  ctorfault = { isolation = \"process\"; };"
rc=0
"$HEALERD" --check-config -c "$T/c.conf" >"$T/check.out" 2>"$T/check.err" || rc=$?
check "--check-config exits 2, not 139, for a constructor that faults" [ "$rc" -eq 2 ]
check "--check-config names the signal" grep -q "ctorfault.so: refused: crashed while loading.*signal 11 (SIGSEGV)" "$T/check.err"

# The agent itself refuses it and runs the ticker.
start_agent "$T/c.conf"
wait_for "ticker heals with a faulting constructor in plugin_dir" 20 bash -c "[ \$(ls $T/out | wc -l) -ge 2 ]"
check "ctorfault refused with its signal" bash -c "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"ctorfault\") | .state==\"refused\" and (.reason|test(\"SIGSEGV\"))' >/dev/null"
stop_agent

# ---- each way of dying, in detect and in execute ------------------------------------------------
rm -f "$T/plugins/ctorfault.so" # refused at every load (shown above): keep it out of the rest
run_case() { # how when expect-in-log
  local how=$1 when=$2 expect=$3
  rm -rf "$T/out" "$T/state" && mkdir -p "$T/out"
  ACTION_TIMEOUT=2 write_config "$T/c.conf" "$(plugin_dir "$FIX/ticker.so" "$FIX/crasher.so")" \
    "ticker = { dir = \"$T/out\"; paths_allow = [\"$T/out\"]; isolation = \"process\"; };
     crasher = { isolation = \"process\"; how = \"$how\"; when = \"$when\"; max_crashes = 3; };"
  start_agent "$T/c.conf"
  wait_for "$how in $when: logged as '$expect'" 30 grep -q "plugin crasher crashed: $expect" "$T/agent.log"
  local before; before=$(heals)
  wait_for "$how in $when: counted in /metrics" 10 bash -c "[ -n \"\$(curl -s $URL/metrics | grep 'plugin_crashes_total{plugin=\"crasher\"}')\" ]"
  wait_for "$how in $when: restarted with back-off" 30 grep -q "plugin crasher: restarting in 2 s" "$T/agent.log"
  wait_for "$how in $when: failed after 3 crashes" 60 grep -q "3 crashes within 10 minutes" "$T/agent.log"
  check "$how in $when: /api/v1/plugins says failed, with crashes and the last one" bash -c \
    "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"crasher\") | .state==\"failed\" and .process.run_state==\"failed\" and .process.crashes==3 and (.process.last_crash|test(\"crashed\"))' >/dev/null"
  check "$how in $when: crash counter is 3" bash -c "[ \"\$(curl -s $URL/metrics | sed -n 's/.*plugin_crashes_total{plugin=\"crasher\"} //p')\" = 3 ]"
  wait_for "$how in $when: the ticker kept healing throughout" 20 bash -c "[ \$(ls $T/out | wc -l) -gt $before ]"
  check "$how in $when: the agent is alive" kill -0 "$AGENT_PID"
  stop_agent
}
run_case segv detect "killed by signal 11 (SIGSEGV)"
run_case abort detect "killed by signal 6 (SIGABRT)"
run_case exit detect "exited with status 3"
run_case hang detect "stopped answering for"
run_case segv execute "killed by signal 11 (SIGSEGV)"
run_case hang execute "stopped answering for"

# ---- a process the crashed plugin had stopped is continued ------------------------------------
rm -rf "$T/out" "$T/state" && mkdir -p "$T/out"
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
VICTIM=$!
trap 'kill -KILL $VICTIM 2>/dev/null || true; cleanup' EXIT
MODE=live write_config "$T/c.conf" "$(plugin_dir "$FIX/ticker.so" "$FIX/crasher.so")" \
  "ticker = { dir = \"$T/out\"; paths_allow = [\"$T/out\"]; isolation = \"process\"; };
   crasher = { isolation = \"process\"; how = \"segv\"; when = \"execute\"; pid = $VICTIM; max_crashes = 1; };" \
  "scope = { uids = [65534]; };"
start_agent "$T/c.conf"
wait_for "the crasher stopped its victim and crashed" 30 grep -q "plugin crasher crashed" "$T/agent.log"
wait_for "the victim was continued after the crash" 10 bash -c "[ \"\$(awk '{print \$3}' /proc/$VICTIM/stat)\" != T ]"
check "the journal replay for that plugin is logged" grep -q "plugin crasher's process ended" "$T/agent.log"
stop_agent
kill "$VICTIM" 2>/dev/null || true
finish
