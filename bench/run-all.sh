#!/usr/bin/env bash
# Runs every benchmark and prints its numbers (make bench). Nothing here passes or fails.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
echo "== bus (raw msgpack over ZeroMQ inproc)"; "$BUILD/bench/bench_bus"
echo "== knowledge base";                         "$BUILD/bench/bench_knowledge"
echo "== whole pipeline (no-op plugin, dry-run)"; "$BUILD/bench/bench_pipeline" "$BUILD/bench/plugins/noop.so" 90 1000
echo "== /metrics, 1 000 series (server time)";   "$BUILD/bench/bench_metrics"
echo "== /metrics under wrk";                     bench/metrics_wrk.sh "$BUILD"
echo "== idle agent (60 s)";                      bench/idle.sh "$BUILD" 60
