#!/usr/bin/env bash
# bench/fleet_knowledge.sh — shared knowledge over CURVE on loopback: three agents, each with
# PAIRS (issue type, action) pairs of its own history (1 000 by default), started together;
# prints the time until every agent holds the other two's rows in knowledge.db (fleet_stats),
# the size of one full state, and the agents' CPU time meanwhile. Usage:
#   bench/fleet_knowledge.sh [BUILD] [PAIRS] [INTERVAL_S]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
PAIRS=${2:-1000}
IV=${3:-10.0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BUILD SRC
source "$SRC/tests/lib/agent.sh"
source "$SRC/bench/lib/fleet.sh"
PDIR=$(plugin_dir)
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
declare -A PID PORTS
# Four free ports below the ephemeral range (outgoing connections cannot hold them).
while :; do
  BASE=$(( 20000 + RANDOM % 12000 ))
  ss -Htan | awk '{print $4}' | grep -Eq ":($BASE|$((BASE + 1))|$((BASE + 2))|$((BASE + 3)))\$" || break
done
PORTS[a]=$BASE; PORTS[b]=$((BASE + 1)); PORTS[c]=$((BASE + 2))
stop_nodes() { for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}" 2>/dev/null || true; wait "${PID[$n]}" 2>/dev/null || true; unset "PID[$n]"; done; }
trap 'stop_nodes; cleanup' EXIT
for n in a b c; do mkdir -p "$T/$n/state" "$T/$n/keys"; "$HEALERD" --fleet-keygen "$T/$n/keys" >/dev/null; done
for n in a b c; do
  peers=""
  for p in a b c; do
    [ "$p" = "$n" ] && continue
    peers+="{ name = \"$p\"; endpoint = \"tcp://127.0.0.1:${PORTS[$p]}\"; public_key_file = \"$T/$p/keys/fleet.pub\"; },"
  done
  cat >"$T/$n/h.conf" <<CONF
agent = { mode = "dry-run"; plugin_dir = "$PDIR"; state_dir = "$T/$n/state"; };
http = { listen = ""; };
fleet = { node = "$n"; peers = { listen = "tcp://127.0.0.1:${PORTS[$n]}";
  secret_key_file = "$T/$n/keys/fleet.key"; interval_seconds = $IV; peer = ( ${peers%,} ); }; };
CONF
  "$HEALERD" -c "$T/$n/h.conf" --once >/dev/null 2>&1
  bench_seed_stats "$T/$n/state/knowledge.db" "$PAIRS" "$n"
done
want=$((2 * PAIRS))
t0=$(date +%s.%N)
for n in a b c; do "$HEALERD" -c "$T/$n/h.conf" 2>"$T/$n/agent.log" & PID[$n]=$!; done
declare -A DONE=([a]="" [b]="" [c]="")
ndone=0
while [ "$ndone" -lt 3 ]; do
  for n in a b c; do
    [ -n "${DONE[$n]}" ] && continue
    c=$(sqlite3 "$T/$n/state/knowledge.db" "select count(*) from fleet_stats" 2>/dev/null || echo 0)
    if [ "$c" = "$want" ]; then DONE[$n]=$(echo "$(date +%s.%N) - $t0" | bc); ndone=$((ndone + 1)); fi
  done
  sleep 0.02
  [ "$(echo "$(date +%s.%N) - $t0 > 120" | bc)" = 1 ] && { echo "did not converge in 120 s"; exit 1; }
done
cpu=0
hz=$(getconf CLK_TCK)
for n in a b c; do
  read -r ut stt < <(awk '{print $14, $15}' "/proc/${PID[$n]}/stat")
  cpu=$((cpu + ut + stt))
done
bytes=$(python3 - "$PAIRS" <<'PY'
import sys
n = int(sys.argv[1])
# the msgpack size of one node's full state as fleet_merge.c encodes it
def s(x): b = len(x); return 1 + b if b < 32 else 2 + b
size = 1 + s("node") + s("a") + s("counters") + (3 if n < 65536 else 5)
for i in range(1, n + 1):
    a, k = i % 97 + 1, i % 97 // 2
    u = lambda v: 1 if v < 128 else 2
    size += 1 + s("type_%d_a" % (i % 50)) + s("action_%d" % i) + u(a) + u(k)
print(size)
PY
)
echo "pairs per agent: $PAIRS, agents: 3, interval_seconds: $IV"
echo "one full state: $bytes bytes"
for n in a b c; do echo "agent $n holds the other two's $want rows after ${DONE[$n]} s (from the start of the agents)"; done
echo "CPU time of the three agents until then: $(echo "scale=3; $cpu / $hz" | bc) s"
