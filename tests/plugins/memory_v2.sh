#!/usr/bin/env bash
# tests/plugins/memory_v2.sh — the cgroup v2 path (memory.current / memory.max) on a real v2
# memory controller: a hog growing past memory.max is killed by the agent before the cgroup's
# OOM killer (memory.events oom_kill stays 0). Skipped (77) where cgroup2 has no memory
# controller, as on the hybrid layout of this project's build machine.
source "$SRC/tests/lib/agent.sh"
U=""
for d in /sys/fs/cgroup/unified /sys/fs/cgroup; do
  if [ -f "$d/cgroup.controllers" ] && grep -qw memory "$d/cgroup.controllers"; then U=$d; break; fi
done
if [ -z "$U" ]; then
  echo "skip: no cgroup2 memory controller (cgroup.controllers of /sys/fs/cgroup/unified has no 'memory')"
  exit 77
fi
CGNAME=healer-mem-test-$$
CG=$U/$CGNAME
REL=${CG#/sys/fs/cgroup/}
HOG=$T/memory_hog
install -m 0755 "$BUILD/tests/memory_hog" "$HOG"
HOGS=()
v2_cleanup() {
  [ -n "$AGENT_PID" ] && kill -TERM "$AGENT_PID" 2>/dev/null || true
  for p in "${HOGS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -d "$CG" ] && for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  cleanup
}
trap v2_cleanup EXIT
grep -qw memory "$U/cgroup.subtree_control" || echo +memory >"$U/cgroup.subtree_control"
mkdir "$CG"
echo 256M >"$CG/memory.max"
echo 0 >"$CG/memory.swap.max" 2>/dev/null || true

MODE=live INTERVAL=0.2 write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/memory.so")" "
  memory = { watch_system = false; cgroups = [\"$REL\"]; verify_settle_s = 0.2; };" \
  "scope = { cgroup = \"/$CGNAME\"; };
protect = { names = [\"sshd\", \"healerd\"]; min_uid = 1000; };"
start_agent "$T/healerd.conf"
wait_for "cgroup seen as v2" 5 grep -q "cgroup .*$CGNAME (v2)" "$T/agent.log"
( echo "$BASHPID" >"$CG/cgroup.procs"
  exec setpriv --reuid=2000 --regid=2000 --clear-groups "$HOG" 400 2 100 >/dev/null ) &
hog=$!
HOGS+=("$hog")
gone() { local st; st=$(ps -o stat= -p "$hog" 2>/dev/null || true); [ -z "$st" ] || [ "${st#Z}" != "$st" ]; }
wait_for "the hog is killed" 40 gone
check "the cgroup's OOM killer never ran" grep -q '^oom_kill 0' "$CG/memory.events"
check "the agent signalled the hog" \
  bash -c "grep '\"actuator\":\"signal\"' '$T/state/audit.jsonl' | grep -q '\"pid\":$hog'"
finish
