#!/usr/bin/env bash
# The service plugin in dry-run on a REAL systemd (isolated root under systemd-nspawn): the
# failed units are detected and every step of their ladders is planned and audited as a dry
# run, but no unit changes state and no busctl call reaches systemd.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/lib/systemd-root.sh"
rc=0; sysroot_build || rc=$?
if [ "$rc" != 0 ]; then echo "SKIP: no isolated systemd root ($rc)"; exit 77; fi
diag() { # what the agent saw, when a check failed
  [ "$FAIL" = 0 ] && return 0
  echo "--- agent log"; tail -60 "$T/agent.log" 2>/dev/null || true
  echo "--- audit"; cut -c1-400 "$T/state/audit.jsonl" 2>/dev/null || true
}
trap 'diag; sysroot_stop; cleanup' EXIT

sysroot_prepare "$T/sysroot"
sysroot_install_test_units
sysroot_start
check "container's systemd finished booting" sysroot_wait_running
ROOTFS=/proc/$SYSROOT_INIT/root
touch "$ROOTFS/run/svc-base.ok"
sysroot_fix_reload_unit
UNITS="svc-fail svc-dep svc-reload svc-alt"
for u in $UNITS svc-base; do check "$u failed at boot" [ "$(sysroot_state $u.service)" = failed ]; done

# Thread mode unless SVC_ISOLATION says otherwise (plugins/service_*_process): both stay
# covered whatever the agent's default isolation is.
ISO=${SVC_ISOLATION:-'isolation = "thread";'}
PDIR=$(plugin_dir "$BUILD/plugins/service.so")
SVC="service = {
  bus_address = \"unix:path=$SYSROOT_BUS\";
  units = [\"svc-fail.service\", \"svc-dep.service\", \"svc-reload.service\", \"svc-alt.service\"];
  alternatives = [\"svc-alt.service=svc-alt-backup.service\"];
  verify_timeout_s = 5.0; $ISO
};"
MODE=dry-run ACTION_TIMEOUT=30 INTERVAL=0.5 write_config "$T/dry.conf" "$PDIR" "$SVC"
start_agent "$T/dry.conf"
A="$T/state/audit.jsonl"
WANT=thread; case "$ISO" in *process*) WANT=process ;; esac
check "the service plugin runs as a $WANT" bash -c "curl -s '$URL/api/v1/plugins' | jq -e --arg w $WANT \
  '.plugins[] | select(.name == \"service\" and .isolation == \$w and .state == \"loaded\")' >/dev/null"
planned() { # planned UNIT ACTION: a dry-run audit line for that action of that unit's heal
  jq -s -e --arg u "$1" --arg a "$2" '[.[] | select(.action == $a and .actuator == null and
     .dry_run == true and (.target | tostring | startswith($u)))] | length > 0' "$A" >/dev/null
}
wait_for "svc-fail: restart audited as dry-run" 30 planned svc-fail restart
wait_for "svc-fail: reset_and_retry audited" 30 planned svc-fail reset_and_retry
wait_for "svc-dep: fix_dependencies audited" 30 planned svc-dep fix_dependencies
wait_for "svc-reload: daemon_reload audited" 30 planned svc-reload daemon_reload
wait_for "svc-alt: start_alternative audited" 30 planned svc-alt-backup start_alternative
check "every actuator call was a dry run" [ "$(jq -s '[.[] | select(.actuator != null and .result != "dry_run")] | length' "$A")" = 0 ]
check "busctl calls were planned (actuator lines)" [ "$(jq -s '[.[] | select(.actuator == "run")] | length' "$A")" -ge 5 ]
sleep 1
for u in $UNITS svc-base; do check "$u still failed" [ "$(sysroot_state $u.service)" = failed ]; done
check "svc-alt-backup not started" [ "$(sysroot_state svc-alt-backup.service)" = inactive ]
check "svc-reload still needs its reload" [ "$(sysctl_bus get-property org.freedesktop.systemd1 \
  /org/freedesktop/systemd1/unit/svc_2dreload_2eservice org.freedesktop.systemd1.Unit NeedDaemonReload)" = "b true" ]
check "svc-base never ran (no .up marker)" [ ! -e "$ROOTFS/run/svc-base.up" ]
check "agent exits cleanly (no sanitizer report)" stop_agent
check "no sanitizer output in the log" bash -c "! grep -q Sanitizer \"$T/agent.log\""
finish
