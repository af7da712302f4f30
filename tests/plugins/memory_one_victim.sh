#!/usr/bin/env bash
# tests/plugins/memory_one_victim.sh — two real hogs in one v1 memory cgroup (150M and 60M of
# 256M: 82 % used). The agent, live, kills by badness ONE at a time and re-measures: killing the
# bigger hog is enough, so the smaller one must survive. Nothing system-wide (sync, drop_caches)
# is done for a cgroup's issue.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/memory_lib.sh"

start_hog 150
big=$HOG_PID
wait_for "the big hog holds 150 MiB" 20 hog_holds "$big" 150
start_hog 60
small=$HOG_PID
wait_for "the small hog holds 60 MiB" 20 hog_holds "$small" 60

MODE=live INTERVAL=0.2 write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/memory.so")" "
  memory = {
    watch_system = false;
    cgroups = [\"memory/$CGNAME\"];
    kill_percent = 80.0;
    verify_settle_s = 0.2;
    kill_grace_s = 2.0;
  };" "$MEM_EXTRA"
start_agent "$T/healerd.conf"

wait_for "the big hog is killed" 30 hog_gone "$big"
# Give the agent time to (wrongly) go on killing, then check it did not.
sleep 2
check "the small hog is still alive (one victim was enough)" hog_alive "$small"
check "exactly one process was signalled" \
  test "$(grep '"actuator":"signal"' "$T/state/audit.jsonl" | grep -c '"result":"ok"')" = 1
check "the signalled one is the big hog" \
  bash -c "grep '\"actuator\":\"signal\"' '$T/state/audit.jsonl' | grep -q '\"pid\":$big'"
check "no drop_caches or sync for the cgroup's issue (they are global)" \
  bash -c "! grep -q '\"actuator\":\"\\(write_file\\|run\\)\"' '$T/state/audit.jsonl'"
check "the cgroup's OOM killer never ran" test "$(oom_kills)" = 0
check "the issue was healed" grep -q "memory_high on $CG: healed" "$T/agent.log"
check "no sanitizer report from the agent" sanitizer_clean
[ "$FAIL" -eq 0 ] || { sed "s/^/# /" "$T/agent.log" | tail -n 40; sed "s/^/# /" "$T/state/audit.jsonl" | cut -c1-300 | tail -n 20; }
finish
