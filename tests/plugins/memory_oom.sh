#!/usr/bin/env bash
# tests/plugins/memory_oom.sh — the real agent, live, watches a real v1 memory cgroup (256M,
# swappiness 0) holding a real hog that grows towards 400M: the agent sees it and kills the hog
# before the cgroup's OOM killer does
# (memory.oom_control's oom_kill stays 0), without any system-wide step (sync, drop_caches: they
# are global, and the issue is the cgroup's).
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/memory_lib.sh"

MODE=live INTERVAL=0.2 write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/memory.so")" "
  memory = {
    watch_system = false;
    cgroups = [\"memory/$CGNAME\"];
    verify_settle_s = 0.2;
    kill_grace_s = 2.0;
  };" "$MEM_EXTRA"
start_agent "$T/healerd.conf"
wait_for "plugin loaded" 5 grep -q "cgroup .*$CGNAME.*limit set" "$T/agent.log"

start_hog 400 2 100
hog=$HOG_PID
wait_for "the hog is killed" 40 hog_gone "$hog"
echo "# hog reached $(hog_mb "$hog") MiB"
check "the cgroup's OOM killer never ran (oom_kill 0)" test "$(oom_kills)" = 0
check "memory_high was raised for the cgroup" grep -q "memory_high .* on $CG" "$T/agent.log"
check "no drop_caches or sync for the cgroup's issue" \
  bash -c "! grep -q '\"actuator\":\"\\(write_file\\|run\\)\"' '$T/state/audit.jsonl'"
check "the hog was signalled by the agent (audit)" \
  bash -c "grep '\"signal\"' '$T/state/audit.jsonl' | grep -q '\"pid\":$hog'"
check "nothing outside the cgroup was signalled" \
  bash -c "! grep '\"signal\"' '$T/state/audit.jsonl' | grep -v '\"pid\":$hog' | grep -q '\"result\":\"ok\"'"
check "no sanitizer report from the agent" sanitizer_clean
[ "$FAIL" -eq 0 ] || { echo "# agent log:"; sed "s/^/# /" "$T/agent.log" | tail -n 60; echo "# audit:"; sed "s/^/# /" "$T/state/audit.jsonl" | tail -n 20; }
[ -z "${MEM_VERBOSE:-}" ] || { cat "$T/agent.log"; cat "$T/state/audit.jsonl"; }
finish
