# tests/plugins/cpu_lib.sh — shared by the cpu plugin's real-agent tests: a cgroup of their own
# (cgroup2 at /sys/fs/cgroup/unified), busy processes started in it under chosen uids and
# names, and clean-up of exactly those processes and that cgroup. Source after agent.sh.
CG_NAME="healer-cpu-test-$$"
CG="/sys/fs/cgroup/unified/$CG_NAME"
CPU_PIDS=()
BURN="$BUILD/tests/cpu_burn"

cpu_cleanup() {
  local p
  for p in "${CPU_PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
  for p in "${CPU_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -d "$CG" ]; then
    for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  fi
  cleanup
}
trap cpu_cleanup EXIT

cpu_setup() {
  [ -d /sys/fs/cgroup/unified ] || { echo "1..0 # SKIP no cgroup2 at /sys/fs/cgroup/unified"; exit 0; }
  mkdir "$CG"
  mkdir -p "$T/bin"
  chmod 755 "$T/bin"
}

# start_burner NAME UID PERCENT: a copy of cpu_burn named NAME (its comm) in the test's cgroup,
# running as UID; its pid is appended to CPU_PIDS (callers read ${CPU_PIDS[-1]}). The shell
# moves itself into the cgroup before it becomes the burner, so the burner never runs outside.
start_burner() {
  local name=$1 uid=$2 pct=$3
  [ -x "$T/bin/$name" ] || install -m 0755 "$BURN" "$T/bin/$name"
  sh -c 'echo $$ >"$1/cgroup.procs" && exec setpriv --reuid="$2" --regid="$2" --clear-groups "$3" "$4"' \
    sh "$CG" "$uid" "$T/bin/$name" "$pct" &
  CPU_PIDS+=($!)
}

# Wait until pid is the burner (exec done) so nice and comm are read from the right image.
wait_comm() {
  local pid=$1 name=$2
  for _ in $(seq 100); do
    [ "$(cat /proc/$pid/comm 2>/dev/null)" = "$name" ] && return 0
    sleep 0.05
  done
  return 1
}

nice_of() { awk '{print $19}' "/proc/$1/stat" 2>/dev/null; }
state_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1; }
alive() { local s; s=$(state_of "$1"); [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; }
gone() { ! alive "$1"; }
in_cgroup() { grep -q "^$1\$" "$CG/cgroup.procs"; }
