#!/usr/bin/env bash
# bench/disk_scan.sh — the disk plugin's numbers: bench_disk_scan on a fresh tree of 100 000
# files (time, bytes freed per second), then each phase alone under strace -c -f for its system
# calls. Prints numbers; asserts nothing. Needs BUILD (default: build).
set -euo pipefail
BUILD=${BUILD:-build}
B="$BUILD/bench/bench_disk_scan"
"$B" /tmp
command -v strace >/dev/null || { echo "strace not installed: no system call counts"; exit 0; }
R=$(mktemp -d /tmp/bench-disk-strace.XXXXXX)
trap 'rm -rf "$R" "$R.state"' EXIT
"$B" --phase make "$R" >/dev/null
for p in preview dry live detect; do
  strace -c -f -o "$R.strace" "$B" --phase "$p" "$R" >/dev/null
  total=$(awk '$NF == "total" {print $(NF-2)}' "$R.strace")
  top=$(awk 'NR > 2 && $1 ~ /^[0-9.]+$/ && $NF != "total" {print $NF "=" $4}' "$R.strace" | head -5 | tr '\n' ' ')
  echo "syscalls, phase $p: $total total; top: $top"
  [ "$p" = live ] && "$B" --phase make "$R" >/dev/null   # the removed half back for detect's run
done
rm -f "$R.strace"
