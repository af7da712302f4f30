#!/usr/bin/env bash
# Restart loops on a REAL systemd (an isolated root under systemd-nspawn, never the host's),
# watched for LOOP_S seconds (default 150; whole test under 4 minutes) with cooldown_minutes = 0,
# flap_failures = 3, a 1-minute flapping window and pending plans that expire after 30 s:
#  - loop-false (ExecStart=/bin/false) is started at most flap_failures times by healerd, then
#    stays escalated (service_flapping open, no start) after its mask request expired and after
#    the window passed;
#  - loop-3s (dies 3 s after every start) is never recorded healed: verify waits verify_window_s;
#  - loop-always (Restart=always, StartLimitBurst=3) is left to systemd: no RestartUnit,
#    StartUnit or ResetFailedUnit from healerd, service_flapping at its start-limit-hit; its
#    confirmed runtime mask is shadowed by its file in /etc: verified NOT healed;
#  - loop-limit (the same, never confirmed): systemd's start-limit-hit is never reset;
#  - loop-mask (/bin/false, file in /usr/lib): its confirmed mask is verified by LoadState masked;
#  - loop-stop, stopped by an administrator, is never raised or started, and a restart request
#    from another plugin for it is refused;
#  - loop-slow (activating for long: ExecStartPre sleeps) is service_degraded, never restarted;
#  - loop-bound (BindsTo= loop-base): stopped by systemd when loop-base crashed, started again
#    once loop-base runs (service_dependency_down).
# Prints the measured counts ("# measured:") that plugins/service/README.md quotes.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/lib/systemd-root.sh"
rc=0; sysroot_build || rc=$?
if [ "$rc" != 0 ]; then echo "SKIP: no isolated systemd root ($rc)"; exit 77; fi
LOOP_S=${LOOP_S:-150}
diag() {
  [ "$FAIL" = 0 ] && return 0
  echo "--- agent log (service)"; grep -E 'service|engine' "$T/agent.log" 2>/dev/null | grep -v 'debug engine' | tail -150 || true
  echo "--- audit (busctl calls)"; jq -c 'select(.actuator == "run") | [.time, .action, (.params.argv // [])[7:10]]' "$T/state/audit.jsonl" 2>/dev/null || true
  echo "--- heals"; get /api/v1/heals?limit=50 2>/dev/null | jq -c '.heals[] | [.id, .target, .issue_type, .outcome, [.actions[] | [.action, .outcome, .message]]]' 2>/dev/null || true
  echo "--- issues"; get /api/v1/issues 2>/dev/null | jq -c '.issues[] | [.type, .target, .state]' 2>/dev/null || true
}
trap 'diag; sysroot_stop; cleanup' EXIT

sysroot_prepare "$T/sysroot"
R="$SYSROOT_DIR/root"
V="$R/usr/lib/systemd/system"
E="$R/etc/systemd/system"
mkdir -p "$E/multi-user.target.wants"
unit() { # unit DIR NAME BODY: writes the unit and enables it
  printf '%s\n' "$3" >"$1/$2.service"
  ln -sf "$( [ "$1" = "$V" ] && echo /usr/lib/systemd/system || echo /etc/systemd/system )/$2.service" \
    "$E/multi-user.target.wants/$2.service"
}
unit "$V" loop-false $'[Service]\nExecStart=/bin/false'
unit "$V" loop-mask $'[Service]\nExecStart=/bin/false'
unit "$V" loop-3s $'[Service]\nExecStart=/bin/sh -c \'sleep 3; exit 1\''
unit "$E" loop-always $'[Unit]\nStartLimitIntervalSec=120\nStartLimitBurst=3\n[Service]\nExecStart=/bin/sh -c \'sleep 1; exit 1\'\nRestart=always\nRestartSec=300ms'
unit "$E" loop-limit $'[Unit]\nStartLimitIntervalSec=120\nStartLimitBurst=3\n[Service]\nExecStart=/bin/sh -c \'sleep 1; exit 1\'\nRestart=always\nRestartSec=300ms'
# not enabled: a unit activating forever would hold the boot; started once the agent runs
printf '[Service]\nExecStartPre=/bin/sleep 100000\nExecStart=/bin/sleep infinity\nTimeoutStartSec=infinity\n' >"$V/loop-slow.service"
unit "$V" loop-stop $'[Service]\nExecStart=/bin/sleep infinity'
unit "$V" loop-base $'[Service]\nExecStart=/bin/sleep infinity\nRestart=always\nRestartSec=1'
unit "$V" loop-bound $'[Unit]\nBindsTo=loop-base.service\nAfter=loop-base.service\n[Service]\nExecStart=/bin/sleep infinity'
sysroot_start
check "container's systemd finished booting" sysroot_wait_running
st() { [ "$(sysroot_state "$1")" = "$2" ]; }
check "loop-stop runs" st loop-stop.service active
check "loop-bound runs" st loop-bound.service active

PDIR=$(plugin_dir "$BUILD/plugins/service.so")
# the request phase (below) loads the requester fixture too, from a folder of its own
RDIR="$T/plugins-req"; mkdir -p "$RDIR"; chmod 755 "$RDIR"
install -m 0755 "$BUILD/plugins/service.so" "$BUILD/tests/plugins/requester.so" "$RDIR/"
ISO=${SVC_ISOLATION:-'isolation = "thread";'}
SVC="service = {
  bus_address = \"unix:path=$SYSROOT_BUS\";
  units = [\"loop-false.service\", \"loop-mask.service\", \"loop-3s.service\",
           \"loop-always.service\", \"loop-limit.service\", \"loop-stop.service\",
           \"loop-bound.service\", \"loop-slow.service\"];
  activating_timeout_s = 3.0;
  flap_failures = 3; flap_window_minutes = 1.0;
  verify_timeout_s = 5.0; verify_window_s = 10.0; $ISO
};"
echo "s3cret" >"$T/token"; chmod 600 "$T/token"
MODE=live ACTION_TIMEOUT=20 INTERVAL=0.5 COOLDOWN=0 LOG_LEVEL=debug write_config "$T/live.conf" "$PDIR" "$SVC"
sed -i 's|^  cooldown_minutes = 0;|  cooldown_minutes = 0;\n  confirm_timeout_minutes = 0.5;|' "$T/live.conf"
grep -q confirm_timeout_minutes "$T/live.conf" || { echo "config edit failed"; exit 1; }
start_agent "$T/live.conf"
T0=$(date +%s)
A="$T/state/audit.jsonl"

sysroot_systemctl start --no-block loop-slow.service
# An administrator stops loop-stop on purpose while the agent watches.
sleep 2
sysroot_systemctl stop loop-stop.service
check "loop-stop is stopped (inactive)" st loop-stop.service inactive
# loop-base crashes: systemd stops loop-bound (BindsTo) and restarts loop-base by itself.
sleep 3
sysroot_systemctl kill -s KILL loop-base.service
wait_for "loop-bound started again once loop-base runs" 60 st loop-bound.service active

pending_for() { get /api/v1/pending | jq -e --arg u "$1" '.pending[] | select(.target == $u and (.actions | map(.action) | index("mask_unit"))) | .id'; }
confirm() { status_of -X POST -H 'Authorization: Bearer s3cret' "$URL/api/v1/pending/$1/confirm"; }
wait_for "masking loop-mask waits for confirmation" 60 pending_for loop-mask.service
check "confirm loop-mask's mask: 200" [ "$(confirm "$(pending_for loop-mask.service)")" = 200 ]
wait_for "masking loop-always waits for confirmation" 60 pending_for loop-always.service
check "confirm loop-always's mask: 200" [ "$(confirm "$(pending_for loop-always.service)")" = 200 ]

heal_outcome() { # heal_outcome UNIT ACTION OUTCOME: a heal whose action ended so
  get '/api/v1/heals?limit=200' | jq -e --arg u "$1" --arg a "$2" --arg o "$3" \
    '[.heals[] | select(.target == $u) | .actions[] | select(.action == $a and .outcome == $o)] | length > 0'
}
wait_for "loop-mask: mask_unit verified healed" 30 heal_outcome loop-mask.service mask_unit healed
masked() { [ "$(sysctl_bus get-property org.freedesktop.systemd1 \
  "/org/freedesktop/systemd1/unit/$(sysroot_bus_label "$1")" org.freedesktop.systemd1.Unit LoadState)" = 's "masked"' ]; }
check "loop-mask is masked (LoadState)" masked loop-mask.service
wait_for "loop-always: mask_unit not healed (its /etc file outranks a runtime mask)" 30 \
  heal_outcome loop-always.service mask_unit not_healed
not_masked() { ! masked "$1"; }
check "loop-always is not masked" not_masked loop-always.service

starts() { # starts UNIT: RestartUnit/StartUnit calls of healerd for it (actuator lines)
  jq -s --arg u "$1" '[.[] | select(.actuator == "run" and
    ((.params.argv // []) | join(" ") | test("(RestartUnit|StartUnit) ss " + $u + " ")))] | length' "$A"
}
resets() { jq -s --arg u "$1" '[.[] | select(.actuator == "run" and
    ((.params.argv // []) | join(" ") | test("ResetFailedUnit s " + $u)))] | length' "$A"; }
healed() { get '/api/v1/heals?limit=500' | jq --arg u "$1" '[.heals[] | select(.target == $u and .outcome == "healed")] | length'; }
# Let the loops run: the window (1 min) and the pending plans' expiry (30 s) pass meanwhile.
while [ $(( $(date +%s) - T0 )) -lt $(( LOOP_S - 60 )) ]; do sleep 2; done
S1_FALSE=$(starts loop-false.service); S1_3S=$(starts loop-3s.service)
while [ $(( $(date +%s) - T0 )) -lt "$LOOP_S" ]; do sleep 2; done
ELAPSED=$(( $(date +%s) - T0 ))
not_healed() { get '/api/v1/heals?limit=500' | jq --arg u "$1" '[.heals[] | select(.target == $u) | .actions[] | select(.outcome == "not_healed")] | length'; }
open_issue() { get /api/v1/issues | jq -e --arg t "$1" --arg u "$2" '.issues[] | select(.type == $t and .target == $u and .state != "closed" and .state != "healed")' >/dev/null; }

for u in loop-false loop-3s loop-always loop-limit loop-stop loop-bound loop-mask; do
  echo "# measured: $u.service in ${ELAPSED} s: starts by healerd $(starts $u.service), resets $(resets $u.service), heals healed $(healed $u.service), verdicts not_healed $(not_healed $u.service)"
done
check "loop-false: at most flap_failures (3) starts in ${ELAPSED} s" [ "$(starts loop-false.service)" -le 3 ]
check "loop-false: still flapping (escalated) after its mask request expired and the window passed" \
  open_issue service_flapping loop-false.service
expired() { get '/api/v1/heals?limit=500' | jq -e '[.heals[] | select(.target == "loop-false.service" and .outcome == "expired")] | length > 0'; }
check "loop-false: a pending mask request of it expired (nobody confirmed it)" expired
check "loop-false and loop-3s: no start in the last 60 s" \
  [ "$(starts loop-false.service)" = "$S1_FALSE" -a "$(starts loop-3s.service)" = "$S1_3S" ]
check "loop-3s: never recorded healed" [ "$(healed loop-3s.service)" = 0 ]
check "loop-3s: relapses recorded as not healed" [ "$(not_healed loop-3s.service)" -ge 1 ]
check "loop-3s: at most flap_failures (3) starts" [ "$(starts loop-3s.service)" -le 3 ]
check "loop-3s: escalated (service_flapping open)" open_issue service_flapping loop-3s.service
for u in loop-always loop-limit; do
  check "$u: never started, restarted or reset by healerd" \
    [ "$(starts $u.service)" = 0 -a "$(resets $u.service)" = 0 ]
  check "$u: service_flapping open" open_issue service_flapping $u.service
  check "$u: no heal of a service_failed for it" \
    bash -c "curl -s '$URL/api/v1/heals?limit=500' | jq -e '[.heals[] | select(.issue_type == \"service_failed\" and .target == \"$u.service\")] | length == 0' >/dev/null"
done
RES=$(sysctl_bus get-property org.freedesktop.systemd1 /org/freedesktop/systemd1/unit/loop_2dlimit_2eservice \
      org.freedesktop.systemd1.Service Result)
# systemd 252 keeps the Result of the last exit when the start limit refuses a restart.
LIMST=$(sysroot_state loop-limit.service)
check "loop-limit: left failed by systemd's start limit ($LIMST, Result $RES)" [ "$LIMST" = failed ]
check "loop-limit: systemd's own log says it hit the start limit" \
  bash -c "nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w journalctl -u loop-limit.service --no-pager 2>/dev/null | grep -q 'Start request repeated too quickly'"
check "loop-stop: still inactive" st loop-stop.service inactive
check "loop-stop: never started by healerd" [ "$(starts loop-stop.service)" = 0 ]
check "loop-stop: no issue raised" \
  bash -c "! curl -s '$URL/api/v1/issues' | jq -e '.issues[] | select(.target == \"loop-stop.service\")'"
get '/api/v1/heals?limit=500' | jq -c '.heals[] | select(.target == "loop-bound.service") | [.issue_type, .outcome, [.actions[] | [.action, .outcome]]]'
bound_healed() { get '/api/v1/heals?limit=500' | jq -e '[.heals[] | select(.target == "loop-bound.service" and
  .issue_type == "service_dependency_down" and .outcome == "healed" and (.actions | map(.action) | index("start_unit")))] | length > 0'; }
degraded() { get /api/v1/issues | jq -e '.issues[] | select(.type == "service_degraded" and .target == "loop-slow.service" and .severity == "medium")'; }
check "loop-slow: activating for long is service_degraded (medium)" degraded
check "loop-slow: never restarted or started by healerd" [ "$(starts loop-slow.service)" = 0 ]
check "loop-slow: still activating (systemd's job left to run)" st loop-slow.service activating
check "loop-bound: healed by start_unit (service_dependency_down)" bound_healed
check "agent exits cleanly" stop_agent

# Another plugin asks for a restart of the unit the administrator stopped: refused.
CONF="service = { bus_address = \"unix:path=$SYSROOT_BUS\"; units = [\"loop-stop.service\"]; $ISO };
  requester = { ask = \"service\"; method = \"restart\"; args = [\"unit=loop-stop.service\"]; };"
MODE=live ACTION_TIMEOUT=20 write_config "$T/req.conf" "$RDIR" "$CONF"
"$HEALERD" -c "$T/req.conf" --once >"$T/once.out" 2>"$T/once.log" || true
check "restart request for the stopped unit refused" grep -q "asked service: .*loop-stop.service is stopped" "$T/once.out"
check "loop-stop still inactive after the request" st loop-stop.service inactive
check "no sanitizer output in the log" bash -c "! grep -q Sanitizer '$T/agent.log' '$T/once.log'"
finish
