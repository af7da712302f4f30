#!/usr/bin/env bash
# The cpu plugin in the real agent in dry-run, on real busy processes in a cgroup of the test's
# own: the issue is raised and every step of the ladder is planned and written to audit.jsonl
# as a dry-run, but nothing changes: every process keeps running at its nice value.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/cpu_lib.sh"
cpu_setup
PDIR=$(plugin_dir "$BUILD/plugins/cpu.so")

start_burner cpuhog 2000 100;    HOG1=${CPU_PIDS[-1]}
start_burner cpuhog 2000 100;    HOG2=${CPU_PIDS[-1]}
start_burner cpuhog 2000 100;    HOG3=${CPU_PIDS[-1]}
for p in "${CPU_PIDS[@]}"; do wait_comm "$p" cpuhog; done
declare -A NICE0
for p in "${CPU_PIDS[@]}"; do NICE0[$p]=$(nice_of "$p"); done

# critical after 3 s, emergency = "kill": the harshest step is planned too.
CPU="cpu = { interval = 0.5; high_percent = 60.0; high_seconds = 1.0;
  critical_percent = 60.0; critical_seconds = 3.0; clear_seconds = 1.0;
  renice_percent = 50.0; renice_min_percent = 3.0; stop_percent = 55.0;
  stop_min_percent = 20.0; grace_seconds = 1.0; settle_seconds = 1.0; emergency = \"kill\"; };"
EXTRA="
scope = { cgroup = \"/$CG_NAME\"; };"
MODE=dry-run INTERVAL=0.5 write_config "$T/dry.conf" "$PDIR" "$CPU" "$EXTRA"
start_agent "$T/dry.conf"
A="$T/state/audit.jsonl"
jqa() { [ -s "$A" ] && jq -se "$@" "$A" >/dev/null; }
planned() { # planned ACTION: the action itself is in the audit log as a dry-run
  jqa --arg a "$1" '[.[] | select(.action == $a and .actuator == null and .dry_run == true)] | length > 0'
}
wait_for "audit: renice planned (dry-run)" 30 planned renice
wait_for "audit: stop_processes planned (dry-run)" 10 planned stop_processes
wait_for "audit: emergency_kill planned once critical (dry-run)" 20 planned emergency_kill
check "audit: the renice actuator answered dry_run" \
  jqa '[.[] | select(.actuator == "renice")] | (length > 0 and all(.result == "dry_run"))'
check "audit: the signal actuator answered dry_run" \
  jqa '[.[] | select(.actuator == "signal")] | (length > 0 and all(.result == "dry_run"))'
check "audit: every hog was named in a would-be renice" \
  jqa --argjson a "$HOG1" --argjson b "$HOG2" --argjson c "$HOG3" '[.[] | select(.actuator == "renice") | .params.pid] | (index($a) != null and index($b) != null and index($c) != null)'
check "heals recorded as dry_run" bash -c "curl -s $URL/api/v1/heals | jq -e '[.heals[] | select(.outcome == \"dry_run\")] | length > 0' >/dev/null"
for p in "${CPU_PIDS[@]}"; do
  check "pid $p still running" alive "$p"
  check "pid $p nice unchanged" [ "$(nice_of "$p")" = "${NICE0[$p]}" ]
done
check "SIGTERM exits 0" stop_agent
finish
