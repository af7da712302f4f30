# shellcheck shell=bash
# bench/lib/fleet.sh — what the fleet benchmarks share: a free loopback port, a throw-away
# single-member etcd, and a knowledge.db seeded with PAIRS (type, action) rows of history.
# Source it; the caller stops etcd (ETCD_PID) in its own EXIT trap.

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# bench_etcd_start NAME DIR: etcd on free loopback ports, its data and log under DIR. Sets
# ETCD_PORT (the client port) and ETCD_PID; returns 0 once it answers /health, 1 after 30 s.
bench_etcd_start() {
  local name=$1 dir=$2 peer
  mkdir -p "$dir"
  ETCD_PORT=$(bench_free_port)
  peer=$(bench_free_port)
  etcd --name "$name" --data-dir "$dir/data" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 300); do
    curl -s --max-time 1 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"' && return 0
    sleep 0.1
  done
  echo "etcd did not answer within 30 s (log: $dir/etcd.log)" >&2
  return 1
}

# bench_seed_stats DB PAIRS NODE: PAIRS rows of local statistics, the types named after NODE so
# that no two nodes share a row.
bench_seed_stats() {
  local db=$1 pairs=$2 node=$3 i
  { echo "begin;"
    for i in $(seq 1 "$pairs"); do
      echo "insert into stats values ('type_$((i % 50))_$node', 'action_$i', $((i % 97 + 1)), $((i % 97 / 2)));"
    done
    echo "commit;"; } | sqlite3 "$db"
}
