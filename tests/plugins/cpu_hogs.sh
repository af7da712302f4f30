#!/usr/bin/env bash
# The cpu plugin in the real agent, live, on real busy processes in a cgroup of the test's own:
# two hogs (uid 2000, an ordinary user) are reniced and then killed (auto_stop = true: no
# confirmation); a light process (uid 2000, ~10% of a core) is reniced but not killed, and gets
# its nice value back once the load clears; four busy decoys (one protected by name, one by a
# system uid, one as nobody, one as a DynamicUser uid) are never reniced or stopped; the agent is confined
# to the test's cgroup with scope.cgroup, so nothing else can be touched either. The hogs are
# picked by share (over 25% of a core) and, should other load on this shared machine squeeze
# their share, by name (killable); the unit tests cover each rule alone.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/cpu_lib.sh"
cpu_setup
PDIR=$(plugin_dir "$BUILD/plugins/cpu.so")
# Utilization from the test's own burners (cpu_lib.sh), not from whoever else loads this machine:
# the hogs and decoys are a core each, the light process a tenth of one.
cpu_fake_stat cpuhog:100 cpudecoy:100 cpusysdecoy:100 cpulight:10
HEALERD=$CPU_HEALERD_NS

start_burner cpuhog 2000 100;       HOG1=${CPU_PIDS[-1]}
start_burner cpuhog 2000 100;       HOG2=${CPU_PIDS[-1]}
start_burner cpulight 2000 10;      LIGHT=${CPU_PIDS[-1]}
start_burner cpudecoy 2000 100;     DECOY_NAME=${CPU_PIDS[-1]}
start_burner cpusysdecoy 1 100;     DECOY_UID=${CPU_PIDS[-1]}
# Named like the hogs (killable): only the uid keeps them safe.
start_burner cpuhog 65534 100;      DECOY_NOBODY=${CPU_PIDS[-1]}
start_burner cpuhog 61200 100;      DECOY_DYN=${CPU_PIDS[-1]}
for p in $HOG1 $HOG2 $DECOY_NOBODY $DECOY_DYN; do wait_comm "$p" cpuhog; done
wait_comm "$LIGHT" cpulight
wait_comm "$DECOY_NAME" cpudecoy
wait_comm "$DECOY_UID" cpusysdecoy
for p in "${CPU_PIDS[@]}"; do check "pid $p is in the test's cgroup" in_cgroup "$p"; done
NICE0_LIGHT=$(nice_of "$LIGHT")
NICE0_DN=$(nice_of "$DECOY_NAME")
NICE0_DU=$(nice_of "$DECOY_UID")
NICE0_NB=$(nice_of "$DECOY_NOBODY")
NICE0_DY=$(nice_of "$DECOY_DYN")

CPU="cpu = { interval = 0.5; high_percent = 60.0; high_seconds = 2.0;
  critical_percent = 100.0; critical_seconds = 3600.0; clear_seconds = 1.0;
  renice_percent = 50.0; renice_min_percent = 1.0; top_n = 8;
  stop_percent = 55.0; stop_min_percent = 25.0; grace_seconds = 1.0; killable = [\"cpuhog\"];
  settle_seconds = 1.0; auto_stop = true; };"
EXTRA="protect = { names = [\"sshd\", \"systemd\", \"healerd\", \"cpudecoy\"]; };
scope = { cgroup = \"/$CG_NAME\"; };"
MODE=live INTERVAL=0.5 ACTION_TIMEOUT=20.0 write_config "$T/live.conf" "$PDIR" "$CPU" "$EXTRA"
start_agent "$T/live.conf"
A="$T/state/audit.jsonl"

issue_open() { get /api/v1/issues | jq -e '.issues[] | select(.type == "cpu_high")'; }
wait_for "cpu_high raised" 30 issue_open
check "the issue names a hog among the top consumers" \
  bash -c "curl -s $URL/api/v1/issues | jq -r '.issues[] | select(.type == \"cpu_high\") | .summary' | grep -q cpuhog"

wait_for "hog 1 killed" 40 gone "$HOG1"
wait_for "hog 2 killed" 10 gone "$HOG2"
jqa() { jq -se "$@" "$A" >/dev/null; }   # jqa [jq args] FILTER: the filter holds on the audit log
reniced() { # reniced PID: an ok renice of that pid to 10 in the audit log, before any signal to it
  jqa --argjson p "$1" '(map(.actuator == "renice" and .result == "ok" and .params.pid == $p and .params.nice == 10) | index(true)) as $r
    | (map(.actuator == "signal" and .params.pid == $p) | index(true)) as $s
    | $r != null and ($s == null or $r < $s)'
}
check "hog 1 was reniced to 10 before it was stopped" reniced "$HOG1"
check "hog 2 was reniced to 10 before it was stopped" reniced "$HOG2"
check "the light process was reniced to 10" reniced "$LIGHT"
check "the light process is at nice 10 now" [ "$(nice_of "$LIGHT")" = 10 ]
check "the light process was not stopped" alive "$LIGHT"
check "decoy protected by name still running" alive "$DECOY_NAME"
check "decoy protected by uid still running" alive "$DECOY_UID"
check "decoy protected by name: nice unchanged" [ "$(nice_of "$DECOY_NAME")" = "$NICE0_DN" ]
check "decoy protected by uid: nice unchanged" [ "$(nice_of "$DECOY_UID")" = "$NICE0_DU" ]
check "decoy running as nobody (65534) still running" alive "$DECOY_NOBODY"
check "decoy running as a DynamicUser uid (61200) still running" alive "$DECOY_DYN"
check "decoy running as nobody: nice unchanged" [ "$(nice_of "$DECOY_NOBODY")" = "$NICE0_NB" ]
check "decoy running as a DynamicUser uid: nice unchanged" [ "$(nice_of "$DECOY_DYN")" = "$NICE0_DY" ]
check "audit: stop_processes signalled the hogs" \
  jqa --argjson a "$HOG1" --argjson b "$HOG2" '[.[] | select(.actuator == "signal" and .params.signal == 15) | .params.pid] | (index($a) != null and index($b) != null)'
ours=$(printf '%s\n' "${CPU_PIDS[@]}" | jq -s .)
check "audit: no actuator call on a process the test did not start" \
  jqa --argjson ours "$ours" '[.[] | select(.actuator != null and .params.pid != null) | .params.pid | select(. as $p | $ours | index($p) | not)] | length == 0'
check "audit: no actuator call on a decoy" \
  jqa --argjson a "$DECOY_NAME" --argjson b "$DECOY_UID" --argjson c "$DECOY_NOBODY" --argjson d "$DECOY_DYN" \
  '[.[] | select(.actuator != null and (.params.pid == $a or .params.pid == $b or .params.pid == $c or .params.pid == $d))] | length == 0'

# The decoys hold the load up (they are protected); the test ends them itself, the load clears,
# and the agent gives the surviving process its nice value back. (Utilization is what
# the test's /proc/stat that is the light process alone then.)
kill -KILL "$DECOY_NAME" "$DECOY_UID" "$DECOY_NOBODY" "$DECOY_DYN"
wait "$DECOY_NAME" "$DECOY_UID" "$DECOY_NOBODY" "$DECOY_DYN" 2>/dev/null || true
restored() { [ "$(nice_of "$LIGHT")" = "$NICE0_LIGHT" ]; }
wait_for "the light process's nice restored to $NICE0_LIGHT" 90 restored
check "audit: the restore renice" \
  jqa --argjson p "$LIGHT" --argjson n "$NICE0_LIGHT" '[.[] | select(.actuator == "renice" and .result == "ok" and .params.pid == $p and .params.nice == $n)] | length > 0'
check "the light process is still running" alive "$LIGHT"
wait_for "cpu_high closed" 10 bash -c "! curl -s $URL/api/v1/issues | jq -e '.issues[] | select(.type == \"cpu_high\")'"
check "SIGTERM exits 0" stop_agent
finish
