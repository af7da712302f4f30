#!/usr/bin/env bash
# The fleet for real (issue #16): three agents (a, b, c), each in its own network namespace
# joined to a hub namespace's bridge by a veth pair (tests/lib/fleet_net.sh); in the hub a REAL
# etcd (fleet.etcd, max_concurrent_risky = 1) and a REAL Alertmanager whose webhook receivers are
# the three agents' POST /api/v1/alerts on their node addresses. Every agent shares knowledge with
# the other two over CURVE (fleet.peers), heals alerts with a risky plans.d step (takes the
# group's one etcd slot) and heals a local check all the time (not risky: never asks etcd).
# In order: (1) all up: alerts heal on all three, the knowledge counters converge; (2) b killed
# with SIGKILL while it holds the slot and exchanges, the others go on (the slot frees with the
# lease), b restarted converges again; (3) etcd stopped: risky heals wait (audit, metrics),
# critical and local healing proceed; etcd started: the waits end; (4) c cut off its veth: a and
# b heal and converge, c heals locally; rejoined: all converge. Throughout: the slots held at
# once, swept from the three audit logs, never exceed 1, and every agent's local heals go on in
# every phase. Skips (77) without root, ip netns, etcd, Alertmanager, jq, sqlite3 or python3.
. "$SRC/tests/lib/agent.sh"
AM_BIN=$(command -v prometheus-alertmanager || command -v alertmanager || true)
command -v etcd >/dev/null || { echo "skip: etcd is not installed"; exit 77; }
command -v etcdctl >/dev/null || { echo "skip: etcdctl is not installed"; exit 77; }
[ -n "$AM_BIN" ] || { echo "skip: prometheus-alertmanager is not installed"; exit 77; }
for t in jq sqlite3 python3 ip; do
  command -v "$t" >/dev/null || { echo "skip: no $t"; exit 77; }
done
ip netns list >/dev/null 2>&1 || { echo "skip: no ip netns"; exit 77; }
. "$SRC/tests/lib/fleet_net.sh"

NODES=(a b c)
K=1           # max_concurrent_risky
TTL=6         # lease_ttl_s: a killed holder's slot frees within this
HUB=$FLEET_HUB_IP
ETCD="http://$HUB:2379"
AMURL="http://$HUB:9093"
STEPS="$T/steps.log"; : >"$STEPS"   # the risky steps' own start/end marks (ns)
EVENTS="$T/events"; : >"$EVENTS"    # kills, for the sweep: "kill NODE EPOCH"
declare -A APID                     # the agents' pids (only those are ever signalled)
ETCD_PID=""

show_logs() { # a failed check is easier to read next to what the agents said
  [ "$FAIL" -gt 0 ] || return 0
  for n in "${NODES[@]}"; do echo "--- $n:" >&2; tail -n 25 "$T/$n/agent.log" >&2 2>/dev/null || true; done
  echo "--- alertmanager:" >&2; tail -n 10 "$T/am/log" >&2 2>/dev/null || true
}
trap 'fleet_net_down; show_logs; cleanup' EXIT

fleet_net_up "${NODES[@]}"
# ---- the hub: etcd and Alertmanager ----
mkdir -p "$T/etcd"
start_etcd() {
  fleet_bg hub etcd --name fl --data-dir "$T/etcd/data" \
    --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster fl=http://127.0.0.1:2380 >>"$T/etcd/log" 2>&1
  ETCD_PID=$FLEET_LAST_PID
  for _ in $(seq 300); do
    fleet_in hub curl -s --max-time 1 "$ETCD/health" | grep -q '"health":"true"' && return 0
    sleep 0.1
  done
  echo "etcd did not start"; tail -n 20 "$T/etcd/log"; return 1
}
stop_etcd() { fleet_stop "$ETCD_PID" KILL || true; ETCD_PID=""; }
start_etcd
reaches_etcd() { fleet_in "$1" curl -s --max-time 2 "$ETCD/health" | grep -q '"health":"true"'; }
for n in "${NODES[@]}"; do check "$n reaches etcd in the hub over its veth" reaches_etcd "$n"; done

echo "api-token-three" >"$T/token"; chmod 600 "$T/token"
echo "alerts-token-three" >"$T/alerts.token"; chmod 600 "$T/alerts.token"
mkdir -p "$T/am"
{
  cat <<YML
global: { resolve_timeout: 1h }
route:
  receiver: a
  group_by: ["alertname", "node", "instance"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
YML
  for n in "${NODES[@]}"; do echo "    - { match: { node: \"$n\" }, receiver: \"$n\" }"; done
  echo "receivers:"
  for n in "${NODES[@]}"; do
    cat <<YML
  - name: "$n"
    webhook_configs:
      - url: "http://$(fleet_ip "$n"):9191/api/v1/alerts"
        send_resolved: true
        http_config: { authorization: { credentials_file: "$T/alerts.token" } }
YML
  done
} >"$T/am/am.yml"
fleet_bg hub "$AM_BIN" --config.file="$T/am/am.yml" --storage.path="$T/am/data" \
  --web.listen-address="$HUB:9093" --cluster.listen-address= >"$T/am/log" 2>&1

wait_for "alertmanager ready in the hub" 30 fleet_in hub curl -sf "$AMURL/-/ready"

# alert NODE INSTANCE [critical]: one firing alert posted to Alertmanager's API from the hub;
# it routes it to NODE's webhook.
alert() {
  local name=SvcDown sev=high
  [ "${3:-}" = critical ] && { name=SvcCritical; sev=critical; }
  fleet_in hub curl -sf --max-time 5 -X POST -H 'Content-Type: application/json' "$AMURL/api/v2/alerts" \
    -d "[{\"labels\":{\"alertname\":\"$name\",\"node\":\"$1\",\"instance\":\"$2\",\"severity\":\"$sev\"},
          \"annotations\":{\"summary\":\"$2 is down\"}}]" >/dev/null
}

# ---- the agents ----
PDIR=$(plugin_dir "$BUILD/plugins/plans.so")
agent_conf() { # agent_conf NODE: $T/NODE/healerd.conf, plans.d, keys made before
  local n=$1 d="$T/$1" ip peers="" p
  ip=$(fleet_ip "$n")
  for p in "${NODES[@]}"; do
    [ "$p" = "$n" ] && continue
    peers+="{ name = \"$p\"; endpoint = \"tcp://$(fleet_ip "$p"):9477\"; public_key_file = \"$T/$p/keys/fleet.pub\"; },"
  done
  cat >"$d/healerd.conf" <<CONF
agent = { mode = "live"; interval = 0.2; plugin_dir = "$PDIR"; state_dir = "$d/state";
          log_level = "info"; action_timeout = 10.0; };
limits = { max_heals_per_hour = 100000; cooldown_minutes = 0; min_health_for_auto = 0;
           loop_heals = 0; relapse_window_s = 0; };
http = { listen = "$ip:9191"; allow_remote = true; token_file = "$T/token"; };
plugins = { plans = { allow_auto = true; dir = "$d/plans.d"; }; };
fleet = {
  node = "$n";
  group = "three";
  alerts = {
    token_file = "$T/alerts.token";
    stale_seconds = 3600;
    map = ( { alertname = "SvcDown"; type = "svc_down"; target_label = "instance"; },
            { alertname = "SvcCritical"; type = "svc_critical"; target_label = "instance"; } );
  };
  peers = {
    listen = "tcp://$ip:9477";
    secret_key_file = "$d/keys/fleet.key";
    public_key_file = "$d/keys/fleet.pub";
    interval_seconds = 1.0;
    peer = ( ${peers%,} );
  };
  etcd = { endpoints = ["$ETCD"]; max_concurrent_risky = $K; hourly_budget = 0;
           timeout_ms = 300; lease_ttl_s = $TTL; prefix = "/healerd-three"; };
};
CONF
  # local: a check that fails once its file is 5 s old, healed by touching it (not risky):
  # this agent heals something of its own all the time. svc: the alerts' plan, one risky step
  # of step_s (1.5 s) that marks its start and end. crit: the critical alerts' plan, risky too.
  # (One step at a time per plugin: the local heal's verify may wait for a risky step, so the
  # file's age limit stays above step_s.)
  cat >"$d/plans.d/three.conf" <<CONF
checks = (
  { name = "local"; type = "command"; interval_s = 0.5; fail_count = 1; severity = "low";
    argv = ["/bin/sh", "-c", "test \$((\$(date +%s) - \$(stat -c %Y $d/lok))) -lt 5"]; }
);
plans = (
  { name = "local"; match = { type = "check_failed"; target = "local"; };
    steps = ( { name = "touch"; settle_s = 0.1; run = ["/usr/bin/touch", "$d/lok"]; } ); },
  { name = "svc"; match = { type = "svc_down"; };
    steps = ( { name = "slow"; risky = true; auto = true; timeout_s = 10; settle_s = 0.1;
      run = ["/bin/sh", "-c", "echo start $n \$(date +%s.%N) >> $STEPS; sleep \$(cat $T/step_s); echo end $n \$(date +%s.%N) >> $STEPS"]; } );
    verify_command = ["/bin/true"]; },
  { name = "crit"; match = { type = "svc_critical"; };
    steps = ( { name = "touch"; risky = true; auto = true; settle_s = 0.1; run = ["/usr/bin/touch", "$d/crit"]; } );
    verify_command = ["/bin/true"]; }
);
CONF
}
for n in "${NODES[@]}"; do
  mkdir -p "$T/$n/state" "$T/$n/keys" "$T/$n/plans.d"
  "$HEALERD" --fleet-keygen "$T/$n/keys" >/dev/null
  touch "$T/$n/lok"
done
echo 1.5 >"$T/step_s"
for n in "${NODES[@]}"; do agent_conf "$n"; done
check "--check-config accepts the three-node config" "$HEALERD" --check-config -c "$T/a/healerd.conf"

start_node() { # start_node NODE: healerd in NODE's namespace, until its HTTP answers
  local n=$1
  fleet_bg "$n" "$HEALERD" -c "$T/$n/healerd.conf" 2>>"$T/$n/agent.log"
  APID[$n]=$FLEET_LAST_PID
  for _ in $(seq 100); do
    api "$n" /healthz >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "agent $n did not start"; tail -n 20 "$T/$n/agent.log"; return 1
}
# api NODE PATH: GET from the agent's own address inside its namespace (not loopback: the token)
api() { fleet_in "$1" curl -sf --max-time 5 -H "Authorization: Bearer api-token-three" "http://$(fleet_ip "$1"):9191$2"; }
kb() { sqlite3 "$T/$1/state/knowledge.db" "$2" 2>/dev/null; }
# local_stat NODE ACTION / peer_stat AT NODE ACTION: attempts/successes, as NODE counts them and
# as AT holds them from NODE
local_stat() { kb "$1" "select attempts || '/' || successes from stats where action = '$2'"; }
peer_stat() { kb "$1" "select attempts || '/' || successes from fleet_stats where node = '$2' and action = '$3'"; }
attempts_of() { echo "${1%/*}"; }
local_heals() { # healed local heals in NODE's audit log
  jq -s '[.[] | select(.action == "local_touch" and .actuator == null and .result == "healed")] | length' \
    "$T/$1/state/audit.jsonl" 2>/dev/null || echo 0
}
svc_done() { # svc_done NODE INSTANCE: the heal of that alert's issue ended healed
  api "$1" '/api/v1/heals?limit=500' | jq -e --arg t "$2" \
    '[.heals[] | select(.issue_type == "svc_down" and .target == $t and .outcome == "healed")] | length > 0' >/dev/null
}
# every peer holds exactly NODE's own count of ACTION
converged() {
  local n m own
  for n in "${NODES[@]}"; do
    own=$(local_stat "$n" "$1")
    [ -n "$own" ] || return 1
    for m in "${NODES[@]}"; do
      [ "$m" = "$n" ] && continue
      [ "$(peer_stat "$m" "$n" "$1")" = "$own" ] || return 1
    done
  done
}
# every peer (of those named) holds at least what NODE counted of ACTION when this was called:
# the local counter never stands still, so a peer's view is checked against a moment ago
caught_up() { # caught_up ACTION NODE...
  local action=$1 n m; shift
  declare -A want
  for n in "$@"; do want[$n]=$(attempts_of "$(local_stat "$n" "$action")"); done
  local end=$(( $(date +%s) + 20 ))
  while [ "$(date +%s)" -le "$end" ]; do
    local all=1
    for n in "$@"; do for m in "$@"; do
      [ "$m" = "$n" ] && continue
      local got; got=$(attempts_of "$(peer_stat "$m" "$n" "$action")")
      [ -n "$got" ] && [ "${want[$n]:-0}" -gt 0 ] && [ "$got" -ge "${want[$n]}" ] || all=0
    done; done
    [ "$all" = 1 ] && return 0
    sleep 0.2
  done
  return 1
}
hears() { api "$1" /api/v1/status | jq -e "[.fleet.peers[] | select(.last_heard != null)] | length == $2" >/dev/null; }
status_is() { api "$1" /api/v1/status | jq -e "$2" >/dev/null; }
declare -A LAST
healed_since() { [ "$(local_heals "$1")" -gt "$2" ]; }
local_going() { # local_going PHASE [NODE...]: each agent (or those named) heals locally again
  local phase=$1 n; shift
  [ $# -gt 0 ] || set -- "${NODES[@]}"
  for n in "$@"; do
    wait_for "$phase: $n keeps healing locally (more than ${LAST[$n]:-0})" 20 healed_since "$n" "${LAST[$n]:-0}"
    LAST[$n]=$(local_heals "$n")
  done
}
round() { # round TAG NODE...: one alert to each node at once, until each heal is done
  local tag=$1 n; shift
  for n in "$@"; do alert "$n" "svc-$tag-$n"; done
  for n in "$@"; do
    wait_for "$tag: $n healed its alert svc-$tag-$n" 60 svc_done "$n" "svc-$tag-$n"
  done
}

for n in "${NODES[@]}"; do start_node "$n"; done

# ---- (1) all up ----
for n in "${NODES[@]}"; do
  wait_for "1: $n hears both peers" 30 hears "$n" 2
done
sleep 1
LAST=(); local_going "1 start"
round r1 a b c
round r2 a b c
wait_for "1: svc_slow counters converged (each peer holds each node's own)" 20 converged svc_slow
check "1: local_touch counters caught up everywhere" caught_up local_touch a b c
check "1: some heal waited for another node's slot" bash -c "cat $T/*/state/audit.jsonl | jq -s -e '[.[] | select(.action == \"fleet_wait\")] | length > 0' >/dev/null"
for n in "${NODES[@]}"; do
  check "1: $n's status shows etcd up and both peers" status_is "$n" ".fleet.limits.etcd_up == true and .fleet.limits.max_concurrent_risky == $K and (.fleet.peers | length) == 2"
done
local_going "1 end"

# ---- (2) b killed (SIGKILL) while it holds the slot, in the middle of the exchange ----
etcdget() { fleet_in hub env ETCDCTL_API=3 etcdctl --endpoints "$ETCD" get --prefix /healerd-three/three/slot/ --print-value-only 2>/dev/null; }
holds() { etcdget | grep -q "^$1 #"; }
B_SVC=$(attempts_of "$(local_stat b svc_slow)")
B_LOC=$(attempts_of "$(local_stat b local_touch)")
# b takes the slot first and a's and c's heals wait for it when b is killed. Their alerts go
# straight to their webhooks (Alertmanager's group_wait would make the order a matter of luck),
# and the step runs 3 s here.
hook() { # hook NODE INSTANCE: one firing alert posted as Alertmanager would, from the hub
  fleet_in hub curl -sf --max-time 5 -H "Authorization: Bearer alerts-token-three" \
    "http://$(fleet_ip "$1"):9191/api/v1/alerts" -d "{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",
    \"labels\":{\"alertname\":\"SvcDown\",\"node\":\"$1\",\"instance\":\"$2\",\"severity\":\"high\"},
    \"fingerprint\":\"$(echo "$2" | tr -dc 'a-z0-9')\"}]}" >/dev/null
}
echo 3 >"$T/step_s"
B_RUNS=$(grep -c "^start b " "$STEPS" || true)
step_running() { [ "$(grep -c "^start $1 " "$STEPS")" -gt "$2" ]; }
hook b svc-p2-b
wait_for "2: b holds the slot and runs its risky step" 40 step_running b "$B_RUNS"
hook a svc-p2-a
hook c svc-p2-c
waits_full() { jq -s -e --arg t "$2" '[.[] | select(.action == "fleet_wait" and .target == $t and (.message | test("held")))] | length > 0' "$T/$1/state/audit.jsonl" >/dev/null; }
for n in a c; do wait_for "2: $n's heal waits for the slot b holds" 10 waits_full "$n" "svc-p2-$n"; done
check "2: b's slot is in etcd under its name" holds b
check "2: b's step is still running" [ "$(grep -c "^end b " "$STEPS")" -eq "$B_RUNS" ]
echo "kill b $(date +%s.%N)" >>"$EVENTS"
fleet_stop "${APID[b]}" KILL || true; unset "APID[b]"
echo 1.5 >"$T/step_s"
not_holds() { ! holds "$1"; }
wait_for "2: b's slot frees itself with its lease (ttl ${TTL}s)" $((TTL + 10)) not_holds b
for n in a c; do wait_for "2: $n healed its alert while b is down" 60 svc_done "$n" "svc-p2-$n"; done
local_going "2 (b down)" a c
# b's step died with b: its guard kills the step's process group when the agent dies, so it
# cannot run on past the lease into the next holder's turn (it had 3 s to go; the waits above
# took longer, so a surviving step would have written its end mark by now)
KILLED_AT=$(awk '$1 == "kill" {print $3}' "$EVENTS")
ended_after_kill() { awk -v k="$KILLED_AT" '$1 == "end" && $2 == "b" && $3 > k {f=1} END {exit !f}' "$STEPS"; }
step_died() { ! ended_after_kill; }
check "2: b's risky step died with b (no end mark after the kill)" step_died
start_node b
check "2: b's own svc_slow count came back from its knowledge.db (>= $B_SVC)" \
  [ "$(attempts_of "$(local_stat b svc_slow)")" -ge "$B_SVC" ]
check "2: b's own local_touch count came back (>= $B_LOC)" \
  [ "$(attempts_of "$(local_stat b local_touch)")" -ge "$B_LOC" ]
check "2: b still holds a's and c's counters from before" \
  bash -c "[ -n \"\$(sqlite3 '$T/b/state/knowledge.db' \"select 1 from fleet_stats where node = 'a' and action = 'svc_slow'\")\" ] && [ -n \"\$(sqlite3 '$T/b/state/knowledge.db' \"select 1 from fleet_stats where node = 'c' and action = 'svc_slow'\")\" ]"
wait_for "2: b hears both peers again" 30 hears b 2
round p2r a b c
wait_for "2: svc_slow counters converged again" 20 converged svc_slow
check "2: local_touch counters caught up everywhere" caught_up local_touch a b c
local_going "2 end"

# ---- (3) etcd stopped: risky heals wait, critical and local heals go on; etcd back ----
stop_etcd
echo "etcd_stop $(date +%s.%N)" >>"$EVENTS"
for n in a b c; do alert "$n" "svc-p3-$n"; done
waits_unreachable() { # the heal of that alert audited waiting because etcd is unreachable
  jq -s -e --arg t "svc-p3-$1" '[.[] | select(.action == "fleet_wait" and .target == $t and (.message | test("unreachable")))] | length > 0' \
    "$T/$1/state/audit.jsonl" >/dev/null
}
metric() { local m; m=$(api "$1" /metrics) && grep -Eq "$2" <<<"$m"; }
for n in a b c; do
  wait_for "3: $n's risky heal waits, etcd unreachable (audit fleet_wait)" 20 waits_unreachable "$n"
  check "3: $n's metrics: fleet_etcd_up 0" metric "$n" '_fleet_etcd_up 0$'
  check "3: $n's metrics: fleet_limit_waits_total{reason=\"unreachable\"} counted" metric "$n" '_fleet_limit_waits_total\{reason="unreachable"\} [1-9]'
done
alert a crit-p3-a critical
proceeded() { jq -s -e '[.[] | select(.action == "fleet_slot" and .result == "proceed" and .target == "crit-p3-a")] | length == 1' "$T/a/state/audit.jsonl" >/dev/null; }
wait_for "3: a's critical heal proceeds without a slot (audited)" 30 proceeded
# the audit line comes before the step: the touch may land a moment later
wait_for "3: and ran its risky step" 20 test -e "$T/a/crit"
local_going "3 (etcd down)"
sleep 2
not_done() { ! svc_done "$1" "$2"; }
for n in a b c; do check "3: $n's risky heal has still not run" not_done "$n" "svc-p3-$n"; done
start_etcd
echo "etcd_start $(date +%s.%N)" >>"$EVENTS"
for n in a b c; do wait_for "3: etcd back: $n's waiting heal gets its slot and heals" 60 svc_done "$n" "svc-p3-$n"; done
for n in a b c; do check "3: $n's metrics: fleet_etcd_up 1" metric "$n" '_fleet_etcd_up 1$'; done
local_going "3 end"

# ---- (4) c cut off (its veth's hub end down): a and b go on; rejoined, all converge ----
fleet_partition c
echo "partition c $(date +%s.%N)" >>"$EVENTS"
sleep 2   # what was already on its way to c is merged first (states every 1 s)
C_SEES_A=$(peer_stat c a local_touch)
alert c svc-p4-c   # Alertmanager cannot deliver it yet: it tries again each group_interval
round p4 a b
converged_ab() { [ "$(peer_stat a b svc_slow)" = "$(local_stat b svc_slow)" ] && [ "$(peer_stat b a svc_slow)" = "$(local_stat a svc_slow)" ]; }
wait_for "4: a and b converge between themselves" 20 converged_ab
check "4: a and b's local_touch caught up between themselves" caught_up local_touch a b
check "4: c is cut off for real: its view of a stood still ($C_SEES_A, a now $(local_stat a local_touch))" \
  [ "$(peer_stat c a local_touch)" = "$C_SEES_A" -a "$(local_stat a local_touch)" != "$C_SEES_A" ]
local_going "4 (c cut off)"
check "4: c's alert did not reach it while cut off" not_done c svc-p4-c
fleet_rejoin c
echo "rejoin c $(date +%s.%N)" >>"$EVENTS"
wait_for "4: c hears both peers again" 40 hears c 2
wait_for "4: the alert Alertmanager kept for c arrives and heals" 60 svc_done c svc-p4-c
round p4r a b c
wait_for "4: all three converge again" 30 converged svc_slow
check "4: local_touch counters caught up everywhere" caught_up local_touch a b c
local_going "4 end"

# ---- the limit, swept from the audit logs ----
for n in a b c; do cp "$T/$n/state/audit.jsonl" "$T/audit-$n.jsonl"; done
python3 - "$T" "$K" "$TTL" >"$T/sweep" <<'PY'
import json, sys, datetime
T, K, TTL = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def ts(s):  # RFC 3339 with milliseconds, UTC
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
ev, grants = [], 0
kills = [l.split() for l in open(T + "/events") if l.startswith("kill ")]
for n in "abc":
    inc = 0                       # the agent's life: heal ids start again after a restart
    bounds = sorted(float(k[2]) for k in kills if k[1] == n)
    for line in open(f"{T}/audit-{n}.jsonl"):
        r = json.loads(line)
        if r.get("plugin") != "fleet":
            continue
        t = ts(r["time"])
        life = sum(1 for b in bounds if b < t)
        key = (n, life, r["heal_id"])
        if r["action"] == "fleet_slot" and r["result"] == "granted":
            ev.append((t, 1, key)); grants += 1
        elif r["action"] == "fleet_release":
            ev.append((t, 0, key))
# a killed agent's slots free with their lease: its last keepalive was at most TTL/3 before the
# kill, so the lease ended no sooner than 2/3 TTL after it. Held until then (the strict reading).
out = []
for k in kills:
    n, kt = k[1], float(k[2])
    life = sum(1 for b in kills if b[1] == n and float(b[2]) < kt)
    open_ = {}
    for t, kind, key in sorted(ev):
        if key[0] != n or key[1] != life or t > kt:
            continue
        if kind == 1: open_[key] = t
        else: open_.pop(key, None)
    for key in open_:
        ev.append((kt + 2 * TTL / 3, 0, key))
        out.append(f"{key} held when {n} was killed: released at kill + {2 * TTL / 3:.1f}s")
held, peak = set(), 0
for t, kind, key in sorted(ev, key=lambda e: (e[0], e[1])):   # a tie: the release first
    if kind == 1: held.add(key)
    else: held.discard(key)
    peak = max(peak, len(held))
print(peak, grants)
for o in out: print("#", o)
# numbers: how long after a kill, an etcd start, the next slot went to anyone
others = sorted(t for t, kind, key in ev if kind == 1)
for l in open(T + "/events"):
    w = l.split()
    if w[0] in ("kill", "etcd_start"):
        t0 = float(w[-1])
        nxt = [t for t in others if t > t0]
        if nxt:
            print("# %s -> next slot granted after %.1f s" % (" ".join(w[:-1]), nxt[0] - t0))
PY
read -r PEAK GRANTS < "$T/sweep"
sed -n '2,$p' "$T/sweep"
check "audit sweep: $GRANTS slots granted over the run (not a vacuous sweep)" [ "$GRANTS" -ge 12 ]
check "audit sweep: at most $K slot(s) held at once across the three agents (peak $PEAK)" [ "$PEAK" -le "$K" ]
# every grant follows exactly one fleet_ask of the same heal, written before the question left:
# a slot etcd held for an agent killed before it heard the answer still has a line
asked_first() {
  jq -s -e '. as $all | [to_entries[] | select(.value.action == "fleet_slot" and .value.result == "granted")
    | .key as $i | .value.heal_id as $h | [$all[:$i][] | select(.action == "fleet_ask" and .heal_id == $h)] | length]
    | length > 0 and all(. == 1)' "$T/$1/state/audit.jsonl" >/dev/null
}
for n in a b c; do check "audit: each of $n's grants follows its heal's one fleet_ask line" asked_first "$n"; done
# the risky steps' own marks (ns): never more than K running at once
# (a step whose agent was killed under it and that never wrote its end ended at the kill)
MAXS=$(python3 - "$STEPS" "$EVENTS" <<'PY'
import sys
marks = sorted((float(t), k, n) for k, n, t in (l.split() for l in open(sys.argv[1])))
kills = sorted((float(l.split()[2]), l.split()[1]) for l in open(sys.argv[2]) if l.startswith("kill "))
spans, run = [], {}
for t, kind, n in marks:
    if kind == "start":
        if n in run:   # no end before this start: killed, ended at the kill before it
            spans.append((run[n], min(k for k, kn in kills if kn == n and k > run[n])))
        run[n] = t
    elif n in run:
        spans.append((run.pop(n), t))
for n, t0 in run.items():
    spans.append((t0, min([k for k, kn in kills if kn == n and k > t0] or [float("inf")])))
ev = sorted([(a, 1) for a, _ in spans] + [(b, 0) for _, b in spans])
c = m = 0
for _, k in ev:
    c += 1 if k else -1
    m = max(m, c)
print(m)
PY
)
check "the risky steps themselves never overlapped (max $MAXS of $(grep -c ^start "$STEPS") runs)" [ "$MAXS" -le "$K" ]
# the longest stretch without a local heal, per agent (a number, printed; the checks are above)
for n in a b c; do
  jq -r 'select(.action == "local_touch" and .actuator == null and .result == "healed") | .time' "$T/$n/state/audit.jsonl" |
    python3 -c 'import sys, datetime
t = [datetime.datetime.strptime(l.strip(), "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() for l in sys.stdin]
print("# %s: %d local heals, longest gap %.1f s" % (sys.argv[1], len(t), max(b - a for a, b in zip(t, t[1:]))))' "$n"
done
for n in a b c; do
  check "$n stops cleanly (exit 0 on SIGTERM)" fleet_stop "${APID[$n]}" TERM
  check "$n: no error-level line in its log" bash -c "! grep -E '^[^ ]+ error ' '$T/$n/agent.log'"
done
finish
