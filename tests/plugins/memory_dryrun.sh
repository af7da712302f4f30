#!/usr/bin/env bash
# tests/plugins/memory_dryrun.sh — the same two hogs as memory_one_victim.sh, the agent in
# dry-run: nothing is killed, and the planned kill_low_priority is in audit.jsonl as a dry run
# (a cgroup's issue gets no drop_caches: it is global).
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/memory_lib.sh"

start_hog 150
big=$HOG_PID
wait_for "the big hog holds 150 MiB" 20 hog_holds "$big" 150
start_hog 60
small=$HOG_PID
wait_for "the small hog holds 60 MiB" 20 hog_holds "$small" 60

MODE=dry-run INTERVAL=0.2 write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/memory.so")" "
  memory = {
    watch_system = false;
    cgroups = [\"memory/$CGNAME\"];
    kill_percent = 80.0;
    verify_settle_s = 0.2;
  };" "$MEM_EXTRA"
start_agent "$T/healerd.conf"

has_action() { grep "\"action\":\"$1\"" "$T/state/audit.jsonl" 2>/dev/null | grep -q "$2"; }
wait_for "kill_low_priority is in the audit log as a dry run" 20 has_action kill_low_priority '"result":"dry_run"'
check "no drop_caches for the cgroup's issue" bash -c "! grep -q drop_caches '$T/state/audit.jsonl'"
check "the signal was only reported" \
  bash -c "grep '\"actuator\":\"signal\"' '$T/state/audit.jsonl' | grep -q '\"pid\":$big'"
check "no actuator call really acted" \
  bash -c "! grep '\"actuator\":\"[a-z_]*\"' '$T/state/audit.jsonl' | grep -q '\"result\":\"ok\"'"
check "the big hog is alive" hog_alive "$big"
check "the small hog is alive" hog_alive "$small"
check "no sanitizer report from the agent" sanitizer_clean
[ "$FAIL" -eq 0 ] || { sed "s/^/# /" "$T/agent.log" | tail -n 40; sed "s/^/# /" "$T/state/audit.jsonl" | cut -c1-300 | tail -n 20; }
finish
