#!/usr/bin/env bash
# tests/plugins/network_heal.sh — the network plugin healing real faults in real network
# namespaces: the agent runs inside namespace A, a real dnsmasq serves DNS from namespace B.
# The test takes A's link down, deletes its default route, points it at a dead gateway, makes
# dnsmasq serve stale data, and stops dnsmasq; it checks what the agent did about each, and
# that nothing changed in the host's own namespace.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/network_lib.sh"
net_require

host_before=$(host_snapshot)
net_setup

MODE=live network_conf "$T/healerd.conf"
start_ns_agent "$T/healerd.conf"

# Baseline: everything works, nothing is open.
check "name resolves in A before any fault" resolves
wait_for "the plugin is loaded" 10 bash -c "ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/plugins | jq -e '.plugins[] | select(.name==\"network\" and .state==\"loaded\")'"
sleep 1.5   # a few probe rounds: the route via B is confirmed good
check "no issue open at the start" bash -c "[ \"\$(ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/issues | jq '.issues | length')\" = 0 ]"

# 1. The link goes down (admin down: the kernel also drops the default route through it).
ip -n "$NA" link set veth-a down
wait_for "network_down healed by restart_interface" 20 action_healed network_down restart_interface
check "veth-a is up with carrier again" link_up
wait_for "the default route via B is back (restart_interface restored it)" 10 route_via "$B_IP"
wait_for "network_down closed" 10 no_issue network_down
check "route_missing was not raised for a route the link took down" bash -c "! ip netns exec $NA curl -s 'http://127.0.0.1:$PORT/api/v1/heals?limit=200' | jq -e '[.heals[] | select(.issue_type==\"route_missing\")] | length > 0' >/dev/null"

# 2. The default route is deleted.
ip -n "$NA" route del default
wait_for "route_missing healed by reset_routes" 20 action_healed route_missing reset_routes
check "default route via B restored" route_via "$B_IP"
wait_for "route_missing closed" 10 no_issue route_missing

# 3. The default route points at a gateway that does not exist: TCP to the far target fails.
sleep 1   # probe rounds over the restored route
routes_healed=$(healed_count route_missing reset_routes)
ip -n "$NA" route replace default via "$WRONG_GW" dev veth-a
# The replace took the remembered route's slot (same metric): the remembered route is missing,
# so it is route_missing now (before issue #11 only "no default route at all" counted). The
# wrong gateway's route carries no traffic: critical, like no route at all (as medium, the
# agent's low health refused it). A heal after step 2's, not step 2's own.
wait_for "route_missing healed by reset_routes (the wrong gateway's route replaced)" 20 healed_more route_missing reset_routes "$routes_healed"
check "that route_missing was critical (the wrong route carries nothing)" bash -c "ip netns exec $NA curl -s 'http://127.0.0.1:$PORT/api/v1/heals?limit=200' | jq -e '[.heals[] | select(.issue_type==\"route_missing\" and .outcome==\"healed\")] | max_by(.id) | .severity == \"critical\"' >/dev/null"
check "default route via B again" route_via "$B_IP"
check "the dead gateway's route is gone" bash -c "! ip -n $NA route show default | grep -q $WRONG_GW"
wait_for "connectivity_lost closed" 10 no_issue connectivity_lost
wait_for "route_missing closed" 10 no_issue route_missing

# 4. dnsmasq serves stale data: the name is removed and dnsmasq told (SIGHUP by the test);
#    then the file is fixed on disk but dnsmasq is not told. Only a cache flush (SIGHUP, sent
#    by the agent through act_signal) makes it answer again.
#    Healing is paused while the test makes the cache stale: a flush of the still empty file
#    would change nothing, and the agent rightly does not repeat within the hour an action that
#    changed nothing for the same state (it escalates instead).
echo "net-test-token" >"$T/token"
chmod 600 "$T/token"
apipost() {
  ip netns exec "$NA" curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
    -H "Authorization: Bearer net-test-token" "http://127.0.0.1:$PORT$1"
}
check "healing paused while the cache is made stale" [ "$(apipost /api/v1/pause)" = 200 ]
: >"$T/hosts"
kill -HUP "$DNS_PID"
wait_for "the name no longer resolves (dnsmasq re-read the empty hosts file)" 10 bash -c "! ip netns exec $NA timeout 3 getent ahostsv4 $DNS_NAME >/dev/null"
echo "$DNS_ANSWER $DNS_NAME" >"$T/hosts"
check "healing resumed" [ "$(apipost /api/v1/resume)" = 200 ]
wait_for "dns_failure healed by flush_dns_cache (the agent's SIGHUP to dnsmasq)" 25 action_healed dns_failure flush_dns_cache
check "the name resolves again" resolves
check "the SIGHUP went through the actuator (audit)" audit_has '.actuator=="signal" and .action=="flush_dns_cache" and .result=="ok" and .params.signal_name=="SIGHUP"'
wait_for "dns_failure closed" 10 no_issue dns_failure

# 5. dnsmasq is stopped. The agent has nothing that can restart it here (no service plugin
#    loaded): its ladder runs and fails, saying why. The test then restarts dnsmasq itself and
#    the issue clears by detection — healed by the test, not by the agent.
stop_dns
wait_for "dns_failure: ladder ran restart_network_service and failed" 20 heal_with dns_failure restart_network_service failed
check "the failure names the missing service plugin" bash -c "ip netns exec $NA curl -s 'http://127.0.0.1:$PORT/api/v1/heals?limit=200' | jq -e '[.heals[] | select(.issue_type==\"dns_failure\") | .actions[] | select(.action==\"restart_network_service\") | .message | test(\"service\")] | any' >/dev/null"
check "flush_dns_cache was not offered for a dnsmasq that is gone" bash -c "! ip netns exec $NA curl -s 'http://127.0.0.1:$PORT/api/v1/heals?limit=3' | jq -e '[.heals[] | select(.issue_type==\"dns_failure\" and .outcome==\"failed\") | .actions[] | select(.action==\"flush_dns_cache\")] | length > 0' >/dev/null"
start_dns
wait_for "dns_failure clears once dnsmasq is back" 15 no_issue dns_failure
check "the name resolves" resolves

check "the interface restart is in the audit log with its command" audit_has '.actuator=="run" and ((.params.argv // []) | join(" ")) == "ip link set dev veth-a up"'
check "the agent is still running" kill -0 "$AGENT_PID"
# The plugin ran in its confined child (the default) and that child never crashed or was killed
# for not answering (it once stopped answering during the DNS flush; 10 runs since, none).
child_ok() { api /api/v1/plugins | jq -e '.plugins[] | select(.name == "network") | .isolation == "process" and .process.run_state == "running" and .process.crashes == 0' >/dev/null; }
check "the network plugin's child ran throughout: no crash, no restart" child_ok
check "the agent stops cleanly (exit 0; under ASan: no leak)" stop_agent
host_after=$(host_snapshot)
if [ "$host_before" = "$host_after" ]; then ok "nothing changed in the host's namespace"; else
  bad "the host's namespace changed"; diff <(echo "$host_before") <(echo "$host_after") || true; fi
grep -E "^(error|warn)" "$T/agent.log" | grep -v "http" | head -20 || true
finish
