#!/usr/bin/env bash
# Runs every benchmark and prints its numbers (make bench). Nothing here passes or fails.
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
echo "== bus (raw msgpack over ZeroMQ inproc)"; "$BUILD/bench/bench_bus"
echo "== knowledge base";                         "$BUILD/bench/bench_knowledge"
echo "== prediction service: lead time, false predictions per day, cost"; BENCH_PREDICT_DAYS=2 "$BUILD/bench/bench_predict"
echo "== whole pipeline (no-op plugin, dry-run; thread, then child)"; "$BUILD/bench/bench_pipeline" "$BUILD/bench/plugins/noop.so" 90 1000 both
echo "== host-call round trip (thread vs child)"; bench/hostcall.sh "$BUILD" 20000
echo "== plugin children's memory (7 built-ins)"; bench/isolation.sh "$BUILD" 8
echo "== fleet-wide limits: etcd lease round trips on loopback"; BUILD="$BUILD" bench/bench_fleet_etcd.sh
echo "== /metrics, 1 000 series (server time)";   "$BUILD/bench/bench_metrics"
echo "== /metrics under wrk";                     bench/metrics_wrk.sh "$BUILD"
echo "== idle agent (60 s)";                      bench/idle.sh "$BUILD" 60
echo "== fleet: shared knowledge, 1 000 pairs x 3 agents over CURVE"; bench/fleet_knowledge.sh "$BUILD" 1000
echo "== fleet: the idle agent without and with a fleet (2 peers, etcd, alerts; 2 x 120 s)"; bench/fleet_idle.sh "$BUILD" 120 100
echo "== fleet: per-unit costs of shared knowledge at 1 000 nodes"; "$BUILD/bench/bench_fleet_scale" 1000 10
echo "== fleet: one node's share of a 257-host full mesh (256 listed peers, two agents)"; bench/fleet_fanout.sh "$BUILD" 256 120 100
echo "== fleet: 1 000 limiters asking one etcd for 2 slots at once"; BUILD="$BUILD" bench/fleet_etcd_storm.sh
echo "== cpu plugin: /proc scan per process";      "$BUILD/bench/bench_procscan"
echo "== cpu plugin: hog to issue and to healed";  bench/cpu_fault.sh "$BUILD"
echo "== memory plugin: hog to issue and to kill (PSI, events, polling; earlyoom confined to a PID namespace)"; BUILD="$BUILD" bench/memory_fault.sh
echo "== prediction in real runs: a memory ramp in a v1 cgroup, a filling loop ext4 (lead times)"; BUILD="$BUILD" RUNS=2 bench/predict_real.sh
echo "== memory plugin: system-wide emergency, MemAvailable crossing 10 % to SIGTERM, vs earlyoom"; BUILD="$BUILD" bench/memory_emergency.sh
echo "== thermal plugin: cost of one detect";      "$BUILD/bench/bench_thermal"
echo "== disk plugin: 100 000-file scan";          BUILD="$BUILD" bench/disk_scan.sh
echo "== nixconfig plugin: validation and idle";   bench/nixconfig_bench.sh "$BUILD"
echo "== network plugin: link down to healed";     bench/network_fault.sh "$BUILD"
echo "== network plugin: a fault 1 s after a heal"; bench/network_relapse.sh "$BUILD" 12 after; bench/network_relapse.sh "$BUILD" 12 relapse
echo "== network plugin: idle";                    bench/network_idle.sh "$BUILD"
echo "== service plugin: unit failure vs Monit";   bench/service_fault.sh "$BUILD"
echo "== soak: 7 simulated days of steady issues on 20 targets, recurring and fresh (~10 min)"; bench/soak.sh "$BUILD"
