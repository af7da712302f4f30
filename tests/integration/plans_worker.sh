#!/usr/bin/env bash
# examples/plans.d/worker.conf end to end with a REAL hung worker: a shell worker (a login-range
# uid) touches its heartbeat; a supervisor loop restarts it whenever it exits. The worker is
# stopped (SIGSTOP: hung), its heartbeat ages, check_failed is raised, and the plan's step (TERM,
# then KILL after the grace, which ends a stopped process) goes through act_signal; the
# supervisor starts a fresh worker, the heartbeat is fresh again, the heal is healed. Ending a
# process is risky: without allow_auto the plan waits for a person (checked first). Last, a
# pidfile written by one user naming another user's process is not followed.
. "$SRC/tests/lib/agent.sh"
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 77; }
WUID=4243
W="$T/worker"; mkdir -p "$W"; chown "$WUID:$WUID" "$W"
PIDFILE="$W/worker.pid"; BEAT="$W/heartbeat"
cat >"$W/worker.sh" <<SH
#!/bin/bash
echo \$\$ > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE"
while :; do touch "$BEAT"; sleep 0.2; done
SH
chmod 755 "$W/worker.sh"
# The supervisor (systemd's Restart= in real life): root, restarts the worker as $WUID.
# (set +e: a worker ended by a signal must not end the loop; its output not on ctest's pipe.)
( set +e
  while [ ! -e "$W/stop" ]; do
    setpriv --reuid "$WUID" --regid "$WUID" --clear-groups "$W/worker.sh" </dev/null >/dev/null 2>&1
    sleep 0.2
  done ) </dev/null >/dev/null 2>&1 &
SUP=$!
DECOY=""
stop_all() {
  touch "$W/stop"
  [ -z "$DECOY" ] || kill -KILL "$DECOY" 2>/dev/null || true
  local p; p=$(cat "$PIDFILE" 2>/dev/null) && kill -KILL "$p" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SUP" 2>/dev/null || true
  p=$(cat "$PIDFILE" 2>/dev/null) && kill -KILL "$p" 2>/dev/null || true
  wait "$SUP" 2>/dev/null || true
}
trap 'stop_all; cleanup' EXIT
wpid() { cat "$PIDFILE" 2>/dev/null; }
for _ in $(seq 50); do [ -s "$PIDFILE" ] && [ -e "$BEAT" ] && break; sleep 0.1; done
check "worker running" kill -0 "$(wpid)"
FIRST=$(wpid)

mkdir -p "$T/plans.d"
sed -e "s|/run/worker/heartbeat|$BEAT|" -e "s|/run/worker/worker.pid|$PIDFILE|g" \
    -e "s|max_age_s = 60|max_age_s = 2|" -e "s|interval_s = 15|interval_s = 0.5|g" \
    -e "s|grace_s = 10|grace_s = 1|" -e "s|settle_s = 15|settle_s = 2|" \
    "$SRC/examples/plans.d/worker.conf" >"$T/plans.d/worker.conf"
PDIR=$(plugin_dir "$BUILD/plugins/plans.so")

# ---- without allow_auto: the kill waits for a person ----
MODE=live write_config "$T/healerd.conf" "$PDIR" "plans = { };"
check "--check-config accepts it" "$HEALERD" --check-config -c "$T/healerd.conf"
start_agent "$T/healerd.conf"
kill -STOP "$FIRST"
pending() { get /api/v1/pending | jq -e '.pending[] | select(.issue.target == "worker_heartbeat" or .target == "worker_heartbeat")'; }
wait_for "without allow_auto the plan waits for confirmation" 30 pending
check "the hung worker was not signalled" bash -c "[ \"\$(awk '{print \$3}' /proc/$FIRST/stat)\" = T ]"
check "agent stops cleanly" stop_agent

# ---- allow_auto: the step runs by itself and the supervisor brings a fresh worker ----
rm -rf "$T/state"
MODE=live write_config "$T/healerd.conf" "$PDIR" "plans = { allow_auto = true; };"
start_agent "$T/healerd.conf"
A="$T/state/audit.jsonl"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.target == "worker_heartbeat" and .outcome == "healed")'; }
wait_for "the heal is recorded healed" 40 healed
check "the signal went through act_signal (audited ok)" bash -c "jq -s -e '[.[] | select(.action == \"worker_restart_term\" and .actuator == \"signal\" and .result == \"ok\")] | length > 0' '$A' >/dev/null"
check "the hung worker is gone" bash -c "! kill -0 $FIRST 2>/dev/null || [ \"\$(awk '{print \$3}' /proc/$FIRST/stat)\" = Z ]"
check "a fresh worker runs" bash -c "p=\$(cat $PIDFILE); [ \"\$p\" != $FIRST ] && kill -0 \$p"
resolved() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "check_failed")'; }
wait_for "the issue resolved" 15 resolved
check "agent stops cleanly" stop_agent

# ---- a pidfile written by one user naming another user's process is not followed ----
DECOY_UID=4244
setpriv --reuid "$DECOY_UID" --regid "$DECOY_UID" --clear-groups sleep 300 </dev/null >/dev/null 2>&1 &
DECOY=$!
DECOYFILE="$W/decoy.pid"
setpriv --reuid "$WUID" --regid "$WUID" --clear-groups sh -c "echo $DECOY > '$DECOYFILE'"
sed -i "s|pidfile = \"$PIDFILE\"; grace_s|pidfile = \"$DECOYFILE\"; grace_s|" "$T/plans.d/worker.conf"
check "the plan now names the decoy pidfile" grep -q "decoy.pid\"; grace_s" "$T/plans.d/worker.conf"
rm -rf "$T/state"
MODE=live write_config "$T/healerd.conf" "$PDIR" "plans = { allow_auto = true; };"
start_agent "$T/healerd.conf"
SECOND=$(wpid)
kill -STOP "$SECOND"
wait_for "the pidfile of another user is ignored (logged)" 30 grep -q "decoy.pid (owner uid $WUID) names pid $DECOY of uid $DECOY_UID: ignored" "$T/agent.log"
check "the other user's process was not signalled" kill -0 "$DECOY"
check "no signal actuator call was made" bash -c "! jq -s -e '[.[] | select(.actuator == \"signal\")] | length > 0' '$T/state/audit.jsonl' >/dev/null"
kill -KILL "$DECOY" 2>/dev/null || true
kill -CONT "$SECOND" 2>/dev/null || true
check "agent stops cleanly" stop_agent
finish
