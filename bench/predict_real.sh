#!/usr/bin/env bash
# bench/predict_real.sh — real-run lead time of the prediction service (issue #15): a process
# started here grows at a steady rate (RATE_MIB MiB/s, default 3) in a v1 memory cgroup made here
# (256 MiB limit, swappiness 0) after FLAT_S seconds of flat use (16 MiB); the memory plugin
# (dry-run, detect and predict_sample_s 1 s, high_percent 80, horizon 600 s) raises
# memory_exhaustion_predicted. Prints the seconds from that issue to memory_high (80 %) and to the
# limit hit (the cgroup's failcnt leaving 0); "80 %" is read by the script (the plugin's
# memory_high for the threshold is often the leak issue already open on the same target). Then a disk: a 256 MiB ext4 image loop-mounted in a
# private mount namespace (seen by nothing else, gone with it), held flat FLAT_S s, then written
# at DISK_MIB MiB/s (default 2) by a writer started here; the disk plugin (dry-run, a sample a
# second, its defaults otherwise: window 1800 s, 10 samples, R^2 0.9, horizon 7200 s, high 90 %)
# raises disk_full_predicted: seconds from it to disk_space_low (90 %) and to the filesystem
# full (no space left). Numbers, not pass/fail. Only the processes it started are signalled; the
# cgroup is removed at the end. PART=memory or PART=disk runs one half.
# usage: BUILD=build RUNS=3 RATE_MIB=3 DISK_MIB=2 FLAT_S=60 bench/predict_real.sh
#        (as root; cgroup v1 memory, unshare, mkfs.ext4, losetup)
set -euo pipefail
BUILD=${BUILD:-build}
BUILD=$(cd "$BUILD" && pwd)
RUNS=${RUNS:-3}
RATE_MIB=${RATE_MIB:-3}
FLAT_S=${FLAT_S:-60}
# The memory plugin reads a cgroup below high_percent (with usage events armed) only every
# leak_window_s / (2 leak_min_samples) s, 15 s by default: too few samples for a ramp of a minute
# or two. LEAK_WINDOW_S=20 makes that 1 s; LEAK_WINDOW_S=300 measures the defaults.
LEAK_WINDOW_S=${LEAK_WINDOW_S:-20}
PART=${PART:-all}
DISK_MIB=${DISK_MIB:-2}
if [ "$PART" = disk ] && [ -z "${PREDICT_IN_NS:-}" ]; then
  command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
  exec env PREDICT_IN_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib/memcg.sh"
bench_memcg_init healerd-predict healer-predict-bench   # T, CG, PIDS, the cleanup on exit
sec() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.1f", b - a }'; }
memory_part() {
[ -d /sys/fs/cgroup/memory ] || { echo "skip: no v1 memory cgroup hierarchy"; return 0; }
cat >"$T/healerd.conf" <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$T/plugins"; state_dir = "$T"; log_level = "info"; };
http = { listen = "127.0.0.1:0"; };
scope = { cgroup = "/$(basename "$CG")"; };
protect = { names = ["sshd", "healerd"]; min_uid = 1000; };
plugins = { memory = { watch_system = false; cgroups = ["memory/$(basename "$CG")"];
  predict_sample_s = 1.0; interval = 1.0; leak_window_s = $LEAK_WINDOW_S; }; };
CONF
echo "# memory: a hog growing $RATE_MIB MiB/s after ${FLAT_S} s flat (16 MiB held) in a 256 MiB v1 cgroup; predict_sample_s 1, leak_window_s $LEAK_WINDOW_S"
# the hog: 16 MiB at once, held FLAT_S s, then RATE_MIB MiB per second (1 MiB steps) towards 400
for r in $(seq "$RUNS"); do
  mkdir "$CG"; echo 256M >"$CG/memory.limit_in_bytes"; echo 0 >"$CG/memory.swappiness"
  : >"$T/agent.log"
  "$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/agent.log" &
  agent=$!
  PIDS+=("$agent")
  for _ in $(seq 100); do grep -q "running (pid" "$T/agent.log" && break; sleep 0.05; done
  ( echo "$BASHPID" >"$CG/cgroup.procs"
    exec setpriv --reuid=65534 --regid=65534 --clear-groups "$T/memory_hog" 16 >/dev/null ) &
  flat=$!; PIDS+=("$flat")
  sleep "$FLAT_S"
  step_ms=$(( 1000 / RATE_MIB ))
  t0=$(now)
  ( echo "$BASHPID" >"$CG/cgroup.procs"
    exec setpriv --reuid=65534 --regid=65534 --clear-groups "$T/memory_hog" 400 1 "$step_ms" >/dev/null ) &
  hog=$!; PIDS+=("$hog")
  t_pred="-" t_high="-" t_limit="-"
  end=$(( $(date +%s) + 400 / RATE_MIB + 30 ))
  while [ "$(date +%s)" -le "$end" ]; do
    [ "$t_pred" = "-" ] && grep -q "issue #.* memory_exhaustion_predicted" "$T/agent.log" && t_pred=$(now)
    [ "$t_high" = "-" ] && [ "$(cat "$CG/memory.usage_in_bytes")" -ge $(( 256 * 1048576 * 8 / 10 )) ] && t_high=$(now)
    [ "$(cat "$CG/memory.failcnt")" != 0 ] && { t_limit=$(now); break; }
    [ -n "${KEEP_LOG:-}" ] && echo "$(now) $(cat "$CG/memory.usage_in_bytes")" >>"$KEEP_LOG.usage"
    sleep 0.05
  done
  line=$(grep -m1 "issue #.* memory_exhaustion_predicted" "$T/agent.log" || true)
  printf "run %d: ramp start -> predicted %6s s, -> 80 %% used %6s s, -> limit hit %6s s; lead before 80 %% %6s s, before the limit %6s s\n" \
    "$r" "$(sec "$t0" "$t_pred")" "$(sec "$t0" "$t_high")" "$(sec "$t0" "$t_limit")" \
    "$(sec "$t_pred" "$t_high")" "$(sec "$t_pred" "$t_limit")"
  [ -n "$line" ] && echo "    ${line#*: }" | cut -c1-220
  kill -TERM "$agent"; wait "$agent" || true
  [ -n "${KEEP_LOG:-}" ] && cp "$T/agent.log" "$KEEP_LOG.$r"
  for p in "$hog" "$flat"; do kill -KILL "$p" 2>/dev/null || true; { wait "$p" || true; } 2>/dev/null; done
  for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
done
}

disk_part() {
  for c in mkfs.ext4 losetup; do command -v $c >/dev/null || { echo "skip: no $c"; return 0; }; done
  local M="$T/mnt" IMG="$T/disk.img"
  mkdir -p "$T/dplugins" "$T/dstate"; chmod 755 "$T/dplugins"
  install -m 0755 "$BUILD/plugins/disk.so" "$T/dplugins/"
  cat >"$T/disk.conf" <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$T/dplugins"; state_dir = "$T/dstate"; log_level = "info"; };
http = { listen = "127.0.0.1:0"; };
plugins = { disk = { mounts = ["$M"]; log_dirs = ["$M/log"]; tmp_dirs = ["$M/no-tmp"];
  nix_store = "$M/no-nix-store"; journal_dirs = ["$M/no-journal"]; journald_socket = "$M/no-socket"; }; };
CONF
  echo "# disk: a 256 MiB ext4 (loop, private mount namespace) written at $DISK_MIB MiB/s after ${FLAT_S} s flat; a sample a second"
  local chunk_ms=$(( 1000 / DISK_MIB ))
  for r in $(seq "$RUNS"); do
    rm -f "$IMG"; truncate -s 256M "$IMG"
    mkfs.ext4 -q -F -b 4096 -m 0 -O ^has_journal -N 1024 "$IMG"
    mkdir -p "$M"; mount -o loop "$IMG" "$M"
    : >"$T/dagent.log"
    "$BUILD/bin/healerd" -c "$T/disk.conf" 2>"$T/dagent.log" &
    local agent=$!
    PIDS+=("$agent")
    sleep "$FLAT_S"
    local t0 t_pred="-" t_high="-" t_full="-"
    t0=$(now)
    ( i=0; while dd if=/dev/zero of="$M/fill" bs=1M count=1 oflag=append conv=notrunc,fsync status=none 2>/dev/null; do
        i=$((i + 1)); sleep "$(awk -v s="$t0" -v i="$i" -v ms="$chunk_ms" 'BEGIN { srand(); "date +%s.%N" | getline n; d = s + i * ms / 1000 - n; print (d > 0 ? d : 0) }')"
      done ) &
    local w=$!
    PIDS+=("$w")
    local end=$(( $(date +%s) + 256 / DISK_MIB + 60 ))
    while [ "$(date +%s)" -le "$end" ]; do
      [ "$t_pred" = "-" ] && grep -q "issue #.* disk_full_predicted" "$T/dagent.log" && t_pred=$(now)
      [ "$t_high" = "-" ] && grep -q "issue #.* disk_space_low" "$T/dagent.log" && t_high=$(now)
      if ! kill -0 "$w" 2>/dev/null; then t_full=$(now); break; fi
      sleep 0.05
    done
    printf "run %d: writing start -> predicted %6s s, -> disk_space_low %6s s, -> full %6s s; lead before disk_space_low %6s s, before full %6s s\n" \
      "$r" "$(sec "$t0" "$t_pred")" "$(sec "$t0" "$t_high")" "$(sec "$t0" "$t_full")" \
      "$(sec "$t_pred" "$t_high")" "$(sec "$t_pred" "$t_full")"
    local line
    line=$(grep -m1 "issue #.* disk_full_predicted" "$T/dagent.log" || true)
    [ -n "$line" ] && echo "    ${line#*: }" | cut -c1-220
    kill -TERM "$agent"; wait "$agent" || true
    kill -KILL "$w" 2>/dev/null || true; { wait "$w" || true; } 2>/dev/null
    [ -n "${KEEP_LOG:-}" ] && cp "$T/dagent.log" "$KEEP_LOG.disk.$r"
    umount "$M"
  done
}

case $PART in
  memory) memory_part ;;
  disk) disk_part ;;
  *) memory_part; PART=disk bash "$0" ;;
esac
