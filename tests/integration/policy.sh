#!/usr/bin/env bash
# Operator policy, not plugin self-declaration, on the real agent with the policy_probe fixture
# (a third-party plugin that asks for more than it is given):
#   - declare_path("/") is refused; its own directory only once plugins.<name>.paths_allow has it;
#   - a write to proc_root/sys/kernel/core_pattern is refused even when write_allow lists it;
#     a sysfs file in write_allow is written, one outside it refused naming the key;
#   - its AUTO_OK flag is ignored unless allow_auto (the plan waits for confirmation);
#   - its SYSTEM flag is ignored unless allow_system (a root-owned process stays protected).
# procfs and sysfs are fixture trees under $T: the host's own are never written.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/tests/plugins/policy_probe.so")
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
P="$T/proc"; S="$T/sys"
mkdir -p "$P/sys/kernel" "$S/devices/system/cpu/cpu0/cpufreq" "$S/class/hwmon/hwmon0" "$T/mine"
echo core >"$P/sys/kernel/core_pattern"
echo ondemand >"$S/devices/system/cpu/cpu0/cpufreq/scaling_governor"
echo 0 >"$S/class/hwmon/hwmon0/pwm1"
sleep 300 &
SLEEPER=$!
ln -s "/proc/$SLEEPER" "$P/$SLEEPER"
ln -s /proc/self "$P/self"
trap 'kill $SLEEPER 2>/dev/null' EXIT

conf() { # conf FILE "policy keys"
  mkdir -p "$T/state"
  cat >"$1" <<CONF
agent = { mode = "live"; interval = 0.2; plugin_dir = "$PDIR"; state_dir = "$T/state";
          proc_root = "$P"; sys_root = "$S"; action_timeout = 5.0; };
# the probe heals the same target again and again: no loop escalation, no relapse marks
limits = { max_heals_per_hour = 100; cooldown_minutes = 0; loop_heals = 0; relapse_window_s = 0; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = {
  policy_probe = { dir = "$T/mine"; core = "$P/sys/kernel/core_pattern";
    sys_ok = "$S/devices/system/cpu/cpu0/cpufreq/scaling_governor";
    sys_no = "$S/class/hwmon/hwmon0/pwm1"; pid = $SLEEPER;
    $2 };
};
CONF
}

# ---- a third party on defaults: nothing allowed ------------------------------------------------
conf "$T/a.conf" ""
start_agent "$T/a.conf"
wait_for "init ran" 10 grep -q "probe: declare dir" "$T/agent.log"
check "declare_path(\"/\") refused" grep -q 'probe: declare /: out of scope: .*whole system' "$T/agent.log"
check "its own dir refused without paths_allow, naming the key" \
  grep -q "probe: declare dir: out of scope: .*not in plugins.policy_probe.paths_allow" "$T/agent.log"
stop_agent

# ---- the operator allows some: AUTO_OK still ignored, SYSTEM ignored ---------------------------
conf "$T/b.conf" "paths_allow = [\"$T/mine\"];
    write_allow = [\"proc/sys/kernel/core_pattern\", \"sys/devices/system/cpu/\"];"
start_agent "$T/b.conf"
wait_for "its dir is declared" 10 grep -q "probe: declare dir: ok" "$T/agent.log"
pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
wait_for "AUTO_OK ignored: the plan waits for confirmation" 10 pending_id
check "the log says which key" grep -q "ignored: plugins.policy_probe.allow_auto is not set" "$T/agent.log"
ID=$(pending_id)
check "confirm: 200" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/confirm")" = 200 ]
wait_for "the action ran" 10 grep -q "probe: renice" "$T/agent.log"
check "core_pattern refused though listed" grep -q "probe: write core: protected: .*core_pattern.*no setting allows it" "$T/agent.log"
check "core_pattern unchanged" [ "$(cat "$P/sys/kernel/core_pattern")" = core ]
check "the allowed sysfs file is written" [ "$(cat "$S/devices/system/cpu/cpu0/cpufreq/scaling_governor")" = 1 ]
check "the other sysfs file refused, naming the key and the item" \
  grep -q 'probe: write sys_no: out of scope: .*not in plugins.policy_probe.write_allow (healerd.conf): add "sys/class/hwmon/hwmon0/pwm1"' "$T/agent.log"
check "pwm1 unchanged" [ "$(cat "$S/class/hwmon/hwmon0/pwm1")" = 0 ]
check "SYSTEM ignored: the root process is protected, naming allow_system" \
  grep -q "probe: renice: protected: .*plugins.policy_probe.allow_system" "$T/agent.log"
check "its nice is untouched" [ "$(ps -o ni= -p $SLEEPER | tr -d ' ')" = 0 ]
check "refusals are audited" [ "$(jq -s '[.[] | select(.actuator == "write_file" and .result == "refused")] | length' "$T/state/audit.jsonl")" -ge 2 ]
stop_agent

# ---- allow_auto and allow_system honoured ------------------------------------------------------
rm -rf "$T/state"
conf "$T/c.conf" "paths_allow = [\"$T/mine\"]; write_allow = [\"sys/devices/system/cpu/\"];
    allow_auto = true; allow_system = true;"
start_agent "$T/c.conf"
wait_for "the action ran without confirmation" 10 grep -q "probe: renice" "$T/agent.log"
check "nothing pending" [ "$(get /api/v1/pending | jq '.pending | length')" = 0 ]
check "SYSTEM honoured: reniced" grep -q "probe: renice: ok" "$T/agent.log"
check "its nice is 5" [ "$(ps -o ni= -p $SLEEPER | tr -d ' ')" = 5 ]
stop_agent

# ---- bad policy items are config errors with FILE:LINE -----------------------------------------
conf "$T/d.conf" "paths_allow = [\"/\"]; write_allow = [\"etc/passwd\"];"
rc=0
out=$("$HEALERD" -c "$T/d.conf" --check-config 2>&1) || rc=$?
echo "$out" >"$T/check.out"
check "--check-config exits 2" [ "$rc" = 2 ]
check "paths_allow \"/\" named with FILE:LINE" \
  grep -q 'd.conf:[0-9]*: plugins.policy_probe.paths_allow: "/" would put the whole system in scope' "$T/check.out"
check "write_allow outside proc/sys named" \
  grep -q 'plugins.policy_probe.write_allow: "etc/passwd": an item starts with' "$T/check.out"
finish
