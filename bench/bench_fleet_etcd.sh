#!/usr/bin/env bash
# bench_fleet_etcd.sh — etcd lease round trips of the fleet-wide limits on loopback: starts a
# throw-away single-member etcd on free ports, runs build/bench/bench_fleet_etcd against it
# (N=${N:-1000} rounds), stops it. Prints numbers; needs etcd.
set -euo pipefail
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed"; exit 0; }
source "$(dirname "$0")/lib/fleet.sh"
D=$(mktemp -d)
trap 'kill -KILL ${ETCD_PID:-} 2>/dev/null || true; wait ${ETCD_PID:-} 2>/dev/null || true; rm -rf "$D"' EXIT
bench_etcd_start b "$D"
C=$ETCD_PORT
echo "etcd $(etcd --version | head -n1 | awk '{print $3}') on loopback, data on $(df --output=fstype "$D" | tail -n1)"
"$BUILD/bench/bench_fleet_etcd" "http://127.0.0.1:$C" "${N:-1000}"
