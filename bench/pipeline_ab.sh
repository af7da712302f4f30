#!/usr/bin/env bash
# pipeline_ab.sh — bench_pipeline of two build trees, alternated run by run on the same machine
# (the load of a shared machine moves more between minutes than most changes do), then the
# median of each: issues/s and CPU per issue, thread and process mode, with the load average.
#   bench/pipeline_ab.sh BUILD_A BUILD_B [RUNS] [ROUNDS]
# A build tree is any directory with bench/bench_pipeline, bench/plugins/noop.so and
# bin/healerd-plugin, under a directory only root can write (the loader refuses others).
set -uo pipefail
A=${1:?build tree A}; B=${2:?build tree B}; RUNS=${3:-3}; ROUNDS=${4:-60}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq 1 "$RUNS"); do
  echo "run $i, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for t in "$A" "$B"; do
    "$t/bench/bench_pipeline" "$t/bench/plugins/noop.so" "$ROUNDS" 1000 both 2>/dev/null |
      awk -v t="$t" '
        /issues healed/ { split($0, a, "[()]"); mode = a[2]
                          for (i = 1; i <= NF; i++) if ($i == "issues/s") rate = $(i - 1) }
        /CPU per issue:/ { for (i = 1; i <= NF; i++) if ($i == "total") cpu = $(i + 1)
                          printf "%s %s %s %s\n", t, mode, rate, cpu }'
  done | tee -a "$out" | awk '{ printf "  %-40s %-8s %8s issues/s  %6s us CPU per issue\n", $1, $2, $3, $4 }'
done
echo "median of $RUNS:"
for t in "$A" "$B"; do
  for mode in thread process; do
    rate=$(awk -v t="$t" -v m="$mode" '$1 == t && $2 == m { print $3 }' "$out" | sort -n |
           awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    cpu=$(awk -v t="$t" -v m="$mode" '$1 == t && $2 == m { print $4 }' "$out" | sort -n |
          awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    printf "  %-40s %-8s %8s issues/s  %6s us CPU per issue\n" "$t" "$mode" "$rate" "$cpu"
  done
done
