#!/usr/bin/env bash
# bench/fleet_idle.sh — what the fleet adds to an idle agent. Agent "a" (dirwatch at 1 s, HTTP
# on, PAIRS (type, action) rows of its own history) runs idle for SECONDS twice: without a fleet
# section, then with fleet.alerts, fleet.peers (two real peer agents b and c on loopback, CURVE)
# and fleet.etcd (a real single-member etcd on loopback). Prints CPU seconds per hour, RSS/PSS
# (smaps_rollup), threads, sockets and descriptors, and the TCP bytes and messages a sent to and
# received from its peers per interval. Numbers, no asserts.
#   bench/fleet_idle.sh [BUILD] [SECONDS] [PAIRS]      (REPEAT=3 runs both modes three times)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
DUR=${2:-180}
PAIRS=${3:-100}
REPEAT=${REPEAT:-1}
IV=${IV:-10}
WARM=${WARM:-15}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BUILD SRC
source "$SRC/tests/lib/agent.sh"
source "$SRC/bench/fleet_procstat.sh"
source "$SRC/bench/lib/fleet.sh"
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed"; exit 0; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 0; }
PDIR=$(plugin_dir "$BUILD/plugins/dirwatch.so")
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
declare -A PID PORT
for n in a b c; do PORT[$n]=$(bench_free_port); done
stop_one() { [ -z "${PID[$1]:-}" ] || { kill -TERM "${PID[$1]}" 2>/dev/null || true; wait "${PID[$1]}" 2>/dev/null || true; unset "PID[$1]"; }; }
stop_all() { for n in "${!PID[@]}"; do stop_one "$n"; done; }
trap 'stop_all; cleanup' EXIT

bench_etcd_start idle "$T/etcd" || true
PID[etcd]=$ETCD_PID
EC=$ETCD_PORT

for n in a b c; do mkdir -p "$T/$n/keys" "$T/$n/watched"; "$HEALERD" --fleet-keygen "$T/$n/keys" >/dev/null; done
# conf NODE FLEET(0|1) STATE: the same agent with or without the fleet section
conf() {
  local n=$1 fleet=$2 st=$3 peers="" p
  cat <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$PDIR"; state_dir = "$st"; log_level = "info"; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = { dirwatch = { directory = "$T/$n/watched"; interval = 1.0; paths_allow = ["$T/$n/watched"]; }; };
CONF
  [ "$fleet" = 1 ] || return 0
  for p in a b c; do
    [ "$p" = "$n" ] && continue
    peers+="{ name = \"$p\"; endpoint = \"tcp://127.0.0.1:${PORT[$p]}\"; public_key_file = \"$T/$p/keys/fleet.pub\"; },"
  done
  cat <<CONF
fleet = { node = "$n"; group = "web";
  alerts = { map = ( { alertname = "HighLoad"; type = "load_high"; target_label = "instance"; } ); };
  peers = { listen = "tcp://127.0.0.1:${PORT[$n]}"; secret_key_file = "$T/$n/keys/fleet.key";
    interval_seconds = $IV; peer = ( ${peers%,} ); };
  etcd = { endpoints = ["http://127.0.0.1:$EC"]; max_concurrent_risky = 1; };
};
CONF
}
start() { # NODE FLEET
  local n=$1 st="$T/$1/state-$2"
  rm -rf "$st"; mkdir -p "$st"
  conf "$n" "$2" "$st" >"$T/$n/h-$2.conf"
  "$HEALERD" -c "$T/$n/h-$2.conf" --once >/dev/null 2>&1 || { echo "agent $n: --once failed"; "$HEALERD" -c "$T/$n/h-$2.conf" --once; exit 1; }
  bench_seed_stats "$st/knowledge.db" "$PAIRS" "$n"
  "$HEALERD" -c "$T/$n/h-$2.conf" 2>"$T/$n/agent-$2.log" &
  PID[$n]=$!
}
http_port() {
  local p=""
  for _ in $(seq 100); do
    p=$(sed -n 's/.*info http: listening on .* (port \([0-9]*\)).*/\1/p' "$1" | tail -n1)
    [ -n "$p" ] && break; sleep 0.1
  done
  echo "$p"
}
# messages a has sent to / received from its peers so far (0 0 without a fleet)
msgs() {
  curl -s --max-time 2 -H "Authorization: Bearer s3cret-token" "http://127.0.0.1:$1/api/v1/status" |
    jq -r '[((.fleet.peers // []) | map(.sent) | add // 0), ((.fleet.peers // []) | map(.received) | add // 0)] | @tsv'
}

hz=$(getconf CLK_TCK)
echo "fleet_idle: $(nproc) cores, $DUR s per window after $WARM s, PAIRS $PAIRS, interval_seconds $IV, etcd $(etcd --version | awk 'NR==1 {print $3}')"
printf '%-4s %-5s %9s %7s %8s %8s %8s %8s %7s %5s %5s %11s %11s %9s  %s\n' run fleet "cpu_s/h" "%core" \
  "rss_MiB" "pss_MiB" "priv_MiB" "anon_MiB" threads socks fds "tx_B/intv" "rx_B/intv" "msgs/intv" "load(1m)"
for r in $(seq 1 "$REPEAT"); do
  for fleet in 0 1; do
    if [ "$fleet" = 1 ]; then start b 1; start c 1; fi
    start a "$fleet"
    hp=$(http_port "$T/a/agent-$fleet.log")
    sleep "$WARM"
    pa=${PID[a]}
    t0=$(ps_ticks "$pa"); ps_ticks_by_name "$pa" >"$T/th0"; s0=$(date +%s.%N)
    tx0=$(ps_tcp_bytes "$pa" bytes_sent dport "${PORT[b]}" "${PORT[c]}")
    rx0=$(ps_tcp_bytes "$pa" bytes_received sport "${PORT[a]}")
    read -r m0 mr0 < <(msgs "$hp")
    sleep "$DUR"
    t1=$(ps_ticks "$pa"); ps_ticks_by_name "$pa" >"$T/th1"; s1=$(date +%s.%N)
    tx1=$(ps_tcp_bytes "$pa" bytes_sent dport "${PORT[b]}" "${PORT[c]}")
    rx1=$(ps_tcp_bytes "$pa" bytes_received sport "${PORT[a]}")
    read -r m1 mr1 < <(msgs "$hp")
    etcd_conns=$(ss -tnpH state established "( dport = :$EC )" 2>/dev/null | grep -c "pid=$pa," || true)
    awk -v r="$r" -v fl="$fleet" -v t0="$t0" -v t1="$t1" -v s0="$s0" -v s1="$s1" \
        -v hz="$hz" -v rss="$(ps_kib "$pa" Rss)" -v pss="$(ps_kib "$pa" Pss)" -v priv="$(ps_private_kib "$pa")" \
        -v anon="$(ps_kib "$pa" Anonymous)" -v th="$(ps_threads "$pa")" -v so="$(ps_sockets "$pa")" \
        -v fd="$(ps_fds "$pa")" -v tx=$((tx1 - tx0)) -v rx=$((rx1 - rx0)) -v m=$((m1 - m0 + mr1 - mr0)) \
        -v iv="$IV" -v ld="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      d = s1 - s0; k = d / iv
      printf "%-4d %-5s %9.2f %7.3f %8.1f %8.1f %8.1f %8.2f %7d %5d %5d %11.0f %11.0f %9.1f  %s\n", r,
        fl ? "on" : "off", (t1 - t0) / hz * 3600 / d, 100 * (t1 - t0) / hz / d,
        rss / 1024, pss / 1024, priv / 1024, anon / 1024, th, so, fd, tx / k, rx / k, m / k, ld }'
    echo "     CPU s/h by thread: $(join "$T/th0" "$T/th1" | awk -v hz="$hz" -v d="$(echo "$s1 - $s0" | bc)" \
      '$3 > $2 {printf "%s %.2f  ", $1, ($3 - $2) / hz * 3600 / d}')"
    [ "$fleet" = 1 ] && echo "     fleet on: a's connections to etcd while idle: $etcd_conns"
    stop_one a
    if [ "$fleet" = 1 ]; then stop_one b; stop_one c; fi
  done
done
