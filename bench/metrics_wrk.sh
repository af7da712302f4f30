#!/usr/bin/env bash
# metrics_wrk.sh — /metrics throughput: starts bench_metrics --serve (1 000 series, loopback,
# ephemeral port), runs wrk against it and prints requests/s. Target: >= 5 000 requests/s.
# Usage: bench/metrics_wrk.sh [BUILD_DIR] [--churn]   (BUILD defaults to ./build)
set -euo pipefail

BUILD=${1:-${BUILD:-build}}
CHURN=${2:-}
bin="$BUILD/bench/bench_metrics"
if [ ! -x "$bin" ]; then
  echo "metrics_wrk: $bin not found; build it first (cmake --build $BUILD --target bench_metrics)" >&2
  exit 2
fi
if ! command -v wrk >/dev/null; then
  echo "metrics_wrk: wrk is not installed (scripts/install-deps.sh installs it)" >&2
  exit 2
fi

out=$(mktemp)
pid=
cleanup() {
  # Only the server this script started.
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$out"
}
trap cleanup EXIT

BENCH_LISTEN=127.0.0.1:0 "$bin" --serve $CHURN >"$out" &
pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$out")
  [ -n "$port" ] && break
  sleep 0.05
done
if [ -z "$port" ]; then
  echo "metrics_wrk: the server did not report its port" >&2
  exit 1
fi

url="http://127.0.0.1:$port/metrics"
bytes=$(curl -s "$url" | wc -c 2>/dev/null || echo "?")
echo "metrics_wrk: $url (${bytes} bytes per scrape${CHURN:+, registry changing every ms})"
result=$(wrk -t2 -c16 -d10s "$url")
echo "$result"
rps=$(echo "$result" | awk '/^Requests\/sec:/ {print $2}')
echo "requests/s: $rps (target >= 5000)"
