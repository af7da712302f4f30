#!/usr/bin/env bash
# tests/plugins/memory_kill_exact.sh — "never fewer, never more": 13 real hogs of 18 MiB in one
# real v1 memory cgroup (256M, swappiness 0), started before the agent so the cgroup sits at
# ~92 % used (in emergency: <= 10 % of the limit available). The agent, live, must kill exactly
# as many as it takes to get the cgroup under high_percent (80 %), computed here from the
# measured usage, and touch nothing outside the cgroup: a bigger decoy of the same name and uid
# runs in a sibling cgroup, inside the agent's scope, so only the plugin's own cgroup choice
# keeps it alive. KILL_MODE=emergency (default) heals through emergency_kill; KILL_MODE=low
# turns the emergency path off and heals through kill_low_priority.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/memory_lib.sh"

N=13 SIZE=18
# A uid of this test's own: scope.uids confines the agent to the hogs and the decoy.
TUID=$(( 61000 + $$ % 1000 ))
DECOY_CG=$MEMCG_ROOT/healer-mem-decoy-$$
exact_cleanup() { mem_cleanup; [ -d "$DECOY_CG" ] && rmdir "$DECOY_CG" 2>/dev/null; true; }
trap exact_cleanup EXIT
mkdir "$DECOY_CG"

start_as() { # CGROUP MB: a hog as $TUID in CGROUP; its pid in HOG_PID
  local cg=$1; shift
  ( echo "$BASHPID" >"$cg/cgroup.procs"
    exec setpriv --reuid=$TUID --regid=$TUID --clear-groups "$HOG" "$@" >"$T/hog.$BASHPID.out" ) &
  HOG_PID=$!
  HOGS+=("$HOG_PID")
}

start_as "$DECOY_CG" 100
decoy=$HOG_PID
wait_for "the decoy holds 100 MiB" 20 hog_holds "$decoy" 100
hogs=()
for _ in $(seq $N); do start_as "$CG" $SIZE; hogs+=("$HOG_PID"); done
for p in "${hogs[@]}"; do wait_for "hog $p holds $SIZE MiB" 20 hog_holds "$p" $SIZE; done

limit=$(cat "$CG/memory.limit_in_bytes")
usage=$(cat "$CG/memory.usage_in_bytes")
# Each hog's share of the charge (its 19 MiB plus its own pages); how many must go to get
# under 80 % of the limit.
expect=$(awk -v u="$usage" -v l="$limit" -v n=$N 'BEGIN { per = u / n; k = 0;
  while (u - k * per >= 0.8 * l) k++; print k }')
echo "# cgroup at $(awk -v u="$usage" -v l="$limit" 'BEGIN{printf "%.1f", 100*u/l}') % of the limit; expect $expect of $N hogs killed"
check "the cgroup starts in emergency (<= 10 % available)" \
  awk -v u="$usage" -v l="$limit" 'BEGIN { exit !(u >= 0.9 * l) }'
check "more than one victim is needed (the loop is what is tested)" test "$expect" -ge 2

emergency=true
[ "${KILL_MODE:-emergency}" = low ] && emergency=false
MODE=live INTERVAL=0.2 write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/memory.so")" "
  memory = {
    watch_system = false;
    cgroups = [\"memory/$CGNAME\"];
    emergency = $emergency;
    kill_percent = 85.0;
    kill_grace_s = 2.0;
    emergency_grace_s = 1.0;
    max_kills = 10;
  };" "scope = { uids = [$TUID]; };
protect = { names = [\"sshd\", \"healerd\"]; min_uid = 1000; };"
start_agent "$T/healerd.conf"

dead_count() { local n=0 p; for p in "${hogs[@]}"; do hog_gone "$p" && n=$((n + 1)); done; echo $n; }
enough_dead() { [ "$(dead_count)" -ge "$expect" ]; }
healed() { grep -q "memory_high on $CG: healed" "$T/agent.log"; }
wait_for "$expect hogs are killed" 30 enough_dead
wait_for "the issue is healed" 20 healed
# Give the agent time to (wrongly) go on killing, then check it did not.
sleep 2
action=emergency_kill
[ "$emergency" = false ] && action=kill_low_priority
check "exactly $expect of $N hogs were killed (got $(dead_count))" test "$(dead_count)" = "$expect"
check "the cgroup is under 80 % of its limit" \
  awk -v u="$(cat "$CG/memory.usage_in_bytes")" -v l="$limit" 'BEGIN { exit !(u < 0.8 * l) }'
signalled=$(grep '"actuator":"signal"' "$T/state/audit.jsonl" | grep '"result":"ok"' |
            sed -n 's/.*"pid":\([0-9]*\).*/\1/p' | sort -u)
check "exactly $expect processes were signalled" test "$(echo "$signalled" | grep -c .)" = "$expect"
for p in $signalled; do
  check "signalled pid $p is one of the cgroup's hogs" bash -c "printf '%s\n' ${hogs[*]} | grep -qx $p"
done
check "the decoy outside the cgroup is alive" hog_alive "$decoy"
check "the decoy was never signalled" \
  bash -c "! grep '\"actuator\":\"signal\"' '$T/state/audit.jsonl' | grep -q '\"pid\":$decoy,'"
check "the heal went through $action" grep -q "\"action\":\"$action\"" "$T/state/audit.jsonl"
check "nothing system-wide was done for the cgroup's issue (no write_file, no run)" \
  bash -c "! grep -q '\"actuator\":\"\\(write_file\\|run\\)\"' '$T/state/audit.jsonl'"
check "the cgroup's OOM killer never ran" test "$(oom_kills)" = 0
check "no sanitizer report from the agent" sanitizer_clean
[ "$FAIL" -eq 0 ] || { sed "s/^/# /" "$T/agent.log" | tail -n 40; sed "s/^/# /" "$T/state/audit.jsonl" | cut -c1-300 | tail -n 20; }
finish
