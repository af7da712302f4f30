#!/usr/bin/env bash
# A plugin stuck in init() past agent.action_timeout, or in execute() past the stop timeout,
# becomes an orphan (agent/worker.h): its record, .so, settings, worker and sockets stay valid
# until it returns, then it cleans up after itself (destroy, sockets) and a later reap frees
# its generation. Reloads meanwhile never free what it uses; SIGTERM never hangs on it. Run it
# against the ASan build too (ctest in build-asan): any sanitizer report fails the test.
# stall runs with isolation = "thread": orphans are agent threads; a stuck child is killed and
# restarted instead (tests/integration/plugin_crash.sh covers that).
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/stall.so" "$BUILD/plugins/dirwatch.so")
mkdir -p "$T/watched"
DW="dirwatch = { directory = \"$T/watched\"; paths_allow = [\"$T/watched\"]; };"

no_sanitizer_report() { ! grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:" "$T/agent.log"; }
# stop_bounded SECS: SIGTERM, then the agent must be gone within SECS (a liveness bound far above
# what it needs, not a timing measurement); its exit status is the function's.
stop_bounded() {
  local secs=$1 rc=0
  kill -TERM "$AGENT_PID"
  for _ in $(seq $((secs * 10))); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$AGENT_PID" 2>/dev/null; then
    echo "# still running ${secs}s after SIGTERM"
    return 1
  fi
  wait "$AGENT_PID" || rc=$?
  AGENT_PID=""
  return $rc
}
plugin_state() { get /api/v1/plugins | jq -r ".plugins[] | select(.name == \"$1\") | .state"; }
count() { grep -c "$1" "$T/agent.log" || true; }

# --- 1. init stuck; reload while it waits; let it return; reap; SIGTERM ---
ACTION_TIMEOUT=1 write_config "$T/a.conf" "$PDIR" "
  stall = { isolation = \"thread\"; init_wait = 600.0; release_file = \"$T/release-init\"; };
  $DW"
start_agent "$T/a.conf"
wait_for "init times out" 20 grep -q "stall.so: init did not return within 1 s" "$T/agent.log"
check "stall shown failed with the reason" [ "$(get /api/v1/plugins | jq -r '.plugins[] | select(.name == "stall") | .reason')" = "init did not return within 1 s" ]
check "dirwatch runs meanwhile" [ "$(plugin_state dirwatch)" = loaded ]
# (a) reload while init still waits: the new generation's stall does not wait.
ACTION_TIMEOUT=1 write_config "$T/a.conf" "$PDIR" "
  stall = { isolation = \"thread\"; init_wait = 0.0; };
  $DW"
kill -HUP "$AGENT_PID"
wait_for "reload while init is stuck" 20 grep -q "info agent: reloaded" "$T/agent.log"
check "the stuck generation is kept, not freed" grep -q "a plugin of generation 1 is stuck" "$T/agent.log"
check "the new stall runs" [ "$(plugin_state stall)" = loaded ]
# (b) init returns now: it reads its old settings (init_wait 600: the record was kept), then
# destroy() runs on its own thread and it closes its sockets.
touch "$T/release-init"
wait_for "the late init read its own settings" 20 grep -q "plugin stall: init finished after waiting .* (init_wait 600)" "$T/agent.log"
wait_for "the orphan cleaned up after itself" 20 grep -q "plugin stall: init returned .* after the host stopped waiting; cleaned up (destroy() run, sockets closed)" "$T/agent.log"
kill -HUP "$AGENT_PID" # the main loop reaps on its next turn
wait_for "its generation is freed" 20 grep -q "generation 1 freed: its stuck plugin thread(s) returned" "$T/agent.log"
# (c) SIGTERM
check "SIGTERM: exits with status 0" stop_bounded 60
check "no stuck thread at exit" [ "$(count 'still stuck')" = 0 ]
check "no sanitizer report" no_sanitizer_report
mv "$T/agent.log" "$T/agent1.log"

# --- 2. init stuck for good, even across a reload: SIGTERM still exits, naming the plugin ---
ACTION_TIMEOUT=1 write_config "$T/b.conf" "$PDIR" "
  stall = { isolation = \"thread\"; init_wait = 3600.0; };
  $DW"
start_agent "$T/b.conf"
wait_for "init times out" 20 grep -q "stall.so: init did not return within 1 s" "$T/agent.log"
kill -HUP "$AGENT_PID"
wait_for "reload while init is stuck" 20 grep -q "info agent: reloaded" "$T/agent.log"
stuck_twice() { [ "$(count 'init did not return')" = 2 ]; }   # counted again on every poll
wait_for "the new generation's init is stuck too" 20 stuck_twice
check "SIGTERM: exits with status 0 despite two stuck threads" stop_bounded 60
check "the log names the stuck plugin" grep -q "plugin stall: still stuck in init" "$T/agent.log"
check "the bus is left alone" grep -q "exiting with 2 plugin thread(s) still stuck: the bus is not terminated" "$T/agent.log"
check "no sanitizer report" no_sanitizer_report
mv "$T/agent.log" "$T/agent2.log"

# --- 3. execute stuck past the stop timeout at a reload (worker_stop's orphan) ---
MIN_HEALTH=0 ACTION_TIMEOUT=1 write_config "$T/c.conf" "$PDIR" "
  stall = { isolation = \"thread\"; execute_wait = 600.0; release_file = \"$T/release-exec\"; };
  $DW"
start_agent "$T/c.conf"
wait_for "execute is stuck" 20 grep -q "plugin stall did not answer within 1 s" "$T/agent.log"
MIN_HEALTH=0 ACTION_TIMEOUT=1 write_config "$T/c.conf" "$PDIR" "
  stall = { isolation = \"thread\"; };
  $DW"
kill -HUP "$AGENT_PID"
wait_for "reload with execute stuck" 30 grep -q "info agent: reloaded" "$T/agent.log"
check "the stuck worker was left running" grep -q "plugin stall: did not stop within 5 s" "$T/agent.log"
check "the new stall runs" [ "$(plugin_state stall)" = loaded ]
touch "$T/release-exec"
wait_for "the orphan cleaned up after itself" 20 grep -q "plugin stall: a callback returned .*; cleaned up (destroy() run, sockets closed)" "$T/agent.log"
kill -HUP "$AGENT_PID"
wait_for "its generation is freed" 20 grep -q "generation 1 freed" "$T/agent.log"
check "SIGTERM: exits with status 0" stop_bounded 60
check "no sanitizer report" no_sanitizer_report
finish
