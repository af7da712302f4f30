#!/usr/bin/env bash
# A plans.d plan's restart_unit step end to end (issue #15 part 2): a REAL systemd in an
# isolated container (systemd-nspawn on an overlay of a debootstrapped root,
# tests/lib/systemd-root.sh; never the machine's own root) runs svc-beat, which touches a
# heartbeat file every 0.2 s until it is wedged (a flag file; its ExecStartPre clears the flag).
# A plans.d `file` check on the heartbeat's age fails, the plan's restart_unit step asks the REAL
# service plugin (through the engine) to restart the unit, systemd restarts it, the check passes
# again (verify), the heal is recorded healed and audited, the issue closes. Dry-run first: the
# step is a dry run and the unit is left as it is.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/lib/systemd-root.sh"
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 77; }
rc=0; sysroot_build || rc=$?
if [ "$rc" != 0 ]; then echo "SKIP: no isolated systemd root ($rc)"; exit 77; fi
trap 'sysroot_stop; cleanup' EXIT
sysroot_prepare "$T/sysroot"
UNITS="$SYSROOT_DIR/root/etc/systemd/system"
mkdir -p "$UNITS/multi-user.target.wants" "$SYSROOT_DIR/root/var/lib/svc-beat"
cat >"$UNITS/svc-beat.service" <<'UNIT'
[Unit]
Description=healerd test: a heartbeat file every 0.2 s, until /var/lib/svc-beat/wedge exists
[Service]
ExecStartPre=/bin/rm -f /var/lib/svc-beat/wedge
ExecStart=/bin/sh -c 'while :; do [ -e /var/lib/svc-beat/wedge ] || touch /var/lib/svc-beat/beat; sleep 0.2; done'
UNIT
ln -sf ../svc-beat.service "$UNITS/multi-user.target.wants/svc-beat.service"
sysroot_start
check "container's systemd finished booting" sysroot_wait_running
# The container's root is the overlay mounted here: its files are the host's to read.
BEAT="$SYSROOT_DIR/root/var/lib/svc-beat/beat"
WEDGE="$SYSROOT_DIR/root/var/lib/svc-beat/wedge"
wait_for "svc-beat is active and beating" 10 bash -c "[ -e '$BEAT' ]"
check "svc-beat is active" [ "$(sysroot_state svc-beat.service)" = active ]
main_pid() {
  sysctl_bus get-property org.freedesktop.systemd1 /org/freedesktop/systemd1/unit/svc_2dbeat_2eservice \
    org.freedesktop.systemd1.Service MainPID | awk '{print $2}'
}
FIRST=$(main_pid)
check "svc-beat has a main process ($FIRST)" [ "${FIRST:-0}" -gt 0 ]

mkdir -p "$T/plans.d"
cat >"$T/plans.d/beat.conf" <<CONF
checks = (
  { name = "beat_fresh"; type = "file"; path = "$BEAT"; max_age_s = 1.5; interval_s = 0.5;
    fail_count = 2; severity = "high"; }
);
plans = (
  { name = "beat_unit";
    match = { type = "check_failed"; target = "beat_fresh"; };
    steps = (
      { name = "restart"; restart_unit = "svc-beat.service"; timeout_s = 20; settle_s = 1; }
    );
  }
);
CONF
PDIR=$(plugin_dir "$BUILD/plugins/plans.so" "$BUILD/plugins/service.so")
PLUGINS="plans = { };
  service = { bus_address = \"unix:path=$SYSROOT_BUS\"; units = [\"svc-beat.service\"];
              verify_timeout_s = 8.0; verify_stable_s = 0.5; };"
A="$T/state/audit.jsonl"

# ---- dry-run: planned and audited as a dry run, the unit not restarted ----
MODE=dry-run ACTION_TIMEOUT=30 write_config "$T/healerd.conf" "$PDIR" "$PLUGINS"
check "--check-config accepts the config and plans.d" "$HEALERD" --check-config -c "$T/healerd.conf"
start_agent "$T/healerd.conf"
wait_for "plans.d read: 1 check, 1 plan" 10 grep -q "plans.d: 1 file(s) (0 refused, 0 problem(s)), 1 check(s), 1 of 1 plan(s)" "$T/agent.log"
touch "$WEDGE"
dry_heal() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "check_failed" and .target == "beat_fresh" and .outcome == "dry_run")' >/dev/null; }
wait_for "dry-run: a heal recorded dry_run" 30 dry_heal
check "dry-run: the step is the plan's restart_unit" [ "$(get /api/v1/heals | jq -r '[.heals[] | select(.outcome == "dry_run")][0].actions[0].action')" = beat_unit_restart ]
check "dry-run: the service plugin's restart audited as a dry run" \
  jq -s -e '[.[] | select(.plugin == "service" and .actuator == "run" and .result == "dry_run" and (.params.argv | join(" ") | contains("svc-beat")))] | length > 0' "$A"
check "dry-run: the same main process" [ "$(main_pid)" = "$FIRST" ]
check "dry-run: still wedged" [ -e "$WEDGE" ]
check "agent stops cleanly" stop_agent

# ---- live: the plan's restart_unit restarts the unit through the service plugin ----
rm -rf "$T/state"
MODE=live ACTION_TIMEOUT=30 write_config "$T/healerd.conf" "$PDIR" "$PLUGINS"
start_agent "$T/healerd.conf"
A="$T/state/audit.jsonl"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "check_failed" and .target == "beat_fresh" and .outcome == "healed")' >/dev/null; }
wait_for "live: the heal is recorded healed" 40 healed
get /api/v1/heals | jq -r '.heals[0].actions[] | "\(.action): \(.outcome): \(.message)"'
check "live: its one action was the plan's restart_unit step" [ "$(get /api/v1/heals | jq -r '[.heals[] | select(.outcome == "healed")][0].actions | map(.action) | join(",")')" = beat_unit_restart ]
check "live: the service plugin restarted it (audited: plugin service, run ok)" \
  jq -s -e '[.[] | select(.plugin == "service" and .actuator == "run" and .result == "ok" and (.params.argv | join(" ") | contains("RestartUnit")) and (.params.argv | join(" ") | contains("svc-beat")))] | length > 0' "$A"
HID=$(get /api/v1/heals | jq -r '[.heals[] | select(.outcome == "healed")][0].id')
check "live: the plan's step audited (plans, beat_unit_restart, healed)" \
  jq -s -e --argjson h "$HID" '[.[] | select(.heal_id == $h and .plugin == "plans" and .action == "beat_unit_restart" and .actuator == null and .result == "healed")] | length == 1' "$A"
check "live: the restart audited under the same heal (the request carries it)" \
  jq -s -e --argjson h "$HID" '[.[] | select(.heal_id == $h and .plugin == "service" and .actuator == "run" and .result == "ok")] | length == 1' "$A"
check "live: a new main process" [ "$(main_pid)" != "$FIRST" -a "$(main_pid)" -gt 0 ]
check "live: svc-beat is active" [ "$(sysroot_state svc-beat.service)" = active ]
check "live: unwedged (ExecStartPre removed the flag)" [ ! -e "$WEDGE" ]
fresh() { [ $(( $(date +%s) - $(stat -c %Y "$BEAT") )) -le 1 ]; }
check "live: the heartbeat is fresh" fresh
resolved() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "check_failed")' >/dev/null; }
wait_for "live: the issue closed" 15 resolved
check "agent stops cleanly" stop_agent
finish
