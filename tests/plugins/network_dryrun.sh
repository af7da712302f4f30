#!/usr/bin/env bash
# tests/plugins/network_dryrun.sh — the network plugin in dry-run, in real network namespaces:
# the same faults as network_heal.sh are detected and planned, every planned action and every
# command it would run is in audit.jsonl marked dry_run, and nothing changes — the link stays
# down, the route stays missing, dnsmasq gets no signal — in A or in the host's namespace.
source "$SRC/tests/lib/agent.sh"
source "$SRC/tests/plugins/network_lib.sh"
net_require

host_before=$(host_snapshot)
net_setup

MODE=dry-run NET_EXTRA='interfaces = ["veth-a"];' network_conf "$T/healerd.conf"
start_ns_agent "$T/healerd.conf"
wait_for "the plugin is loaded" 10 bash -c "ip netns exec $NA curl -s http://127.0.0.1:$PORT/api/v1/plugins | jq -e '.plugins[] | select(.name==\"network\" and .state==\"loaded\")'"
sleep 1.5

# 1. Link down: planned and reported, not done.
ip -n "$NA" link set veth-a down
wait_for "network_down: a dry-run heal with restart_interface" 20 heal_with network_down restart_interface dry_run
check "audit: restart_interface planned, dry_run" audit_has '.action=="restart_interface" and .actuator==null and .dry_run==true'
check "audit: would run ip link set dev veth-a up" audit_has '.actuator=="run" and .result=="dry_run" and ((.params.argv // []) | join(" ")) == "ip link set dev veth-a up"'
check "audit: would restore the default route" audit_has '.actuator=="run" and .result=="dry_run" and ((.params.argv // []) | join(" ")) == "ip route replace default via '"$B_IP"' dev veth-a proto 3"'
check "audit: restart_network_service planned, dry_run" audit_has '.action=="restart_network_service" and .dry_run==true'
sleep 1
check "veth-a is still down" link_down
check "no default route came back" no_default
check "no actuator changed anything (no result ok)" bash -c "! jq -s -e 'any(.[]; .actuator != null and .result == \"ok\")' '$T/state/audit.jsonl' >/dev/null"
ip -n "$NA" link set veth-a up
ip -n "$NA" route add default via "$B_IP" dev veth-a
wait_for "network_down closes once the test fixed it" 10 no_issue network_down

# 2. Route deleted.
sleep 1
ip -n "$NA" route del default
wait_for "route_missing: a dry-run heal with reset_routes" 20 heal_with route_missing reset_routes dry_run
check "audit: would run ip route replace default via B" audit_has '.action=="reset_routes" and .actuator=="run" and .dry_run==true'
sleep 1
check "the default route is still missing" no_default
ip -n "$NA" route add default via "$B_IP" dev veth-a
wait_for "route_missing closes once the test fixed it" 10 no_issue route_missing

# 3. Stale dnsmasq: the flush is planned, but no signal is sent.
sleep 1
: >"$T/hosts"
kill -HUP "$DNS_PID"
wait_for "the name no longer resolves" 10 bash -c "! ip netns exec $NA timeout 3 getent ahostsv4 $DNS_NAME >/dev/null"
echo "$DNS_ANSWER $DNS_NAME" >"$T/hosts"
wait_for "dns_failure: a dry-run heal with flush_dns_cache" 20 heal_with dns_failure flush_dns_cache dry_run
check "audit: would send SIGHUP to dnsmasq" audit_has '.action=="flush_dns_cache" and .actuator=="signal" and .result=="dry_run"'
sleep 1
check "dnsmasq still serves stale data (it got no signal)" bash -c "! ip netns exec $NA timeout 3 getent ahostsv4 $DNS_NAME >/dev/null"
kill -HUP "$DNS_PID"
wait_for "dns_failure closes once the test flushed dnsmasq" 15 no_issue dns_failure

# Every action of every dry-run heal has its audit line.
heals=$(api "/api/v1/heals?limit=200")
missing=0
while read -r id act; do
  audit_has ".heal_id == $id and .action == \"$act\" and .actuator == null and .dry_run == true" || { echo "# heal $id action $act not in audit"; missing=$((missing+1)); }
done < <(echo "$heals" | jq -r '.heals[] | .id as $i | .actions[] | "\($i) \(.action)"')
check "every planned action is in audit.jsonl ($(echo "$heals" | jq '[.heals[].actions[]] | length') actions)" [ "$missing" = 0 ]
check "no heal was live" bash -c "echo '$heals' | jq -e '[.heals[] | select(.dry_run != true)] | length == 0' >/dev/null"

check "the agent stops cleanly (exit 0; under ASan: no leak)" stop_agent
host_after=$(host_snapshot)
if [ "$host_before" = "$host_after" ]; then ok "nothing changed in the host's namespace"; else
  bad "the host's namespace changed"; diff <(echo "$host_before") <(echo "$host_after") || true; fi
finish
