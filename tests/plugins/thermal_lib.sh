# tests/plugins/thermal_lib.sh — shared by the thermal integration tests: builds a sysfs
# fixture tree laid out as the kernel does (this machine has no thermal zones, cpufreq or fans)
# and small helpers to heat it and read it. Source after tests/lib/agent.sh.

# thermal_fixture DIR: 2 thermal zones at 40 C, one hwmon chip (temp1 40 C, pwm1 100 in
# automatic mode), 4 cpufreq policies in schedutil 0.8-3 GHz (cpu3 without powersave), and a
# v1 freezer cgroup fs/cgroup/freezer/heavy (THAWED; cgroup.procs from $HEAVY_PIDS).
thermal_fixture() {
  local s=$1 c
  mkdir -p "$s/class/thermal/thermal_zone0" "$s/class/thermal/thermal_zone1" \
           "$s/class/hwmon/hwmon0" "$s/fs/cgroup/freezer/heavy"
  echo x86_pkg_temp >"$s/class/thermal/thermal_zone0/type"
  echo acpitz >"$s/class/thermal/thermal_zone1/type"
  echo 40000 >"$s/class/thermal/thermal_zone0/temp"
  echo 40000 >"$s/class/thermal/thermal_zone1/temp"
  echo nct6775 >"$s/class/hwmon/hwmon0/name"
  echo 40000 >"$s/class/hwmon/hwmon0/temp1_input"
  echo SYSTIN >"$s/class/hwmon/hwmon0/temp1_label"
  echo 100 >"$s/class/hwmon/hwmon0/pwm1"
  echo 2 >"$s/class/hwmon/hwmon0/pwm1_enable"
  for c in 0 1 2 3; do
    local d="$s/devices/system/cpu/cpu$c/cpufreq"
    mkdir -p "$d"
    echo schedutil >"$d/scaling_governor"
    if [ "$c" = 3 ]; then echo "performance schedutil" >"$d/scaling_available_governors"
    else echo "conservative ondemand userspace powersave performance schedutil" \
           >"$d/scaling_available_governors"; fi
    echo 3000000 >"$d/scaling_max_freq"
    echo 3000000 >"$d/cpuinfo_max_freq"
    echo 800000 >"$d/cpuinfo_min_freq"
  done
  echo THAWED >"$s/fs/cgroup/freezer/heavy/freezer.state"
  : >"$s/fs/cgroup/freezer/heavy/cgroup.procs"
  for c in ${HEAVY_PIDS:-}; do echo "$c" >>"$s/fs/cgroup/freezer/heavy/cgroup.procs"; done
}

# heat DIR CELSIUS: zone0's temp, rewritten in place as the kernel's attribute changes.
heat() { echo "$(( $2 * 1000 ))" >"$1/class/thermal/thermal_zone0/temp"; }

# is FILE VALUE: the file's first line is VALUE.
is() { [ "$(head -n1 "$1" 2>/dev/null)" = "$2" ]; }

# all_cpus DIR FILE VALUE [cpus]: every listed cpu's cpufreq/FILE is VALUE.
all_cpus() {
  local s=$1 f=$2 v=$3 c
  shift 3
  for c in ${*:-0 1 2 3}; do is "$s/devices/system/cpu/cpu$c/cpufreq/$f" "$v" || return 1; done
}

# The state of the fixture a dry run must not change (every file but the zone temps).
tree_sum() {
  (cd "$1" && find . -type f ! -path './class/thermal/*' -print0 | sort -z | xargs -0 md5sum)
}

# action_order FILE: the actions of audit.jsonl in the order they were first executed.
action_order() {
  jq -r 'select(.actuator == null and .plugin == "thermal") | .action' "$1" | awk '!seen[$0]++'
}
