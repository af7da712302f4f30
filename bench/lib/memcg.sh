# bench/lib/memcg.sh — the preamble shared by the benchmarks that run the memory plugin against a
# hog in a v1 memory cgroup of their own (memory_fault.sh, predict_real.sh): the scratch directory
# T holding the hog and the plugin, the cgroup path CG, the PIDS array every started process joins,
# and the cleanup on exit, which signals only those, then removes the cgroup and T.
# usage (BUILD set to an absolute build directory):
#   . "$(dirname "$0")/lib/memcg.sh"; bench_memcg_init SCRATCH_PREFIX CGROUP_PREFIX
. "$(dirname "${BASH_SOURCE[0]}")/../../tests/lib/testtmp.sh"  # the loader refuses a plugin_dir below /tmp

bench_memcg_cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  # the cgroup empties only once its last (killed) task is reaped: retry for up to 5 s
  [ -d "$CG" ] && for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
  rm -rf "$T"
}

# Sets T, CG (made by the caller, per run) and PIDS; installs memory_hog and memory.so into T.
bench_memcg_init() {
  TESTTMP=$(healer_test_tmp "$BUILD")
  mkdir -p -m 0755 "$TESTTMP"
  T=$(mktemp -d "$TESTTMP/$1.XXXXXX")
  chmod 755 "$T"
  CG=/sys/fs/cgroup/memory/$2-$$
  PIDS=()
  trap bench_memcg_cleanup EXIT
  trap 'exit 1' INT TERM   # through the EXIT trap: an interrupted run leaves no hog behind
  install -m 0755 "$BUILD/tests/memory_hog" "$T/memory_hog"
  mkdir -p "$T/plugins"; chmod 755 "$T/plugins"
  install -m 0755 "$BUILD/plugins/memory.so" "$T/plugins/"
}

now() { date +%s.%N; }
