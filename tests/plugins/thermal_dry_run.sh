#!/usr/bin/env bash
# tests/plugins/thermal_dry_run.sh — the thermal plugin in the real agent in dry-run on a sysfs
# fixture tree heated to 100 C: every rung of the ladder is planned and audited as a dry run,
# and nothing in the tree changes (governors, frequencies, fans, freezer state, backups).
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/thermal_lib.sh"

S="$T/sys"
thermal_fixture "$S"
BEFORE=$(tree_sum "$S")

# Nothing is in scope (a cgroup that does not exist): the emergency step finds no process.
MODE=dry-run write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/thermal.so")" '
  thermal = {
    interval = 0.2;
    settle_seconds = 0.0;
    restore_after_seconds = 0.5;
    freeze_cgroups = ["freezer/heavy"];
  };' "
scope = { cgroup = \"/healer-thermal-none-$$\"; uids = [65534]; };"
sed -i "s|^agent = {|agent = {\n  sys_root = \"$S\";|" "$T/healerd.conf"
start_agent "$T/healerd.conf"

heat "$S" 100
all_five() {
  [ "$(action_order "$T/state/audit.jsonl" | tr '\n' ' ')" = \
    "powersave_governor cap_max_freq fans_max freeze_services thermal_emergency " ]
}
wait_for "every rung planned and audited in ladder order" 15 all_five
sleep 1   # more heals of the same issue: still nothing may change
check "every audited thermal action is a dry run" test \
  "$(jq -r 'select(.plugin=="thermal") | .dry_run' "$T/state/audit.jsonl" | sort -u)" = true
check "actions report dry_run" test \
  "$(jq -r 'select(.plugin=="thermal" and .actuator==null) | .result' "$T/state/audit.jsonl" | sort -u)" = dry_run
check "the actuators said what they would write" \
  grep -q "would write 'powersave'" "$T/state/audit.jsonl"
check "and would freeze heavy" grep -q "would freeze cgroup" "$T/state/audit.jsonl"
check "nothing in the fixture changed" test "$(tree_sum "$S")" = "$BEFORE"
check "no backups taken" bash -c "[ ! -d '$T/state/backups' ] || [ -z \"\$(ls -A '$T/state/backups')\" ]"

# Cooling closes the issue at once: nothing was changed, so there is nothing to hold for.
heat "$S" 50
no_issue() { [ "$(get /api/v1/issues | jq '.issues | length')" = 0 ]; }
wait_for "cooled: the issue closed" 10 no_issue
check "still nothing changed" test "$(tree_sum "$S")" = "$BEFORE"

stop_agent
finish
