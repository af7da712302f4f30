#!/usr/bin/env bash
# What a plugin changed for a still-open issue is undone before the agent lets go of its plugins:
# a process the agent stopped runs again after SIGTERM, after SIGHUP (reload), and after --once.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/stopper.so")
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
VICTIM=$!
trap 'kill -KILL $VICTIM 2>/dev/null; cleanup' EXIT
state() { awk '{print $3}' "/proc/$VICTIM/stat"; }
stopped() { [ "$(state)" = T ]; }
running() { [ "$(state)" != T ]; }
conf() { MODE=live write_config "$T/a.conf" "$PDIR" "stopper = { pid = $VICTIM; };" "scope = { uids = [65534]; };"; }
conf

start_agent "$T/a.conf"
wait_for "the agent stopped the victim" 10 stopped
check "SIGTERM exits 0" stop_agent
check "the victim runs again after the agent stopped" running
check "the restore is logged" grep -q "restore: sent SIGCONT\|restore: .*SIGCONT" "$T/agent.log"

start_agent "$T/a.conf"
wait_for "stopped again by a new agent" 10 stopped
kill -HUP "$AGENT_PID"
wait_for "reloaded" 10 grep -q "info agent: reloaded" "$T/agent.log"
check "the reload continued it before re-initialising the plugin" grep -q "restore: .*SIGCONT" "$T/agent.log"
check "stop_agent" stop_agent
check "running after the last stop" running

"$HEALERD" -c "$T/a.conf" --once >"$T/once.out" 2>"$T/once.log"
check "--once stopped it (heal healed)" grep -q "stopper_issue on victim: healed" "$T/once.out"
check "and continued it before exiting" running

# log_level = "notice": the change made (and undone) is logged, nothing at info.
LOG_LEVEL=notice conf
"$HEALERD" -c "$T/a.conf" --once >"$T/once.out" 2>"$T/notice.log"
check "notice: the stop is one notice line naming the pid" \
  grep -q "notice .*SIGSTOP.*pid $VICTIM" "$T/notice.log"
check "notice: no info line" bash -c "! grep -q ' info ' '$T/notice.log'"
check "notice: continued again" running
finish
