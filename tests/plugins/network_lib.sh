# tests/plugins/network_lib.sh — shared by the network plugin's tests and bench: two network
# namespaces joined by a veth pair (A = the agent's, B = the "upstream" with a real dnsmasq
# and a TCP listener), the agent started inside A, API calls made inside A, and a trap that
# removes everything (agent, dnsmasq, namespaces, /etc/netns/A, the scope cgroup). Never
# touches the host's own interfaces or routes. Source after tests/lib/agent.sh.

NA="hd-test-$$-a"
NB="hd-test-$$-b"
A_IP=10.213.0.1
B_IP=10.213.0.2
WRONG_GW=10.213.0.99
FAR_IP=10.214.0.1        # on B's loopback: reached from A only through the default route
FAR_PORT=8053
DNS_NAME=www.test.example
DNS_ANSWER=10.214.0.7
CG_NAME="hd-net-test-$$"
CG_DIR=""
DNS_PID=""
TCP_PID=""
NETNS_ETC_CREATED=0

net_cleanup() {
  set +e
  [ -n "${KEEP_T:-}" ] && cp -r "$T" "$KEEP_T"
  cleanup   # tests/lib/agent.sh: the agent, then $T
  for p in $DNS_PID $TCP_PID; do
    kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  ip netns del "$NA" 2>/dev/null
  ip netns del "$NB" 2>/dev/null
  rm -rf "/etc/netns/$NA"
  [ "$NETNS_ETC_CREATED" = 1 ] && rmdir /etc/netns 2>/dev/null
  [ -n "$CG_DIR" ] && rmdir "$CG_DIR" 2>/dev/null
  return 0
}
trap net_cleanup EXIT

net_require() {
  if [ "$(id -u)" -ne 0 ]; then echo "skip: needs root for network namespaces"; exit 77; fi
  command -v dnsmasq >/dev/null || { echo "dnsmasq missing: scripts/install-deps.sh installs dnsmasq-base"; exit 1; }
  command -v jq >/dev/null || { echo "jq missing"; exit 1; }
}

# What the host's own namespace looks like (compared at the end: nothing may change there).
host_snapshot() {
  { ip -o link | sed 's/ link\/.*//'; ip -o addr; ip route; ip -6 route; } 2>&1 | sort
}

net_setup() {
  ip netns add "$NA"
  ip netns add "$NB"
  # The veth pair is created inside A with its peer moved straight into B: it never exists in
  # the host's namespace.
  ip -n "$NA" link add veth-a type veth peer name veth-b netns "$NB"
  ip -n "$NA" link set lo up
  ip -n "$NB" link set lo up
  ip -n "$NA" addr add "$A_IP/24" dev veth-a
  ip -n "$NB" addr add "$B_IP/24" dev veth-b
  ip -n "$NB" addr add "$FAR_IP/32" dev lo
  ip -n "$NA" link set veth-a up
  ip -n "$NB" link set veth-b up
  ip -n "$NA" route add default via "$B_IP" dev veth-a
  # `ip netns exec A` bind-mounts this over /etc/resolv.conf for whatever runs inside A.
  [ -d /etc/netns ] || NETNS_ETC_CREATED=1
  mkdir -p "/etc/netns/$NA"
  echo "nameserver $B_IP" >"/etc/netns/$NA/resolv.conf"
  # dnsmasq runs in a cgroup of its own: the agent's scope.cgroup, so it may signal nothing else.
  local root=/sys/fs/cgroup/unified
  [ -d "$root" ] || root=/sys/fs/cgroup
  CG_DIR="$root/$CG_NAME"
  mkdir -p "$CG_DIR"
  echo "$DNS_ANSWER $DNS_NAME" >"$T/hosts"
  start_dns
  # A TCP listener behind B's address on its loopback: a second dnsmasq, on TCP/UDP 8053.
  ip netns exec "$NB" dnsmasq -k -C /dev/null --no-resolv --no-hosts --port="$FAR_PORT" \
    --listen-address="$FAR_IP" --bind-interfaces --pid-file="$T/tcp.pid" 2>"$T/tcp.log" &
  TCP_PID=$!
}

# The DNS server in B: answers www.test.example from $T/hosts, NXDOMAIN for the rest of
# test.example. Started by this script, stopped and restarted by it.
start_dns() {
  rm -f "$T/dnsmasq.pid"
  ip netns exec "$NB" dnsmasq -k -C /dev/null --no-resolv --no-hosts --addn-hosts="$T/hosts" \
    --local=/test.example/ --listen-address="$B_IP" --bind-interfaces \
    --pid-file="$T/dnsmasq.pid" 2>"$T/dnsmasq.log" &
  DNS_PID=$!
  echo "$DNS_PID" >"$CG_DIR/cgroup.procs"
  for _ in $(seq 50); do [ -s "$T/dnsmasq.pid" ] && break; sleep 0.05; done
}

stop_dns() {
  kill -TERM "$DNS_PID" 2>/dev/null || true
  wait "$DNS_PID" 2>/dev/null || true
  DNS_PID=""
}

# Resolution as a program in A sees it (glibc, A's resolv.conf).
resolves() { ip netns exec "$NA" timeout 3 getent ahostsv4 "$DNS_NAME" | grep -q "$DNS_ANSWER"; }

# start_ns_agent CONFIG: healerd inside namespace A, its port parsed from the log.
start_ns_agent() {
  ip netns exec "$NA" "$HEALERD" -c "$1" 2>"$T/agent.log" &
  AGENT_PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.*info http: listening on .* (port \([0-9]*\)).*/\1/p' "$T/agent.log" | tail -n1)
    [ -n "$PORT" ] && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$T/agent.log"; return 1; }
    sleep 0.05
  done
  [ -n "$PORT" ] || { echo "agent did not start"; cat "$T/agent.log"; return 1; }
}

api() { ip netns exec "$NA" curl -s --max-time 5 "http://127.0.0.1:$PORT$1"; }

# network_conf FILE: the agent's config for these namespaces (MODE, INTERVAL from the caller).
network_conf() {
  local pdir
  pdir=$(plugin_dir "$BUILD/plugins/network.so")
  MAX_HEALS=${MAX_HEALS:-1000} write_config "$1" "$pdir" "
  network = {
    interval = ${NET_INTERVAL:-0.3};
    dns_names = [\"$DNS_NAME\"];
    tcp_targets = [\"$FAR_IP:$FAR_PORT\"];
    dns_timeout = 0.5;
    tcp_timeout = 0.5;
    dns_caches = [\"dnsmasq\"];
    dnsmasq_pid_files = [\"$T/dnsmasq.pid\"];
    settle_seconds = 2.0;
    verify_window_s = ${NET_VERIFY_WINDOW:-1.0};
    verify_recheck_s = 0.3;
    networkd_links_dir = \"\";
    nm_devices_dir = \"\";
    ${NET_EXTRA:-}
  };" "scope = { cgroup = \"/$CG_NAME\"; };"
}

# heal_with TYPE ACTION OUTCOME: a heal of TYPE ended OUTCOME and ACTION ran in it.
heal_with() {
  api "/api/v1/heals?limit=200" | jq -e --arg t "$1" --arg a "$2" --arg o "$3" \
    '[.heals[] | select(.issue_type == $t and .outcome == $o) | .actions[] | select(.action == $a)] | length > 0' >/dev/null
}

# action_healed TYPE ACTION: a heal of TYPE was healed by ACTION itself.
# healed_count TYPE ACTION: how many heals of TYPE ended healed with ACTION healed in them.
healed_count() {
  api "/api/v1/heals?limit=200" | jq --arg t "$1" --arg a "$2" \
    '[.heals[] | select(.issue_type == $t and .outcome == "healed" and any(.actions[]; .action == $a and .outcome == "healed"))] | length'
}
# healed_more TYPE ACTION N: more than N such heals now.
healed_more() { [ "$(healed_count "$1" "$2")" -gt "$3" ]; }

action_healed() {
  api "/api/v1/heals?limit=200" | jq -e --arg t "$1" --arg a "$2" \
    '[.heals[] | select(.issue_type == $t and .outcome == "healed") | .actions[] | select(.action == $a and .outcome == "healed")] | length > 0' >/dev/null
}

issue_open() { api /api/v1/issues | jq -e --arg t "$1" '[.issues[] | select(.type == $t)] | length > 0' >/dev/null; }
no_issue() { ! issue_open "$1"; }
link_up() { ip -n "$NA" -o link show veth-a | grep -q '[<,]UP[,>]' && ip -n "$NA" -o link show veth-a | grep -q LOWER_UP; }
link_down() { ! ip -n "$NA" -o link show veth-a | grep -q '[<,]UP[,>]'; }
route_via() { ip -n "$NA" route show default | grep -q "via $1 dev veth-a"; }
no_default() { [ -z "$(ip -n "$NA" route show default)" ]; }

# audit_has JQ_CONDITION: some line of audit.jsonl satisfies it.
audit_has() { jq -s -e "any(.[]; $1)" "$T/state/audit.jsonl" >/dev/null; }
