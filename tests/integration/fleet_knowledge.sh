#!/usr/bin/env bash
# Shared knowledge over ZeroMQ CURVE (fleet.peers, docs/fleet.md): three real agents on
# loopback exchange their statistics and each keeps the others' in knowledge.db's fleet_stats;
# an agent whose key no one lists is refused and counted, and what it sends never appears;
# a listed key that claims another node's name is dropped and counted.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir)
echo "s3cret-token" >"$T/token"
chmod 600 "$T/token"
declare -A PID PORTS HTTP
# Four free ports below the ephemeral range (outgoing connections cannot hold them).
while :; do
  BASE=$(( 20000 + RANDOM % 12000 ))
  ss -Htan | awk '{print $4}' | grep -Eq ":($BASE|$((BASE + 1))|$((BASE + 2))|$((BASE + 3)))\$" || break
done
PORTS[a]=$BASE; PORTS[b]=$((BASE + 1)); PORTS[c]=$((BASE + 2)); PORTS[x]=$((BASE + 3))

stop_nodes() { # only the agents this test started, by their pid
  for n in "${!PID[@]}"; do
    kill -TERM "${PID[$n]}" 2>/dev/null || true
    wait "${PID[$n]}" 2>/dev/null || true
    unset "PID[$n]"
  done
}
show_logs() { # a failed check is easier to read next to what the agents said
  [ "$FAIL" -gt 0 ] || return 0
  for n in a b c x; do echo "--- $n:" >&2; tail -n 20 "$T/$n/agent.log" >&2 2>/dev/null || true; done
}
trap 'stop_nodes; show_logs; cleanup' EXIT

for n in a b c x; do
  mkdir -p "$T/$n/state" "$T/$n/keys"
  "$HEALERD" --fleet-keygen "$T/$n/keys" >/dev/null
done
check "the secret key is 0600" [ "$(stat -c %a "$T/a/keys/fleet.key")" = 600 ]
check "a second keygen keeps the pair" bash -c "! '$HEALERD' --fleet-keygen '$T/a/keys' 2>/dev/null"
mkdir -p "$T/y"
"$HEALERD" --fleet-keygen "$T/y" >/dev/null
OLD=$(cat "$T/y/fleet.pub")
"$HEALERD" --fleet-keygen "$T/y" --force >/dev/null
check "--force replaces the pair, the secret still 0600" [ "$(cat "$T/y/fleet.pub")" != "$OLD" -a "$(stat -c %a "$T/y/fleet.key")" = 600 ]

# node_conf NAME NODE_NAME PEERS...: NAME's config listing PEERS (by their real keys).
node_conf() {
  local n=$1 node=$2; shift 2
  local peers="" p
  for p in "$@"; do
    peers+="{ name = \"$p\"; endpoint = \"tcp://127.0.0.1:${PORTS[$p]}\"; public_key_file = \"$T/$p/keys/fleet.pub\"; },"
  done
  cat >"$T/$n/h.conf" <<CONF
agent = { mode = "dry-run"; interval = 0.5; plugin_dir = "$PDIR"; state_dir = "$T/$n/state"; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
fleet = {
  node = "$node";
  peers = {
    listen = "tcp://127.0.0.1:${PORTS[$n]}";
    secret_key_file = "$T/$n/keys/fleet.key";
    public_key_file = "$T/$n/keys/fleet.pub";
    interval_seconds = 1.0;
    peer = ( ${peers%,} );
  };
};
CONF
}
start_node() { # start_node NAME
  local n=$1
  "$HEALERD" -c "$T/$n/h.conf" 2>"$T/$n/agent.log" &
  PID[$n]=$!
  for _ in $(seq 100); do
    HTTP[$n]=$(sed -n 's/.*info http: listening on .* (port \([0-9]*\)).*/\1/p' "$T/$n/agent.log" | tail -n1)
    [ -n "${HTTP[$n]}" ] && return 0
    sleep 0.05
  done
  cat "$T/$n/agent.log"; return 1
}
st() { curl -s --max-time 5 "http://127.0.0.1:${HTTP[$1]}/api/v1/status"; }
fleet_row() { sqlite3 "$T/$1/state/knowledge.db" "select attempts || '/' || successes from fleet_stats where node = '$2' and action = '$3'" 2>/dev/null; }

node_conf a a b c
node_conf b b a c
node_conf c c a b
node_conf x c a # the intruder: its own key, claiming to be c, sending to a
# Each node's own history, written before it starts (a --once run creates knowledge.db).
seed() { # seed NAME TYPE ACTION ATTEMPTS SUCCESSES
  sqlite3 "$T/$1/state/knowledge.db" "insert into stats values ('$2', '$3', $4, $5)"
}
for n in a b c x; do
  "$HEALERD" -c "$T/$n/h.conf" --once >/dev/null 2>"$T/$n/once.log" || { cat "$T/$n/once.log"; exit 1; }
done
seed a cpu_high renice 10 9
seed b disk_space_low journal_vacuum 4 1
seed b cpu_high renice 3 3
seed x cpu_high evil_action 100 100

for n in a b c x; do start_node "$n"; done
export -f fleet_row; export T
wait_for "c has a's counters" 20 bash -c "[ \"\$(fleet_row c a renice)\" = 10/9 ]"
wait_for "c has b's counters" 20 bash -c "[ \"\$(sqlite3 '$T/c/state/knowledge.db' \"select attempts || '/' || successes from fleet_stats where node = 'b' and action = 'journal_vacuum'\")\" = 4/1 ]"
wait_for "a has b's counters" 20 bash -c "[ \"\$(sqlite3 '$T/a/state/knowledge.db' \"select attempts from fleet_stats where node = 'b' and action = 'renice'\")\" = 3 ]"
wait_for "b has a's counters" 20 bash -c "[ \"\$(sqlite3 '$T/b/state/knowledge.db' \"select attempts from fleet_stats where node = 'a' and action = 'renice'\")\" = 10 ]"
wait_for "a refused the intruder's key" 20 bash -c "[ \"\$(curl -s 'http://127.0.0.1:${HTTP[a]}/api/v1/status' | jq .fleet.refused)\" -ge 1 ]"
check "a says so in its log" grep -q "warn fleet: refused a connection from .* belongs to no peer" "$T/a/agent.log"
check "the intruder's data never appears at a" [ "$(sqlite3 "$T/a/state/knowledge.db" "select count(*) from fleet_stats where action = 'evil_action'")" = 0 ]
check "nor under the name it claimed" [ "$(sqlite3 "$T/a/state/knowledge.db" "select count(*) from fleet_stats where node = 'c' and action = 'evil_action'")" = 0 ]
check "a's own counters are not in its fleet table" [ "$(sqlite3 "$T/a/state/knowledge.db" "select count(*) from fleet_stats where node = 'a'")" = 0 ]
S=$(st a)
check "status: a hears b" [ "$(echo "$S" | jq '.fleet.peers[] | select(.name == "b") | .last_heard != null')" = true ]
check "status: a's node and listen" [ "$(echo "$S" | jq -r '.fleet.node + " " + .fleet.listen')" = "a tcp://127.0.0.1:${PORTS[a]}" ]
curl -s "http://127.0.0.1:${HTTP[a]}/metrics" >"$T/a/metrics"
check "metrics: refusals counted" grep -Eq '^luminous_nix_fleet_peer_refused_total [1-9]' "$T/a/metrics"
check "metrics: messages from b counted" grep -Eq '^luminous_nix_fleet_messages_received_total\{peer="b"\} [1-9]' "$T/a/metrics"
if command -v promtool >/dev/null; then
  check "metrics: promtool accepts them" bash -c "promtool check metrics <'$T/a/metrics'"
fi
check "the knowledge view still shows only local statistics" [ "$(curl -s "http://127.0.0.1:${HTTP[a]}/api/v1/knowledge" | jq '[.knowledge[] | select(.action == "journal_vacuum")] | length')" = 0 ]

# Hostile messages under b's own key (listed at a): each dropped and counted for b, never merged.
SEND="$BUILD/tests/fleet_send"
dropped_b() { curl -s "http://127.0.0.1:${HTTP[a]}/api/v1/status" | jq '.fleet.peers[] | select(.name == "b") | .dropped'; }
check "b's messages so far all merged" [ "$(dropped_b)" = 0 ]
k=0
for kind in garbage huge types; do
  k=$((k + 1))
  "$SEND" "tcp://127.0.0.1:${PORTS[a]}" "$T/a/keys/fleet.pub" "$T/b/keys/fleet.key" "$kind" b
  wait_for "a drops a $kind message from b's key" 10 bash -c "[ \"\$(curl -s 'http://127.0.0.1:${HTTP[a]}/api/v1/status' | jq '.fleet.peers[] | select(.name == \"b\") | .dropped')\" -ge $k ]"
done
check "the first is logged with its reason" grep -q 'warn fleet: dropped a knowledge message from b: not a map' "$T/a/agent.log"
check "the next ones within the minute are not logged" [ "$(grep -c 'dropped a knowledge message from b' "$T/a/agent.log")" = 1 ]
"$SEND" "tcp://127.0.0.1:${PORTS[a]}" "$T/a/keys/fleet.pub" "$T/b/keys/fleet.key" state c
wait_for "a drops b's key speaking as c" 10 bash -c "[ \"\$(curl -s 'http://127.0.0.1:${HTTP[a]}/api/v1/status' | jq '.fleet.peers[] | select(.name == \"b\") | .dropped')\" -ge 4 ]"
R=$(st a | jq .fleet.refused)
"$SEND" "tcp://127.0.0.1:${PORTS[a]}" "$T/a/keys/fleet.pub" "$T/x/keys/fleet.key" state c &
SPID=$!
wait_for "a refuses the unlisted key again" 10 bash -c "[ \"\$(curl -s 'http://127.0.0.1:${HTTP[a]}/api/v1/status' | jq .fleet.refused)\" -gt $R ]"
wait "$SPID" || true
check "no hostile row reached a" [ "$(sqlite3 "$T/a/state/knowledge.db" "select count(*) from fleet_stats where action in ('evil', 'evil_action')")" = 0 ]

# A listed key that sends under another name: b restarted as node "bee" is dropped at a.
kill -TERM "${PID[b]}"; wait "${PID[b]}" || true; unset "PID[b]"
sed -i 's/node = "b";/node = "bee";/' "$T/b/h.conf"
sqlite3 "$T/b/state/knowledge.db" "update stats set attempts = 50 where action = 'journal_vacuum'"
start_node b
wait_for "a drops b's messages that say bee" 20 bash -c "[ \"\$(curl -s 'http://127.0.0.1:${HTTP[a]}/api/v1/status' | jq '.fleet.peers[] | select(.name == \"b\") | .dropped')\" -ge 1 ]"
curl -s "http://127.0.0.1:${HTTP[a]}/metrics" >"$T/a/metrics2"
check "metrics: b's dropped messages counted" grep -Eq '^luminous_nix_fleet_messages_dropped_total\{peer="b"\} [1-9]' "$T/a/metrics2"
check "bee's counters did not reach a" [ "$(sqlite3 "$T/a/state/knowledge.db" "select count(*) from fleet_stats where node = 'bee' or attempts = 50")" = 0 ]
check "a runs hd-fleet" bash -c "cat /proc/${PID[a]}/task/*/comm | grep -qx hd-fleet"
# A reload restarts the fleet part with the new settings; without the section nothing starts.
kill -HUP "${PID[a]}"
wait_for "a's fleet part restarted by the reload" 10 bash -c "[ \$(grep -c 'info fleet: shared knowledge: node a listening' '$T/a/agent.log') -ge 2 ]"
wait_for "a still hears c after the reload" 10 bash -c "[ \"\$(curl -s 'http://127.0.0.1:${HTTP[a]}/api/v1/status' | jq '.fleet.peers[] | select(.name == \"c\") | .received')\" -gt 0 ]"
kill -TERM "${PID[c]}"; wait "${PID[c]}" || true; unset "PID[c]"
sed -i '/^fleet = {/,$d' "$T/c/h.conf"
start_node c
check "without fleet.peers: no hd-fleet thread" bash -c "! cat /proc/${PID[c]}/task/*/comm | grep -qx hd-fleet"
check "without fleet.peers: nothing listens on its port" bash -c "! ss -ltn | grep -q ':${PORTS[c]} '"
check "without fleet.peers: no fleet in the status" [ "$(st c | jq .fleet)" = null ]
for n in a b c x; do
  check "$n: no error in its log" bash -c "! grep -q ' error ' '$T/$n/agent.log'"
done
stop_nodes
finish
