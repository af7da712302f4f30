#!/usr/bin/env bash
# tests/plugins/thermal_emergency_stop.sh — the emergency rung with emergency = "stop" in the
# real agent: at 100 C the frequency goes to cpuinfo_min_freq (fixture tree) and REAL user
# processes this test started are stopped with SIGSTOP — only those in scope (a cgroup this
# test creates), never a decoy outside it — and continued with SIGCONT once it has cooled.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/thermal_lib.sh"

CG=/healer-thermal-$$
CGDIR=/sys/fs/cgroup/freezer$CG
PIDS=()
thermal_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -d "$CGDIR" ] && rmdir "$CGDIR" 2>/dev/null
  cleanup
}
trap thermal_cleanup EXIT

mkdir "$CGDIR"
# Two workers inside the scope cgroup (joined before exec, so no moment outside it), and a
# decoy of the same uid outside it.
for _ in 1 2; do
  sh -c "echo \$\$ > $CGDIR/cgroup.procs; exec setpriv --reuid 65534 --regid 65534 --clear-groups sleep 300" &
  PIDS+=($!)
done
setpriv --reuid 65534 --regid 65534 --clear-groups sleep 300 &
DECOY=$!
PIDS+=($DECOY)
W1=${PIDS[0]} W2=${PIDS[1]}
state_of() { awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null; }
wait_for "workers joined the scope cgroup" 5 bash -c "grep -qx $W1 $CGDIR/cgroup.procs && grep -qx $W2 $CGDIR/cgroup.procs"

S="$T/sys"
thermal_fixture "$S"
MODE=live write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/thermal.so")" '
  thermal = {
    interval = 0.2;
    settle_seconds = 0.0;
    restore_after_seconds = 1.0;
    emergency = "stop";
  };' "
scope = { cgroup = \"$CG\"; uids = [65534]; };
protect = { names = [\"sshd\", \"systemd\", \"healerd\"]; min_uid = 1000; };"
sed -i "s|^agent = {|agent = {\n  sys_root = \"$S\";|" "$T/healerd.conf"
start_agent "$T/healerd.conf"

heat "$S" 100
wait_for "100 C: max freq at cpuinfo_min_freq on every cpu" 10 all_cpus "$S" scaling_max_freq 800000
stopped() { [ "$(state_of "$W1")" = T ] && [ "$(state_of "$W2")" = T ]; }
wait_for "100 C: both workers stopped (SIGSTOP)" 10 stopped
sleep 1   # more heals at 100 C
check "the decoy outside the scope was never stopped" test "$(state_of "$DECOY")" = S
check "the emergency ran after the gentler rungs" test \
  "$(action_order "$T/state/audit.jsonl" | tr '\n' ' ')" = \
  "powersave_governor cap_max_freq fans_max thermal_emergency "
check "each worker stopped once (no second SIGSTOP on later heals)" test \
  "$(jq -r 'select(.actuator=="signal") | .target' "$T/state/audit.jsonl" | sort | uniq -c | awk '{print $1}' | sort -u)" = 1

heat "$S" 50
continued() { [ "$(state_of "$W1")" = S ] && [ "$(state_of "$W2")" = S ]; }
wait_for "cooled: both workers continued (SIGCONT)" 15 continued
wait_for "cooled: max freq back to 3000000" 10 all_cpus "$S" scaling_max_freq 3000000
check "cooled: governor back to schedutil" all_cpus "$S" scaling_governor schedutil
check "cooled: fan back to automatic" is "$S/class/hwmon/hwmon0/pwm1_enable" 2
check "the decoy is still running, untouched" test "$(state_of "$DECOY")" = S

stop_agent
finish
