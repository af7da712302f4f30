#!/usr/bin/env bash
# tests/plugins/thermal_loop.sh — a heat source that comes back after every heal, on a sysfs
# fixture tree (this machine has no thermal zones): a background "kernel" keeps zone0 at 82 C
# (high, not critical) while any cpu that offers powersave runs another governor, and lets it
# drain to 70 C HEAT_DRAIN_S (0.5 s) after all of them are in powersave. So the plugin's step 0
# really cools it (verified healed after settle_seconds, 2 s), the hold passes (restore_after_seconds
# 1 s below 75 C), restore() puts schedutil back, and the heat returns: a loop the agent drives
# itself. Real agent, live, cooldown 0, max_heals_per_hour = 6, loop_heals = 3,
# relapse_window_s = 60. Bounded: at most LOOP_S (60) seconds of loop, then 5 s of watching.
# Always: heals <= max_heals_per_hour, no actuator call but a governor write in the fixture
# (cpu0-2; cpu3 offers no powersave), at most 3 writes per heal plus 3 per restore. Then: the
# plan after 3 healed heals waits for a person (reason "loop: 3 heals in 60 minutes"), each
# healed heal is marked relapsed, and nothing more is written: the governor stays schedutil
# and zone0 hot. Prints the counts ("# measured:") that plugins/thermal/README.md quotes.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/thermal_lib.sh"
LOOP_S=${LOOP_S:-60}
HEAT_DRAIN_S=${HEAT_DRAIN_S:-0.5}

S="$T/sys"
thermal_fixture "$S"
HEAT_PID=""
thermal_loop_cleanup() {
  if [ -n "$HEAT_PID" ]; then kill -KILL "$HEAT_PID" 2>/dev/null || true; wait "$HEAT_PID" 2>/dev/null || true; fi
  cleanup
}
trap thermal_loop_cleanup EXIT

# The heat source and how the ladder's step 0 cools it. Built-ins only (no fork per round) and
# at nice -10, so the "kernel" notices a governor write within milliseconds even when other
# work saturates the machine: the drain must happen inside verify's settle_seconds (2 s) for the
# heal to be healed. Writes its heat-ups (the heat coming back: the loop under test) and the
# longest gap between two of its rounds (how promptly it ran) to $T/heatups and $T/maxgap.
# (read fails at an end of file without a newline, as the actuator writes it, but fills g)
governor_is() { local g=""; read -r g <"$1" 2>/dev/null || true; [ "$g" = "$2" ]; }
powersave_everywhere() {
  local c
  for c in 0 1 2; do governor_is "$S/devices/system/cpu/cpu$c/cpufreq/scaling_governor" powersave || return 1; done
}
heat_source() {
  local hot=1 since=0 now last ups=1 gap maxgap=0 drain_us tick
  drain_us=$(awk -v d="$HEAT_DRAIN_S" 'BEGIN { printf "%d", d * 1000000 }')
  mkfifo "$T/tick"; exec {tick}<>"$T/tick"   # read -t on it: a sleep without a fork
  echo "$ups" >"$T/heatups"; echo 0 >"$T/maxgap"
  heat "$S" 82
  last=${EPOCHREALTIME/./}
  while :; do
    now=${EPOCHREALTIME/./}
    gap=$(( now - last )); last=$now
    if [ "$gap" -gt "$maxgap" ]; then maxgap=$gap; echo "$maxgap" >"$T/maxgap"; fi
    if powersave_everywhere; then
      [ "$since" != 0 ] || since=$now
      if [ "$hot" = 1 ] && [ $(( now - since )) -ge "$drain_us" ]; then heat "$S" 70; hot=0; fi
    else
      since=0
      if [ "$hot" = 0 ]; then heat "$S" 82; hot=1; ups=$(( ups + 1 )); echo "$ups" >"$T/heatups"; fi
    fi
    read -r -t 0.05 -u "$tick" _ || true
  done
}

MODE=live COOLDOWN=0 MAX_HEALS=6 LOOP_HEALS=3 RELAPSE_S=60 \
  write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/thermal.so")" '
  thermal = {
    interval = 0.2;
    settle_seconds = 2.0;
    restore_after_seconds = 1.0;
    hysteresis_celsius = 5.0;
  };' '
protect = { names = ["sshd", "systemd", "healerd"]; min_uid = 1000; };'
sed -i "s|^agent = {|agent = {\n  sys_root = \"$S\";|" "$T/healerd.conf"
grep -q "sys_root = \"$S\"" "$T/healerd.conf" || { echo "config edit failed"; exit 1; }

A="$T/state/audit.jsonl"
REASON="loop: 3 heals in 60 minutes"
heals() { get '/api/v1/heals?limit=100' | jq '[.heals[] | select(.issue_type == "temperature_high" and (.actions | length > 0))] | length'; }
healed() { get '/api/v1/heals?limit=100' | jq '[.heals[] | select(.issue_type == "temperature_high" and (.outcome == "healed" or .outcome == "relapsed"))] | length'; }
relapsed() { get '/api/v1/heals?limit=100' | jq '[.heals[] | select(.issue_type == "temperature_high" and .outcome == "relapsed")] | length'; }
loop_pending() { get /api/v1/pending | jq -e --arg r "$REASON" '.pending[] | select(.reason == $r)' >/dev/null; }
# The plan that waits gets a dry-run preview (audit lines with dry_run and params.preview): those
# change nothing and are not counted as the agent's doing.
audit_lines() { [ -f "$A" ] && jq -s '[.[] | select((.params.preview // false) | not)] | length' "$A" || echo 0; }
acts() { [ -f "$A" ] && jq -s '[.[] | select(.actuator != null and ((.params.preview // false) | not))] | length' "$A" || echo 0; }
acts_ok() { [ -f "$A" ] && jq -s '[.[] | select(.actuator != null and .result == "ok")] | length' "$A" || echo 0; }

heat_source &
HEAT_PID=$!
renice -n -10 -p "$HEAT_PID" >/dev/null
start_agent "$T/healerd.conf"
T0=$(date +%s)
while [ $(( $(date +%s) - T0 )) -lt "$LOOP_S" ]; do
  loop_pending && break
  sleep 0.2
done
ELAPSED=$(( $(date +%s) - T0 ))
ESCALATED=0; loop_pending && ESCALATED=1
check "the plan after 3 healed heals waits for a person (reason loop)" [ "$ESCALATED" = 1 ]
L_AT=$(audit_lines)
# Held: the heat stays, and the agent must leave it to the person.
sleep 5
check "nothing audited after the plan was held (no action, no actuator call)" [ "$(audit_lines)" = "$L_AT" ]
check "the governor stays as restore() left it (schedutil on cpu0-3)" all_cpus "$S" scaling_governor schedutil
check "zone0 is still hot (82 C)" is "$S/class/thermal/thermal_zone0/temp" 82000
check "the plan is still pending" loop_pending
wait_for "the waiting plan was previewed (dry-run only)" 10 bash -c "[ \$(jq -s '[.[] | select(.params.preview == true and .dry_run == true)] | length' '$A') -gt 0 ]"

H=$(heals); HD=$(healed); RL=$(relapsed); W=$(acts); WOK=$(acts_ok); HU=$(cat "$T/heatups")
echo "# measured: in ${ELAPSED} s: ${HU} heat-ups, ${H} heals with actions, ${HD} healed (${RL} of them relapsed), ${W} actuator calls (${WOK} ok), escalated ${ESCALATED}; the heat source's longest round $(( $(cat "$T/maxgap") / 1000 )) ms"
check "healed heals stop at loop_heals (3)" [ "$HD" = 3 ]
check "heals ($H) <= max_heals_per_hour (6)" [ "$H" -le 6 ]
check "every healed heal came back within relapse_window_s: marked relapsed ($RL)" [ "$RL" = 3 ]
check "governor writes ($W) <= 3 cpus x (heal + restore) x heals ($H)" [ "$W" -le $(( 6 * H )) ]
check "the heat came back once per healed heal, plus the first ($HU = $((HD + 1)))" [ "$HU" = $((HD + 1)) ]
# What the agent may touch is the governor of the three cpus that offer powersave: nothing else
# (no frequency, fan, cgroup or process).
outside=$(jq -c --arg s "$S" 'select(.actuator != null) | select((.actuator != "write_file") or
    ((.params.path // "") | test("^" + $s + "/devices/system/cpu/cpu[0-2]/cpufreq/scaling_governor$") | not))' "$A")
check "audit: no actuator call but the governor of cpu0-2 in the fixture" [ -z "$outside" ]
[ -z "$outside" ] || echo "$outside" | head -5
check "audit: only powersave_governor ran (no higher rung at 82 C)" \
  test "$(action_order "$A" | tr '\n' ' ')" = "powersave_governor "
check "the issue says loop" \
  bash -c "curl -s $URL/api/v1/issues | jq -e '.issues[] | select(.type == \"temperature_high\" and .reason == \"loop\")' >/dev/null"
check "cpu3 (no powersave offered) never written" all_cpus "$S" scaling_governor schedutil 3
untouched() { all_cpus "$S" scaling_max_freq 3000000 && is "$S/class/hwmon/hwmon0/pwm1" 100 &&
  is "$S/class/hwmon/hwmon0/pwm1_enable" 2; }
check "max frequency and fan untouched" untouched
check "SIGTERM exits 0" stop_agent
check "no sanitizer report and no error from the agent" \
  bash -c "! grep -E 'Sanitizer|runtime error:|^error' '$T/agent.log' | grep -q ."
finish
