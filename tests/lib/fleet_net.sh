# tests/lib/fleet_net.sh — a small test network for the fleet: a hub namespace holding a bridge
# (and whatever shared service a test starts there: etcd, Alertmanager), and one namespace per
# agent joined to the bridge by a veth pair. A partition is the hub end of a node's veth set
# down. Nothing touches the host's own interfaces or routes; the trap removes every namespace.
# Source after tests/lib/agent.sh; call fleet_net_up NODE... first; stop what fleet_bg started
# with fleet_stop PID (never a broad kill), and call fleet_net_down from the EXIT trap.

FLEET_NS_PREFIX="hd-fl-$$"
FLEET_HUB="$FLEET_NS_PREFIX-hub"
FLEET_HUB_IP=10.231.0.254
FLEET_NODES=()
FLEET_PIDS=()

# fleet_ip NODE: the node's address (nodes are numbered in the order fleet_net_up got them).
fleet_ip() {
  local i
  for i in "${!FLEET_NODES[@]}"; do
    [ "${FLEET_NODES[$i]}" = "$1" ] && { echo "10.231.0.$((i + 1))"; return 0; }
  done
  return 1
}

fleet_ns() { echo "$FLEET_NS_PREFIX-$1"; }

# fleet_in NODE|hub COMMAND...: runs a command inside that namespace.
fleet_in() {
  local ns
  if [ "$1" = hub ]; then ns=$FLEET_HUB; else ns=$(fleet_ns "$1"); fi
  shift
  ip netns exec "$ns" "$@"
}

# fleet_bg NODE|hub COMMAND...: starts a command in the background in that namespace; its pid is
# remembered so the trap stops it (only processes this test started are ever signalled).
fleet_bg() {
  local ns
  if [ "$1" = hub ]; then ns=$FLEET_HUB; else ns=$(fleet_ns "$1"); fi
  shift
  ip netns exec "$ns" "$@" &        # ip execs the command: $! is the command itself
  FLEET_PIDS+=("$!")
  FLEET_LAST_PID=$!
}

# fleet_stop PID [SIGNAL]: signals one process fleet_bg started (TERM by default), waits for it
# and forgets it, so the trap never signals a pid that may since belong to someone else.
# Returns the process's exit status.
fleet_stop() {
  local pid=$1 sig=${2:-TERM} rc=0 i
  kill -"$sig" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || rc=$?
  for i in "${!FLEET_PIDS[@]}"; do
    [ "${FLEET_PIDS[$i]}" = "$pid" ] && unset "FLEET_PIDS[$i]"
  done
  return $rc
}

fleet_net_up() {
  if [ "$(id -u)" -ne 0 ]; then echo "skip: needs root for network namespaces"; exit 77; fi
  ip netns add "$FLEET_HUB" || { echo "skip: cannot create a network namespace"; exit 77; }
  ip -n "$FLEET_HUB" link set lo up
  ip -n "$FLEET_HUB" link add br0 type bridge || { echo "skip: cannot create a bridge"; exit 77; }
  ip -n "$FLEET_HUB" addr add "$FLEET_HUB_IP/24" dev br0
  ip -n "$FLEET_HUB" link set br0 up
  local node i=0 ns
  for node in "$@"; do
    FLEET_NODES+=("$node")
    i=$((i + 1))
    ns=$(fleet_ns "$node")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # veth names are at most 15 bytes: the hub end is "h<i>", the node end "eth0"
    ip -n "$FLEET_HUB" link add "h$i" type veth peer name eth0 netns "$ns" ||
      { echo "skip: cannot create a veth pair"; exit 77; }
    ip -n "$FLEET_HUB" link set "h$i" master br0 up
    ip -n "$ns" addr add "10.231.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

# fleet_partition NODE / fleet_rejoin NODE: cut a node off the bridge and join it again.
fleet_hub_link() {
  local i
  for i in "${!FLEET_NODES[@]}"; do
    [ "${FLEET_NODES[$i]}" = "$1" ] && { echo "h$((i + 1))"; return 0; }
  done
  return 1
}
fleet_partition() { ip -n "$FLEET_HUB" link set "$(fleet_hub_link "$1")" down; }
fleet_rejoin() { ip -n "$FLEET_HUB" link set "$(fleet_hub_link "$1")" up; }

fleet_net_down() {
  set +e
  local p node
  for p in "${FLEET_PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${FLEET_PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  for node in "${FLEET_NODES[@]}"; do ip netns del "$(fleet_ns "$node")" 2>/dev/null; done
  ip netns del "$FLEET_HUB" 2>/dev/null
  return 0
}
