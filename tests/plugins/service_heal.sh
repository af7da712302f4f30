#!/usr/bin/env bash
# The service plugin on a REAL systemd: an isolated Debian root booted under systemd-nspawn
# (never the machine's own root), the real agent on the host talking to the container's system
# bus. Live mode: a unit that failed once is restarted (and its health command passes), a unit
# whose dependency failed gets the dependency started first, a unit whose file changed gets a
# daemon-reload, a unit that cannot run falls back to its alternative, and a flapping unit is
# not restarted but raises service_flapping (its mask waits for confirmation).
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
for u in svc-fail svc-base svc-dep svc-reload svc-alt; do
  check "$u failed at boot" [ "$(sysroot_state $u.service)" = failed ]
done
# Now fixable: the dependency can start, the broken unit's file is fixed (needs a reload).
touch "$ROOTFS/run/svc-base.ok"
sysroot_fix_reload_unit
NEED=$(sysctl_bus get-property org.freedesktop.systemd1 /org/freedesktop/systemd1/unit/svc_2dreload_2eservice \
       org.freedesktop.systemd1.Unit NeedDaemonReload)
check "svc-reload needs a daemon-reload" [ "$NEED" = "b true" ]

# Thread mode unless SVC_ISOLATION says otherwise (plugins/service_*_process): both stay
# covered whatever the agent's default isolation is.
ISO=${SVC_ISOLATION:-'isolation = "thread";'}
PDIR=$(plugin_dir "$BUILD/plugins/service.so")
SVC="service = {
  bus_address = \"unix:path=$SYSROOT_BUS\";
  units = [\"svc-fail.service\", \"svc-flap.service\", \"svc-dep.service\", \"svc-reload.service\",
           \"svc-alt.service\"];
  alternatives = [\"svc-alt.service=svc-alt-backup.service\"];
  health_checks = [\"svc-fail.service=cmd:/usr/bin/test -e $ROOTFS/run/svc-fail.once\"];
  flap_failures = 5; flap_window_minutes = 2.0;
  verify_timeout_s = 8.0; verify_window_s = 2.0; $ISO
};"
MODE=live ACTION_TIMEOUT=40 INTERVAL=0.5 write_config "$T/live.conf" "$PDIR" "$SVC"
start_agent "$T/live.conf"

A="$T/state/audit.jsonl"
case "$ISO" in *process*)
  # The child is confined with the built-in defaults: uid 0 under Landlock and seccomp, unix
  # sockets allowed (its bus), no CAP_SYS_PTRACE, and it heals as the thread does below.
  svc_child() { get /api/v1/plugins | jq -e '.plugins[] | select(.name == "service") | .process |
    select(.run_state == "running" and .pid > 0)' >/dev/null; }
  wait_for "service runs in a child" 20 svc_child
  PRIV=$(get /api/v1/plugins | jq -r '.plugins[] | select(.name == "service") | .process.privileges')
  echo "# service child: $PRIV"
  check "the child is confined: Landlock, seccomp, no_new_privs" \
    bash -c '[[ $1 == *"Landlock ABI"* && $1 == *seccomp* && $1 == *no_new_privs* ]]' _ "$PRIV"
  check "the child has no sys_ptrace and keeps unix sockets" \
    bash -c '[[ $1 != *sys_ptrace* && $1 != *"no unix sockets"* ]]' _ "$PRIV"
  CPID=$(get /api/v1/plugins | jq -r '.plugins[] | select(.name == "service") | .process.pid')
  check "the child runs as uid 0 with no effective capability but dac_read_search" \
    bash -c '[ "$(awk "/^Uid:/{print \$3}" /proc/$1/status)" = 0 ] &&
             [ "$(awk "/^CapEff:/{print \$2}" /proc/$1/status)" = 0000000000000004 ]' _ "$CPID"
  ;;
esac
st() { [ "$(sysroot_state "$1")" = "$2" ]; }
wait_for "svc-fail restarted and active" 60 st svc-fail.service active
wait_for "svc-dep active" 90 st svc-dep.service active
check "svc-base (the dependency) was started" st svc-base.service active
wait_for "svc-reload active" 90 st svc-reload.service active
wait_for "svc-alt-backup (the alternative) active" 90 st svc-alt-backup.service active
check "svc-alt itself is still failed" st svc-alt.service failed

healed_by() { # healed_by UNIT ACTION: the heal of UNIT ended healed by ACTION
  get /api/v1/heals | jq -e --arg u "$1" --arg a "$2" \
    '[.heals[] | select(.target == $u and .outcome == "healed")] | length > 0' >/dev/null &&
  jq -s -e --arg u "$1" --arg a "$2" \
    '[.[] | select(.action == $a and .actuator == null and (.target // "" | tostring | contains($u | sub("[.]service$"; ""))))] | length > 0' "$A" >/dev/null
}
wait_for "svc-fail healed by restart" 20 healed_by svc-fail.service restart
wait_for "svc-dep healed by fix_dependencies" 20 healed_by svc-dep.service fix_dependencies
wait_for "svc-reload healed after daemon_reload" 20 healed_by svc-reload.service daemon_reload
check "svc-reload no longer needs a reload" [ "$(sysctl_bus get-property org.freedesktop.systemd1 \
  /org/freedesktop/systemd1/unit/svc_2dreload_2eservice org.freedesktop.systemd1.Unit NeedDaemonReload)" = "b false" ]
wait_for "svc-alt healed by start_alternative" 20 healed_by svc-alt.service start_alternative
check "audit: busctl StartUnit svc-base.service ran (an actuator line)" \
  grep -q 'StartUnit.*svc-base.service' "$A"

flapping() { get /api/v1/issues | jq -e '.issues[] | select(.type == "service_flapping" and .target == "svc-flap.service")'; }
wait_for "service_flapping raised for svc-flap" 30 flapping
mask_pending() { get /api/v1/pending | jq -e '.pending[] | select(.actions[] | .action == "mask_unit" or .name == "mask_unit")'; }
wait_for "masking svc-flap waits for confirmation" 20 mask_pending
check "svc-flap was never restarted by the agent" bash -c "! grep -q 'RestartUnit.*svc-flap' '$A'"
check "no service_failed for svc-flap" bash -c "! curl -s '$URL/api/v1/issues' | jq -e '.issues[] | select(.type == \"service_failed\" and .target == \"svc-flap.service\")'"
failed_closed() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "service_failed" and .state != "closed" and (.target == "svc-fail.service" or .target == "svc-alt.service"))' >/dev/null; }
wait_for "service_failed issues closed once healed (and svc-alt covered)" 20 failed_closed

check "agent exits cleanly (no sanitizer report)" stop_agent
check "no sanitizer output in the log" bash -c "! grep -q Sanitizer \"$T/agent.log\""
finish
