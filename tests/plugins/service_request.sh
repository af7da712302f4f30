#!/usr/bin/env bash
# Another plugin asks the REAL service plugin, through the real engine, to restart a unit of a
# REAL systemd (the path the memory plugin takes for a leaking service): the unit is restarted
# and the answer travels back into the asking plugin's result.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/lib/systemd-root.sh"
rc=0; sysroot_build || rc=$?
if [ "$rc" != 0 ]; then echo "SKIP: no isolated systemd root ($rc)"; exit 77; fi
trap 'sysroot_stop; cleanup' EXIT
sysroot_prepare "$T/sysroot"
sysroot_install_test_units
sysroot_start
check "container's systemd finished booting" sysroot_wait_running
ROOTFS=/proc/$SYSROOT_INIT/root
check "svc-base failed at boot" [ "$(sysroot_state svc-base.service)" = failed ]
touch "$ROOTFS/run/svc-base.ok"   # it can start now; nobody watches it but the request will

# Thread mode unless SVC_ISOLATION says otherwise (plugins/service_*_process): both stay
# covered whatever the agent's default isolation is.
ISO=${SVC_ISOLATION:-'isolation = "thread";'}
PDIR=$(plugin_dir "$BUILD/plugins/service.so" "$BUILD/tests/plugins/requester.so")
CONF="service = { bus_address = \"unix:path=$SYSROOT_BUS\"; units = [\"svc-fail.service\"];
                  verify_timeout_s = 8.0; verify_stable_s = 0.5; $ISO };
  requester = { ask = \"service\"; method = \"restart\"; args = [\"unit=svc-base.service\"]; };"
MODE=live ACTION_TIMEOUT=40 LOG_LEVEL=debug write_config "$T/a.conf" "$PDIR" "$CONF"
"$HEALERD" -c "$T/a.conf" --once >"$T/once.out" 2>"$T/once.log" || { cat "$T/once.log"; exit 1; }
cat "$T/once.out"
check "the asking plugin's heal succeeded" grep -q "^heal #.* ask_issue on ask: healed" "$T/once.out"
check "the service plugin's answer came back" grep -q "requester/ask_other on ask: healed: asked service: .*svc-base" "$T/once.out"
check "svc-base is active in the container" [ "$(sysroot_state svc-base.service)" = active ]
case "$ISO" in
  *process*) check "the service plugin ran in a confined child" \
               grep -Eq 'plugin service: started .*healerd-plugin \(pid [0-9]+' "$T/once.log"
             check "... not unconfined" bash -c "! grep -q 'plugin service: .*NOT confined' '$T/once.log'" ;;
  *) check "the service plugin ran in a thread (no child)" \
       bash -c "! grep -q 'plugin service: started .*healerd-plugin' '$T/once.log'" ;;
esac
check "the restart went through the audited actuator" \
  jq -s -e '[.[] | select(.plugin == "service" and .actuator == "run" and .result == "ok" and (.params.argv | join(" ") | contains("svc-base")))] | length > 0' "$T/state/audit.jsonl"
ASK=$(sed -n 's/^heal #\([0-9]*\) ask_issue on ask: healed.*/\1/p' "$T/once.out" | head -n1)
check "the restart is audited under the asking heal (#$ASK)" \
  jq -s -e --argjson h "${ASK:-0}" '[.[] | select(.plugin == "service" and .actuator == "run" and .heal_id == $h and $h > 0)] | length > 0' "$T/state/audit.jsonl"
finish
