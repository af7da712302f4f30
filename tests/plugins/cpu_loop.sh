#!/usr/bin/env bash
# A CPU hog re-spawned after every heal (two busy cpuhog processes of uid 2000, killable, in the
# test's own cgroup; the agent confined to it by scope.cgroup), the real agent live with
# auto_stop, cooldown 0, max_heals_per_hour = 6 and loop_heals = 3. Watched for at most LOOP_S
# (75) seconds. Always: no more heals than max_heals_per_hour, no more SIGTERMs than stop_max
# (2) per heal, no actuator call on a process the test did not start. Once 3 heals were healed
# the next plan waits for a person (reason "loop: 3 heals in 60 minutes") and no hog is
# signalled after it. Utilization is system-wide: on a machine someone else keeps above
# high_percent no heal verifies healed, and on a quiet one a round may take 25 s; when fewer
# than 3 heals verified in LOOP_S the escalation is not seen: exit 77 (skip) after the bounds
# were checked (seen on a quiet machine at load 0.8: 3 heals, 2 healed in 75 s). Prints "# measured:" counts that plugins/cpu/README.md quotes.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/cpu_lib.sh"
cpu_setup
PDIR=$(plugin_dir "$BUILD/plugins/cpu.so")
LOOP_S=${LOOP_S:-75}
CPU="cpu = { interval = 0.5; high_percent = 60.0; high_seconds = 2.0;
  critical_percent = 100.0; critical_seconds = 3600.0; clear_seconds = 1.0;
  renice_percent = 50.0; renice_min_percent = 3.0; top_n = 8;
  stop_percent = 55.0; stop_min_percent = 25.0; stop_max = 2; grace_seconds = 1.0;
  killable = [\"cpuhog\"]; settle_seconds = 1.0; auto_stop = true; };"
EXTRA="scope = { cgroup = \"/$CG_NAME\"; };"
MODE=live INTERVAL=0.5 ACTION_TIMEOUT=20.0 COOLDOWN=0 MAX_HEALS=6 LOOP_HEALS=3 \
  write_config "$T/live.conf" "$PDIR" "$CPU" "$EXTRA"
A="$T/state/audit.jsonl"
spawn() { start_burner cpuhog 2000 100; start_burner cpuhog 2000 100; }
hogs_alive() { local p n=0; for p in "${CPU_PIDS[@]}"; do alive "$p" && n=$((n + 1)); done; echo $n; }
heals() { get '/api/v1/heals?limit=100' | jq '[.heals[] | select(.issue_type == "cpu_high" and (.actions | length > 0))] | length'; }
healed() { get '/api/v1/heals?limit=100' | jq '[.heals[] | select(.issue_type == "cpu_high" and (.outcome == "healed" or .outcome == "relapsed"))] | length'; }
loop_pending() { get /api/v1/pending | jq -e '.pending[] | select(.reason == "loop: 3 heals in 60 minutes")' >/dev/null; }
sigterms() { [ -f "$A" ] && jq -s '[.[] | select(.actuator == "signal" and .params.signal == 15 and .result == "ok")] | length' "$A" || echo 0; }

spawn
start_agent "$T/live.conf"
T0=$(date +%s); SPAWNS=1
# Re-spawn the pair each time the agent has stopped both, until the loop is escalated.
while [ $(( $(date +%s) - T0 )) -lt "$LOOP_S" ]; do
  loop_pending && break
  if [ "$(hogs_alive)" = 0 ]; then spawn; SPAWNS=$((SPAWNS + 1)); fi
  sleep 0.5
done
ELAPSED=$(( $(date +%s) - T0 ))
ESCALATED=0; loop_pending && ESCALATED=1
if [ "$ESCALATED" = 1 ]; then
  S_AT=$(sigterms)
  # The hogs of this round keep running; the agent must leave them to the person.
  sleep 5
  check "no hog signalled after the plan was held for a person" [ "$(sigterms)" = "$S_AT" ]
  check "the hogs of the last round still run" [ "$(hogs_alive)" -ge 1 ]
fi
H=$(heals); HD=$(healed); S=$(sigterms)
echo "# measured: in ${ELAPSED} s: ${SPAWNS} spawns of 2 hogs, ${H} heals with actions, ${HD} healed, ${S} SIGTERMs, escalated ${ESCALATED}"
check "heals ($H) <= max_heals_per_hour (6)" [ "$H" -le 6 ]
check "SIGTERMs ($S) <= stop_max (2) x heals ($H)" [ "$S" -le $(( 2 * H )) ]
ours=$(printf '%s\n' "${CPU_PIDS[@]}" | jq -s .)
check "audit: no actuator call on a process the test did not start" \
  jq -se --argjson ours "$ours" '[.[] | select(.actuator != null and .params.pid != null) | .params.pid | select(. as $p | $ours | index($p) | not)] | length == 0' "$A" >/dev/null
if [ "$HD" -ge 3 ]; then
  check "after 3 healed heals the next plan waits for a person (loop)" [ "$ESCALATED" = 1 ]
  check "healed heals stop at loop_heals (3)" [ "$HD" = 3 ]
  check "the issue says loop" \
    bash -c "curl -s $URL/api/v1/issues | jq -e '.issues[] | select(.type == \"cpu_high\" and .reason == \"loop\")' >/dev/null"
fi
check "SIGTERM exits 0" stop_agent
if [ "$FAIL" = 0 ] && [ "$HD" -lt 3 ]; then
  echo "SKIP: only $HD heal(s) verified healed in ${LOOP_S} s, so the escalation was not seen (under other load no heal verifies; on a quiet machine a round can take 25 s: LOOP_S=150 to see it)"
  exit 77
fi
finish
