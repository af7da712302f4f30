# tests/plugins/memory_lib.sh — shared set-up for the memory plugin's integration tests: a real
# v1 memory cgroup with a limit and swappiness 0, real hogs (memory_hog, run as uid 2000, an ordinary user) started
# inside it, the agent confined to that cgroup by scope.cgroup, and a clean-up that kills only
# the hogs this test started and removes the cgroup. Source it after tests/lib/agent.sh.
MEMCG_ROOT=/sys/fs/cgroup/memory
if [ ! -w "$MEMCG_ROOT" ] || [ ! -e "$MEMCG_ROOT/memory.limit_in_bytes" ]; then
  echo "skip: no writable cgroup v1 memory controller at $MEMCG_ROOT"
  exit 77
fi
CGNAME=healer-mem-test-$$
CG=$MEMCG_ROOT/$CGNAME
HOG=$T/memory_hog
install -m 0755 "$BUILD/tests/memory_hog" "$HOG"
HOGS=()

mem_cleanup() {
  # The agent first, so it cannot act while we tear down.
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  for p in "${HOGS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${HOGS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -d "$CG" ]; then
    for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  fi
  cleanup
}
trap mem_cleanup EXIT

mkdir "$CG"
echo "${LIMIT:-256M}" >"$CG/memory.limit_in_bytes"
echo 0 >"$CG/memory.swappiness"

# start_hog MAX_MB STEP_MB STEP_MS: a hog as uid 2000 (an ordinary user: nobody is a system uid) inside the cgroup; its pid in HOG_PID.
start_hog() {
  ( echo "$BASHPID" >"$CG/cgroup.procs"
    exec setpriv --reuid=2000 --regid=2000 --clear-groups "$HOG" "$@" >"$T/hog.$BASHPID.out" ) &
  HOG_PID=$!
  HOGS+=("$HOG_PID")
}

# hog_gone PID: the process exited (a zombie counts: its memory is freed).
hog_gone() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null || true)
  [ -z "$st" ] || [ "${st#Z}" != "$st" ]
}
hog_alive() { ! hog_gone "$1"; }

# hog_mb PID: how much the hog says it holds.
hog_mb() { tail -n1 "$T/hog.$1.out" 2>/dev/null || echo 0; }

oom_kills() { sed -n 's/^oom_kill \([0-9]*\)/\1/p' "$CG/memory.oom_control"; }

# The agent may only act on processes in our cgroup, and never on system uids.
MEM_EXTRA="scope = { cgroup = \"/$CGNAME\"; };
protect = { names = [\"sshd\", \"healerd\"]; min_uid = 1000; };"

audit() { cat "$T/state/audit.jsonl" 2>/dev/null || true; }

# hog_holds PID MB: the hog has allocated and touched MB MiB.
hog_holds() { [ "$(hog_mb "$1")" = "$2" ]; }

# No sanitizer report in the agent's log (the tests also run under ASan+UBSan).
sanitizer_clean() { ! grep -q "Sanitizer\|runtime error:" "$T/agent.log"; }
