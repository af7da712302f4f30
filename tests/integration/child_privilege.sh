#!/usr/bin/env bash
# child_privilege.sh — least privilege and limits of plugin children (isolation = "process"):
#   - the privprobe fixture, from detect() and execute(), calls kill(2) and setpriority(2) on a
#     process this test started, opens /proc/sys/vm/drop_caches for writing (never writes it)
#     and creates a file outside its state directory: each fails with EPERM/EACCES, while the
#     same changes through the host API (act_signal, act_renice, act_write_file) take effect;
#     it may still create files in state_dir/plugins/privprobe and signal or renice itself;
#   - /api/v1/plugins shows how the child is confined;
#   - without keys, socket(AF_UNIX) (connecting to a socket this test listens on), reading
#     /proc/PID/fd of the test's process, ptrace(2), process_vm_readv(2) and opening /proc/PID/mem
#     for writing all fail; with local_sockets the connect works, with inspect_processes the
#     /proc/PID/fd links read, while ptrace, process_vm_readv, /proc/PID/mem writes, kill,
#     setpriority, drop_caches and files outside the state directory stay refused;
#   - the memhog fixture leaks past plugins.memhog.memory_max_mb: its child is killed, logged
#     and counted as a crash with the reason (out of memory), and the ticker keeps healing;
#   - plugins.<name>.confine = false (the ticker's) is warned about and shown.
set -euo pipefail
. "$SRC/tests/lib/agent.sh"
FIX="$BUILD/tests/plugins"
S="$T/sys"
mkdir -p "$S/devices/system/cpu/cpu0/cpufreq" "$T/out"
echo ondemand >"$S/devices/system/cpu/cpu0/cpufreq/scaling_governor"
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 &
VICTIM=$!
/usr/bin/python3 -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o666); s.listen(64)
while True: s.accept()[0].close()' "$T/listen.sock" &
LISTENER=$!
trap 'kill -KILL $VICTIM $LISTENER 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do [ -S "$T/listen.sock" ] && break; sleep 0.1; done

conf() { # conf FILE PLUGIN_DIR "plugins section"
  mkdir -p "$T/state"
  cat >"$1" <<CONF
agent = { mode = "live"; interval = 0.3; plugin_dir = "$2"; state_dir = "$T/state";
          sys_root = "$S"; action_timeout = 5.0; log_level = "info"; };
# the probe heals the same target again and again: no loop escalation, no relapse marks
limits = { max_heals_per_hour = 100000; cooldown_minutes = 0; loop_heals = 0; relapse_window_s = 0; };
scope = { uids = [65534]; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = {
$3
};
CONF
}

# ---- direct changes fail, the same through the agent work ---------------------------------------
PD=$(plugin_dir "$FIX/privprobe.so")
MINE="$T/state/plugins/privprobe/probe-file"
conf "$T/a.conf" "$PD" "privprobe = { isolation = \"process\"; pid = $VICTIM;
    sys_file = \"$S/devices/system/cpu/cpu0/cpufreq/scaling_governor\";
    outside = \"$T/outside-file\"; mine = \"$MINE\"; unix_path = \"$T/listen.sock\";
    write_allow = [\"sys/devices/system/cpu/\"]; };"
start_agent "$T/a.conf"
wait_for "the probe's execute() ran" 30 grep -q "privprobe: execute done" "$T/agent.log"
for when in detect execute; do
  check "$when: kill(2) of another process: EPERM" grep -q "privprobe: $when direct kill other: EPERM" "$T/agent.log"
  check "$when: setpriority(2) of another process: EPERM" grep -q "privprobe: $when direct setpriority other: EPERM" "$T/agent.log"
  check "$when: open /proc/sys/vm/drop_caches for writing: EACCES" grep -Eq "privprobe: $when direct open drop_caches: (EACCES|EPERM)" "$T/agent.log"
  check "$when: a file outside its state directory: EACCES" grep -Eq "privprobe: $when direct create outside: (EACCES|EPERM)" "$T/agent.log"
  check "$when: a file in its state directory: ok" grep -q "privprobe: $when direct create mine: ok" "$T/agent.log"
  check "$when: signalling itself: ok" grep -q "privprobe: $when direct kill self: ok" "$T/agent.log"
  check "$when: renicing itself: ok" grep -q "privprobe: $when direct setpriority self: ok" "$T/agent.log"
  check "$when: socket(AF_UNIX) without local_sockets: EPERM" grep -q "privprobe: $when direct unix connect: EPERM" "$T/agent.log"
  check "$when: /proc/PID/fd of another process without inspect_processes: refused" grep -Eq "privprobe: $when direct read fd other: (EACCES|EPERM)" "$T/agent.log"
  check "$when: ptrace(2) of another process: EPERM" grep -q "privprobe: $when direct ptrace other: EPERM" "$T/agent.log"
  check "$when: process_vm_readv(2) of another process: EPERM" grep -q "privprobe: $when direct vm_read other: EPERM" "$T/agent.log"
  check "$when: /proc/PID/mem of another process for writing: refused" grep -Eq "privprobe: $when direct open mem other: (EACCES|EPERM)" "$T/agent.log"
done
check "the victim survived the direct SIGKILL" kill -0 "$VICTIM"
check "host act_signal: ok" grep -q "privprobe: host signal: ok" "$T/agent.log"
check "host act_renice: ok" grep -q "privprobe: host renice: ok" "$T/agent.log"
check "host act_write_file: ok" grep -q "privprobe: host write: ok" "$T/agent.log"
check "the victim is stopped (the agent's SIGSTOP; the direct SIGCONT failed)" \
  bash -c "[ \"\$(awk '{print \$3}' /proc/$VICTIM/stat)\" = T ]"
check "the victim's nice is 5 (the agent's; the direct 9 failed)" [ "$(ps -o ni= -p $VICTIM | tr -d ' ')" = 5 ]
check "the fixture sysfs file was written by the agent" [ "$(cat "$S/devices/system/cpu/cpu0/cpufreq/scaling_governor")" = 1 ]
check "no file outside the state directory" [ ! -e "$T/outside-file" ]
check "the file in its state directory exists" [ -f "$MINE" ]
check "the state directory is private" [ "$(stat -c %a "$T/state/plugins/privprobe")" = 700 ]
check "/api/v1/plugins shows the confinement" bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"privprobe\") | .process.privileges | test(\"seccomp\") and test(\"no_new_privs\")' >/dev/null"
check "/api/v1/plugins says unix sockets are refused" bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"privprobe\") | .process.privileges | test(\"no unix sockets\")' >/dev/null"
stop_agent
kill -CONT "$VICTIM" 2>/dev/null || true

# ---- inspect_processes and local_sockets: what they open, and what stays shut --------------------
MINE2="$T/state/plugins/privprobe/probe-file-2"
conf "$T/k.conf" "$PD" "privprobe = { isolation = \"process\"; pid = $VICTIM;
    sys_file = \"$S/devices/system/cpu/cpu0/cpufreq/scaling_governor\";
    outside = \"$T/outside-file\"; mine = \"$MINE2\"; unix_path = \"$T/listen.sock\";
    inspect_processes = true; local_sockets = true;
    write_allow = [\"sys/devices/system/cpu/\"]; };"
echo ondemand >"$S/devices/system/cpu/cpu0/cpufreq/scaling_governor"
start_agent "$T/k.conf"
wait_for "the probe's execute() ran (with the keys)" 30 grep -q "privprobe: execute done" "$T/agent.log"
for when in detect execute; do
  check "keys, $when: unix connect with local_sockets: ok" grep -q "privprobe: $when direct unix connect: ok" "$T/agent.log"
  check "keys, $when: /proc/PID/fd links with inspect_processes: ok" grep -q "privprobe: $when direct read fd other: ok" "$T/agent.log"
  check "keys, $when: ptrace(2) still EPERM" grep -q "privprobe: $when direct ptrace other: EPERM" "$T/agent.log"
  check "keys, $when: process_vm_readv(2) still EPERM" grep -q "privprobe: $when direct vm_read other: EPERM" "$T/agent.log"
  check "keys, $when: /proc/PID/mem for writing still refused" grep -Eq "privprobe: $when direct open mem other: (EACCES|EPERM)" "$T/agent.log"
  check "keys, $when: kill(2) of another process still EPERM" grep -q "privprobe: $when direct kill other: EPERM" "$T/agent.log"
  check "keys, $when: setpriority(2) of another process still EPERM" grep -q "privprobe: $when direct setpriority other: EPERM" "$T/agent.log"
  check "keys, $when: drop_caches for writing still refused" grep -Eq "privprobe: $when direct open drop_caches: (EACCES|EPERM)" "$T/agent.log"
  check "keys, $when: a file outside its state directory still refused" grep -Eq "privprobe: $when direct create outside: (EACCES|EPERM)" "$T/agent.log"
  check "keys, $when: a file in its state directory: ok" grep -q "privprobe: $when direct create mine: ok" "$T/agent.log"
done
check "keys: the victim survived and kept running (no direct SIGKILL, no ptrace stop)" \
  bash -c "kill -0 $VICTIM && [ \"\$(awk '{print \$3}' /proc/$VICTIM/stat)\" = T ]"
check "keys: host act_write_file still works" grep -q "privprobe: host write: ok" "$T/agent.log"
check "keys: the fixture sysfs file was written by the agent" [ "$(cat "$S/devices/system/cpu/cpu0/cpufreq/scaling_governor")" = 1 ]
check "keys: no file outside the state directory" [ ! -e "$T/outside-file" ]
echo "# with the keys: $(curl -s $URL/api/v1/plugins | jq -r '.plugins[] | select(.name=="privprobe") | .process.privileges')"
grep "privprobe: .* direct .*: " "$T/agent.log" | sed 's/^/# /' | sort -u -k3 | head -40
check "keys: /api/v1/plugins shows sys_ptrace and no Landlock" bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"privprobe\") | .process.privileges | test(\"sys_ptrace\") and (test(\"Landlock ABI\") | not) and (test(\"no unix sockets\") | not)' >/dev/null"
stop_agent
kill -CONT "$VICTIM" 2>/dev/null || true

# ---- a plugin over its memory limit -------------------------------------------------------------
if [ ! -d /sys/fs/cgroup/memory ]; then
  echo "# no cgroup v1 memory controller: the OOM case is not run here"
  finish; exit $?
fi
rm -rf "$T/state"
PD=$(plugin_dir "$FIX/ticker.so" "$FIX/memhog.so")
rm -f "$PD/privprobe.so"
conf "$T/b.conf" "$PD" "ticker = { dir = \"$T/out\"; paths_allow = [\"$T/out\"]; isolation = \"process\"; confine = false; };
  memhog = { isolation = \"process\"; memory_max_mb = 16; mb = 8; max_crashes = 2; };"
start_agent "$T/b.conf"
wait_for "memhog's child was killed for memory" 60 grep -q "plugin memhog crashed: killed by signal 9 (SIGKILL): out of memory (over plugins.memhog.memory_max_mb = 16)" "$T/agent.log"
check "counted in /metrics" bash -c "curl -s $URL/metrics | grep -q 'plugin_crashes_total{plugin=\"memhog\"}'"
check "/api/v1/plugins shows the reason" bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"memhog\") | .process.last_crash | test(\"out of memory\")' >/dev/null"
check "/api/v1/plugins shows the limit" bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"memhog\") | .process.memory_max_mb == 16 and (.process.limits | test(\"memory: cgroup\"))' >/dev/null"
before=$(ls "$T/out" | wc -l)
wait_for "the ticker keeps healing" 20 bash -c "[ \$(ls $T/out | wc -l) -gt $before ]"
check "the agent is alive" kill -0 "$AGENT_PID"
check "confine = false is warned about" grep -q "NOT confined: plugins.ticker.confine = false" "$T/agent.log"
check "/api/v1/plugins says the ticker is not confined" bash -c \
  "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name==\"ticker\") | .process.privileges | test(\"not confined\")' >/dev/null"
stop_agent
finish
