#!/usr/bin/env bash
# tests/plugins/memory_many.sh — the memory plugin watching 200 real v1 memory cgroups given by
# one glob (memory/<parent>/w*), each with a 64 MiB limit. One of them vanishes while watched
# (rmdir: logged, the others still watched); a hog pushes another to 86 % of its limit: the
# agent, live, raises memory_high for exactly that cgroup and kills the hog inside it, and no
# other cgroup gets an issue. The children are removed before memory_lib removes the parent.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/memory_lib.sh"
N=200
many_cleanup() {
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  for p in "${HOGS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${HOGS[@]}"; do wait "$p" 2>/dev/null || true; done
  for d in "$CG"/w*; do
    [ -d "$d" ] || continue
    for _ in $(seq 50); do rmdir "$d" 2>/dev/null && break; sleep 0.1; done
  done
  mem_cleanup
}
trap many_cleanup EXIT

for i in $(seq "$N"); do
  mkdir "$CG/w$i"
  echo 64M >"$CG/w$i/memory.limit_in_bytes"
  echo 0 >"$CG/w$i/memory.swappiness"
done

MODE=live INTERVAL=0.2 write_config "$T/healerd.conf" "$(plugin_dir "$BUILD/plugins/memory.so")" "
  memory = {
    watch_system = false;
    cgroups = [\"memory/$CGNAME/w*\"];
    kill_percent = 80.0;
    verify_settle_s = 0.2;
    kill_grace_s = 2.0;
    cgroup_rescan_s = 1.0;
  };" "$MEM_EXTRA"
start_agent "$T/healerd.conf"
wait_for "the glob matched all $N cgroups" 20 grep -q "cgroups: $N watched" "$T/agent.log"
# Every cgroup has its usage thresholds registered (shared eventfd buckets): reads are quiet.
wait_for "usage events registered in all $N" 20 grep -q "cgroups: $N of $N with usage events" "$T/agent.log"

# One watched cgroup vanishes: logged, nothing raised, the agent keeps watching the rest.
rmdir "$CG/w5"
wait_for "the vanished cgroup is noticed (glob rescan or read)" 20 \
  bash -c "grep -q 'cgroup $CG/w5: memory files unreadable\|cgroups rescanned: 0 new, 1 gone' '$T/agent.log'"

# A hog of 55 MiB in w137 (64 MiB limit): 86 % used, above kill_percent.
( echo "$BASHPID" >"$CG/w137/cgroup.procs"
  exec setpriv --reuid=2000 --regid=2000 --clear-groups "$HOG" 55 >"$T/hog.$BASHPID.out" ) &
hog=$!
HOGS+=("$hog")
wait_for "the hog in w137 is killed" 30 hog_gone "$hog"
check "memory_high raised for w137" grep -q "memory_high.*$CG/w137" "$T/agent.log"
wait_for "the issue was healed" 20 grep -q "memory_high on $CG/w137: healed" "$T/agent.log"
check "no other cgroup got an issue" \
  bash -c "! grep 'memory_high' '$T/agent.log' | grep -v '$CG/w137\b' | grep -q '$CG/w'"
check "exactly one process was signalled, the hog" \
  bash -c "[ \"\$(grep '\"actuator\":\"signal\"' '$T/state/audit.jsonl' | grep '\"result\":\"ok\"' | grep -c '\"pid\":$hog')\" -ge 1 ] && \
           ! grep '\"actuator\":\"signal\"' '$T/state/audit.jsonl' | grep -v '\"pid\":$hog' | grep -q ."
check "the agent is still running" kill -0 "$AGENT_PID"
check "no sanitizer report from the agent" sanitizer_clean
[ "$FAIL" -eq 0 ] || { sed "s/^/# /" "$T/agent.log" | grep -v "usage threshold\|cgroup .* (v1)" | tail -n 40; }
finish
