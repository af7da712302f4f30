#!/usr/bin/env bash
# bench_fleet_etcd.sh — etcd lease round trips of the fleet-wide limits on loopback: starts a
# throw-away single-member etcd on free ports, runs build/bench/bench_fleet_etcd against it
# (N=${N:-1000} rounds), stops it. Prints numbers; needs etcd.
set -euo pipefail
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed"; exit 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
C=$(free_port); P=$(free_port); D=$(mktemp -d)
etcd --name b --data-dir "$D/data" --listen-client-urls "http://127.0.0.1:$C" \
  --advertise-client-urls "http://127.0.0.1:$C" --listen-peer-urls "http://127.0.0.1:$P" \
  --initial-advertise-peer-urls "http://127.0.0.1:$P" --initial-cluster "b=http://127.0.0.1:$P" \
  >"$D/etcd.log" 2>&1 &
E=$!
trap 'kill -KILL $E 2>/dev/null || true; wait $E 2>/dev/null || true; rm -rf "$D"' EXIT
for _ in $(seq 300); do curl -s "http://127.0.0.1:$C/health" | grep -q '"health":"true"' && break; sleep 0.1; done
echo "etcd $(etcd --version | head -n1 | awk '{print $3}') on loopback, data on $(df --output=fstype "$D" | tail -n1)"
"$BUILD/bench/bench_fleet_etcd" "http://127.0.0.1:$C" "${N:-1000}"
