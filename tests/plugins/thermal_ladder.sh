#!/usr/bin/env bash
# tests/plugins/thermal_ladder.sh — the thermal plugin in the REAL agent (live mode) on a sysfs
# fixture tree: heat zone0 step by step and check each rung of the ladder happens in order with
# the files changed as the kernel expects (governor powersave, max freq at 75 %, pwm1_enable 1
# + pwm1 255, freezer FROZEN); cool it and check everything is put back after the hold.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/thermal_lib.sh"

SLEEPER=""
thermal_cleanup() {
  if [ -n "$SLEEPER" ]; then kill -KILL "$SLEEPER" 2>/dev/null; wait "$SLEEPER" 2>/dev/null; fi || true
  cleanup
}
trap thermal_cleanup EXIT

# A process of our own, as uid 65534, listed in the fixture cgroup: freeze_cgroup checks every
# pid in cgroup.procs against protection and scope through the real /proc.
setpriv --reuid 65534 --regid 65534 --clear-groups sleep 300 &
SLEEPER=$!
S="$T/sys"
HEAVY_PIDS=$SLEEPER thermal_fixture "$S"

MODE=live write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/thermal.so")" '
  thermal = {
    interval = 0.2;
    settle_seconds = 0.0;
    restore_after_seconds = 1.0;
    hysteresis_celsius = 5.0;
    freeze_cgroups = ["freezer/heavy"];
  };' '
scope = { uids = [65534]; };
protect = { names = ["sshd", "systemd", "healerd"]; min_uid = 1000; };'
sed -i "s|^agent = {|agent = {\n  sys_root = \"$S\";|" "$T/healerd.conf"
start_agent "$T/healerd.conf"

sleep 1
check "cool: no issue" test "$(get /api/v1/issues | jq '.issues | length')" = 0
check "cool: nothing written" all_cpus "$S" scaling_governor schedutil

# 82 C: step 0 only.
heat "$S" 82
wait_for "82 C: powersave on cpu0-2" 10 all_cpus "$S" scaling_governor powersave 0 1 2
check "82 C: cpu3 (no powersave offered) untouched" all_cpus "$S" scaling_governor schedutil 3
check "82 C: issue open, high" test "$(get /api/v1/issues | jq -r '.issues[0].severity')" = high
sleep 1   # several more cycles: nothing above step 0 may run at 82 C
check "82 C: max freq not capped" all_cpus "$S" scaling_max_freq 3000000
check "82 C: fan untouched" is "$S/class/hwmon/hwmon0/pwm1_enable" 2

# 86 C: step 1.
heat "$S" 86
wait_for "86 C: max freq 75 % (2250000) on every cpu" 10 all_cpus "$S" scaling_max_freq 2250000
sleep 1
check "86 C: fan untouched" is "$S/class/hwmon/hwmon0/pwm1" 100

# 91 C: step 2.
heat "$S" 91
wait_for "91 C: pwm1_enable 1 (manual)" 10 is "$S/class/hwmon/hwmon0/pwm1_enable" 1
wait_for "91 C: pwm1 255" 10 is "$S/class/hwmon/hwmon0/pwm1" 255
check "91 C: issue critical" test "$(get /api/v1/issues | jq -r '.issues[0].severity')" = critical
sleep 1
check "91 C: heavy not frozen yet" is "$S/fs/cgroup/freezer/heavy/freezer.state" THAWED

# 96 C: step 3.
heat "$S" 96
wait_for "96 C: heavy cgroup FROZEN" 10 is "$S/fs/cgroup/freezer/heavy/freezer.state" FROZEN
check "96 C: target is the zone" test "$(get /api/v1/issues | jq -r '.issues[0].target')" = \
  "thermal_zone0 x86_pkg_temp"

check "actions first ran in ladder order" test "$(action_order "$T/state/audit.jsonl" | tr '\n' ' ')" = \
  "powersave_governor cap_max_freq fans_max freeze_services "
check "no emergency below 100 C" bash -c "! grep -q thermal_emergency '$T/state/audit.jsonl'"
check "old values backed up" bash -c "ls '$T/state/backups' | grep -q scaling_governor"

# Cool down: held for restore_after_seconds below 75 C, then resolved and restored.
heat "$S" 77
sleep 1
check "77 C (within hysteresis): still changed" all_cpus "$S" scaling_max_freq 2250000
heat "$S" 60
restored() {
  all_cpus "$S" scaling_governor schedutil && all_cpus "$S" scaling_max_freq 3000000 &&
    is "$S/class/hwmon/hwmon0/pwm1_enable" 2 && is "$S/class/hwmon/hwmon0/pwm1" 100 &&
    is "$S/fs/cgroup/freezer/heavy/freezer.state" THAWED
}
wait_for "60 C: governor, max freq, fan mode and speed restored, heavy thawed" 15 restored
no_issue() { [ "$(get /api/v1/issues | jq '.issues | length')" = 0 ]; }
wait_for "the issue closed" 10 no_issue
check "restore went through the actuators (audited)" \
  bash -c "jq -r 'select(.actuator==\"freeze_cgroup\") | .params.freeze' '$T/state/audit.jsonl' | grep -q false"
check "no temporary files left in the fixture" bash -c "! find '$S' -name '.*healer-*' | grep -q ."
check "the sleeper was never signalled" test "$(awk '/^State:/{print $2}' /proc/$SLEEPER/status)" = S
check "no error or warning from the plugin or engine" bash -c "! grep -E '^(error|warn)' '$T/agent.log' | grep -v 'token' | grep -q ."
grep -E '^(error|warn)' "$T/agent.log" | grep -v token || true

stop_agent
finish
