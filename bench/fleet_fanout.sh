#!/usr/bin/env bash
# bench/fleet_fanout.sh — one node's share of a K+1-host full mesh, for real, with two agents:
# agent "a" lists K peers (p0001..pK) that all are agent "b" (its endpoint and public key), so a
# keeps K CURVE connections and sends its state K times per interval, as a node of a full mesh of
# K+1 hosts does; b, which lists a once, takes those K messages per interval over K connections,
# as each node of that mesh does. Prints both agents' CPU seconds per hour, RSS/private memory,
# threads, descriptors, and messages/bytes per interval. Numbers, no asserts.
#   bench/fleet_fanout.sh [BUILD] [K] [SECONDS] [PAIRS]     (IV=interval_seconds, default 10)
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
K=${2:-999}
DUR=${3:-120}
PAIRS=${4:-100}
IV=${IV:-10}
WARM=${WARM:-30}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BUILD SRC
source "$SRC/tests/lib/agent.sh"
source "$SRC/bench/fleet_procstat.sh"
source "$SRC/bench/lib/fleet.sh"
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 0; }
PDIR=$(plugin_dir "$BUILD/plugins/dirwatch.so")
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
ulimit -n "$(ulimit -Hn)" # about 2 descriptors per peer connection on each side
declare -A PID PORT
PORT[a]=$(bench_free_port); PORT[b]=$(bench_free_port)
stop_all() { for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null || true; wait "${PID[$n]}" 2>/dev/null || true; unset "PID[$n]"; done; }
trap 'stop_all; cleanup' EXIT
for n in a b; do mkdir -p "$T/$n/keys" "$T/$n/watched" "$T/$n/state"; "$HEALERD" --fleet-keygen "$T/$n/keys" >/dev/null; done
base() {
  cat <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$PDIR"; state_dir = "$T/$1/state"; log_level = "info"; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = { dirwatch = { directory = "$T/$1/watched"; interval = 1.0; paths_allow = ["$T/$1/watched"]; }; };
CONF
}
{ base a
  echo "fleet = { node = \"a\"; peers = { listen = \"tcp://127.0.0.1:${PORT[a]}\"; secret_key_file = \"$T/a/keys/fleet.key\"; interval_seconds = $IV; peer = ("
  for i in $(seq 1 "$K"); do
    printf '{ name = "p%04d"; endpoint = "tcp://127.0.0.1:%s"; public_key_file = "%s"; }%s\n' \
      "$i" "${PORT[b]}" "$T/b/keys/fleet.pub" "$([ "$i" -lt "$K" ] && echo ,)"
  done
  echo "); }; };"; } >"$T/a/h.conf"
{ base b
  echo "fleet = { node = \"b\"; peers = { listen = \"tcp://127.0.0.1:${PORT[b]}\"; secret_key_file = \"$T/b/keys/fleet.key\"; interval_seconds = $IV;"
  echo "  peer = ( { name = \"a\"; endpoint = \"tcp://127.0.0.1:${PORT[a]}\"; public_key_file = \"$T/a/keys/fleet.pub\"; } ); }; };"; } >"$T/b/h.conf"
for n in a b; do
  "$HEALERD" -c "$T/$n/h.conf" --once >/dev/null 2>&1 || { "$HEALERD" -c "$T/$n/h.conf" --once; exit 1; }
  bench_seed_stats "$T/$n/state/knowledge.db" "$PAIRS" "$n"
done
declare -A HP
for n in b a; do
  t0=$(date +%s.%N)
  "$HEALERD" -c "$T/$n/h.conf" 2>"$T/$n/agent.log" &
  PID[$n]=$!
  for _ in $(seq 300); do
    HP[$n]=$(sed -n 's/.*info http: listening on .* (port \([0-9]*\)).*/\1/p' "$T/$n/agent.log" | tail -n1)
    [ -n "${HP[$n]}" ] && break; sleep 0.1
  done
  [ -n "${HP[$n]}" ] || { echo "agent $n did not start:"; tail -n 20 "$T/$n/agent.log"; exit 1; }
  echo "agent $n up (HTTP answering) $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s after start"
done
status() { curl -s --max-time 5 -H "Authorization: Bearer s3cret-token" "http://127.0.0.1:${HP[$1]}/api/v1/status" |
  jq -r '[(.fleet.peers | map(.sent) | add), (.fleet.peers | map(.send_skipped) | add),
          (.fleet.peers | map(.received) | add), (.fleet.peers | map(.dropped) | add)] | @tsv'; }
sleep "$WARM"
hz=$(getconf CLK_TCK)
echo "fleet_fanout: K $K (a full mesh of $((K + 1)) hosts, seen from one node), $DUR s after $WARM s, PAIRS $PAIRS, interval_seconds $IV, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A C0 ST0
for n in a b; do C0[$n]=$(ps_ticks "${PID[$n]}"); ps_ticks_by_name "${PID[$n]}" >"$T/$n.th0"; ST0[$n]=$(status "$n"); done
s0=$(date +%s.%N)
txa0=$(ps_tcp_bytes "${PID[a]}" bytes_sent dport "${PORT[b]}")
sleep "$DUR"
s1=$(date +%s.%N)
txa1=$(ps_tcp_bytes "${PID[a]}" bytes_sent dport "${PORT[b]}")
d=$(echo "$s1 - $s0" | bc)
for n in a b; do
  c1=$(ps_ticks "${PID[$n]}"); ps_ticks_by_name "${PID[$n]}" >"$T/$n.th1"
  read -r se0 sk0 re0 dr0 <<<"${ST0[$n]}"; read -r se1 sk1 re1 dr1 < <(status "$n")
  awk -v n="$n" -v c0="${C0[$n]}" -v c1="$c1" -v hz="$hz" -v d="$d" -v iv="$IV" \
      -v rss="$(ps_kib "${PID[$n]}" Rss)" -v priv="$(ps_private_kib "${PID[$n]}")" \
      -v anon="$(ps_kib "${PID[$n]}" Anonymous)" -v th="$(ps_threads "${PID[$n]}")" \
      -v fd="$(ps_fds "${PID[$n]}")" -v so="$(ps_sockets "${PID[$n]}")" \
      -v se=$((se1 - se0)) -v sk=$((sk1 - sk0)) -v re=$((re1 - re0)) -v dr=$((dr1 - dr0)) 'BEGIN {
    k = d / iv
    printf "agent %s: CPU %.1f s/h (%.2f %% of a core); RSS %.1f MiB, private %.1f, anonymous %.1f; %d threads, %d fds (%d sockets); per interval: sent %.0f, skipped %.0f, received %.0f, dropped %.0f\n",
      n, (c1 - c0) / hz * 3600 / d, 100 * (c1 - c0) / hz / d, rss / 1024, priv / 1024, anon / 1024, th, fd, so, se / k, sk / k, re / k, dr / k }'
  [ -z "${DEBUG:-}" ] || paste "$T/$n.th0" "$T/$n.th1"
  echo "   CPU s/h by thread: $(join "$T/$n.th0" "$T/$n.th1" | awk -v hz="$hz" -v d="$d" '$3 > $2 {printf "%s %.1f  ", $1, ($3 - $2) / hz * 3600 / d}')"
done
echo "a -> b TCP bytes per interval: $(echo "($txa1 - $txa0) * $IV / $d" | bc)"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
