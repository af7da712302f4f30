#!/usr/bin/env bash
# Fleet-wide limits through a REAL etcd (fleet.etcd): two agents in one group with
# max_concurrent_risky = 1, each with a plans.d plan whose one step is risky (auto, allowed) and
# runs 1.5 s. Over three rounds both are broken at once: the audit logs' fleet_slot/fleet_release
# lines and the steps' own start/end marks never show two at once. Then etcd is stopped: a risky
# heal waits (fail closed, shown as waiting_fleet_slot), a critical one proceeds (fail open);
# etcd restarted on the same ports and data, the waiting heal gets its slot and runs.
. "$SRC/tests/lib/agent.sh"
command -v etcd >/dev/null || { echo "SKIP: etcd is not installed"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 77; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CPORT=$(free_port); PPORT=$(free_port)
ETCD_DIR="$T/etcd"; mkdir -p "$ETCD_DIR"
ETCD_PID=""; B_PID=""
start_etcd() {
  etcd --name fl --data-dir "$ETCD_DIR/data" \
    --listen-client-urls "http://127.0.0.1:$CPORT" --advertise-client-urls "http://127.0.0.1:$CPORT" \
    --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
    --initial-cluster "fl=http://127.0.0.1:$PPORT" >>"$ETCD_DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  for _ in $(seq 300); do
    curl -s --max-time 1 "http://127.0.0.1:$CPORT/health" | grep -q '"health":"true"' && return 0
    sleep 0.1
  done
  echo "etcd did not start"; tail -n 20 "$ETCD_DIR/etcd.log"; return 1
}
stop_etcd() { [ -z "$ETCD_PID" ] || { kill -KILL "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; ETCD_PID=""; }; }
stop_b() { [ -z "$B_PID" ] || { kill -TERM "$B_PID" 2>/dev/null || true; wait "$B_PID" 2>/dev/null || true; B_PID=""; }; }
trap 'stop_b; cleanup; stop_etcd' EXIT
start_etcd

PDIR=$(plugin_dir "$BUILD/plugins/plans.so")
SHARED="$T/steps.log"; : >"$SHARED"
# agent_conf NAME: $T/NAME/healerd.conf with its plans.d, its state, its own node name
agent_conf() {
  local n=$1 d="$T/$1"
  mkdir -p "$d/plans.d"
  MODE=live MIN_HEALTH=0 write_config "$d/healerd.conf" "$PDIR" "plans = { allow_auto = true; };" "
fleet = { node = \"$n\"; group = \"web\";
  etcd = { endpoints = [\"http://127.0.0.1:$CPORT\"]; max_concurrent_risky = 1; hourly_budget = 0;
           timeout_ms = 300; lease_ttl_s = 10; prefix = \"/healerd-test\"; }; };"
  sed -i "s|state_dir = \"$T/state\"|state_dir = \"$d/state\"|" "$d/healerd.conf"
  mkdir -p "$d/state"
  cat >"$d/plans.d/fix.conf" <<CONF
checks = (
  { name = "svc"; type = "command"; argv = ["/usr/bin/test", "-e", "$d/ok"]; interval_s = 0.2;
    fail_count = 1; severity = "high"; },
  { name = "crit"; type = "command"; argv = ["/usr/bin/test", "-e", "$d/okc"]; interval_s = 0.2;
    fail_count = 1; severity = "critical"; }
);
plans = (
  { name = "fix"; match = { type = "check_failed"; target = "svc"; };
    steps = ( { name = "slow"; risky = true; auto = true; timeout_s = 10; settle_s = 0.2;
      run = ["/bin/sh", "-c", "echo start $n \$(date +%s.%N) >> $SHARED; sleep 1.5; echo end $n \$(date +%s.%N) >> $SHARED; touch $d/ok"]; } ); },
  { name = "fixc"; match = { type = "check_failed"; target = "crit"; };
    steps = ( { name = "touch"; risky = true; auto = true; settle_s = 0.2;
      run = ["/usr/bin/touch", "$d/okc"]; } ); }
);
CONF
  touch "$d/ok" "$d/okc"
}
agent_conf a
agent_conf b
check "--check-config accepts fleet.etcd" "$HEALERD" --check-config -c "$T/a/healerd.conf"

start_agent "$T/a/healerd.conf"
A_URL=$URL
"$HEALERD" -c "$T/b/healerd.conf" 2>"$T/b/agent.log" &
B_PID=$!
wait_for "agent b listens" 10 grep -q "http: listening on" "$T/b/agent.log"

granted() { jq -s "[.[] | select(.plugin == \"fleet\" and .action == \"fleet_slot\" and .result == \"$2\")] | length" "$T/$1/state/audit.jsonl" 2>/dev/null || echo 0; }
healed_n() { jq -s '[.[] | select(.action == "fix_slow" and .result == "healed")] | length' "$T/$1/state/audit.jsonl" 2>/dev/null || echo 0; }
ROUNDS=3
for r in $(seq $ROUNDS); do
  rm -f "$T/a/ok" "$T/b/ok"
  wait_for "round $r: both heals done" 40 bash -c "[ -e $T/a/ok ] && [ -e $T/b/ok ] && [ \$(jq -s '[.[] | select(.action == \"fix_slow\" and .actuator == null)] | length' $T/a/state/audit.jsonl) -ge $r ] && [ \$(jq -s '[.[] | select(.action == \"fix_slow\" and .actuator == null)] | length' $T/b/state/audit.jsonl) -ge $r ]"
done
check "each agent got its slot $ROUNDS times" bash -c "[ $(granted a granted) -ge $ROUNDS ] && [ $(granted b granted) -ge $ROUNDS ]"
check "some heal waited for the other's slot" bash -c "jq -s -e '[.[] | select(.action == \"fleet_wait\")] | length > 0' $T/a/state/audit.jsonl $T/b/state/audit.jsonl >/dev/null"
# From the audit logs: +1 at a grant, -1 at a release, in time order (a release is written
# before its lease is revoked, so a tie puts the release first): never above 1.
MAXC=$(jq -r -s '[.[] | select(.plugin == "fleet" and (.action == "fleet_slot" or .action == "fleet_release"))
        | [.time, (if .action == "fleet_release" then 0 else 1 end)]] | sort | .[] | "\(.[1])"' \
        "$T/a/state/audit.jsonl" "$T/b/state/audit.jsonl" |
       awk 'BEGIN{c=0;m=0} {c += ($1 == 1) ? 1 : -1; if (c > m) m = c} END{print m}')
check "audit: never two slots held at once (max $MAXC)" [ "$MAXC" = 1 ]
MAXS=$(sort -k3 -n "$SHARED" | awk 'BEGIN{c=0;m=0} $1=="start"{c++; if(c>m)m=c} $1=="end"{c--} END{print m}')
check "the steps themselves never overlapped (max $MAXS of $(grep -c ^start "$SHARED") runs)" [ "$MAXS" = 1 ]
check "status shows the fleet limits" bash -c "curl -s $A_URL/api/v1/status | jq -e '.fleet.limits.max_concurrent_risky == 1 and .fleet.limits.etcd_up == true' >/dev/null"
check "metrics: fleet_etcd_up 1 and waits counted" bash -c "M=\$(curl -s $A_URL/metrics; curl -s http://127.0.0.1:\$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' $T/b/agent.log | tail -n1)/metrics); echo \"\$M\" | grep -q '_fleet_etcd_up 1' && echo \"\$M\" | grep -q '_fleet_limit_waits_total{reason=\"full\"}'"
slot_keys() { ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$CPORT" get --prefix /healerd-test/web/slot/ --keys-only | grep -c . || true; }
check "every slot was revoked when its heal ended (no key waits for its 10 s lease)" [ "$(slot_keys)" = 0 ]
# a reload while a heal holds the slot: the old generation's heal ends, its slot is revoked at
# once (the step itself may finish first), and the new generation has a limiter of its own
rm -f "$T/b/ok"
wait_for "b holds the slot" 20 bash -c "[ \$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:$CPORT get --prefix /healerd-test/web/slot/ --print-value-only | grep -c '^b #') = 1 ]"
kill -HUP "$B_PID"
wait_for "b reloaded" 20 grep -q "info agent: reloaded" "$T/b/agent.log"
wait_for "b's service is healed across the reload" 30 test -e "$T/b/ok"
b_status() { curl -s "http://127.0.0.1:$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/b/agent.log" | tail -n1)/api/v1/status"; }
check "b's status after the reload shows the fleet limits" bash -c "$(declare -f b_status); T=$T; b_status | jq -e '.fleet.limits.group == \"/healerd-test/web\" and .fleet.limits.etcd_up != false' >/dev/null"
wait_for "no slot key is left" 5 bash -c "[ \$(ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:$CPORT get --prefix /healerd-test/web/slot/ --keys-only | grep -c .) = 0 ]"
stop_b

# ---- etcd stopped: risky waits, critical proceeds; etcd back: the wait ends ----
stop_etcd
rm -f "$T/a/ok"
URL=$A_URL
waiting() { get /api/v1/issues | jq -e '.issues[] | select(.target == "svc")' >/dev/null &&
            jq -s -e '[.[] | select(.action == "fleet_wait" and (.message | test("unreachable")))] | length > 0' "$T/a/state/audit.jsonl" >/dev/null; }
wait_for "etcd down: the risky heal waits (audited, unreachable)" 20 waiting
HID=$(jq -s -r '[.[] | select(.action == "fleet_wait" and (.message | test("unreachable")))] | last | .heal_id' "$T/a/state/audit.jsonl")
check "the failing command check is reported by its exit status" bash -c "curl -s $A_URL/api/v1/issues | jq -e '[.issues[] | select(.target == \"svc\") | .summary | test(\"/usr/bin/test exited 1\")] | any' >/dev/null"
check "its state is waiting_fleet_slot" bash -c "curl -s $A_URL/api/v1/heals/$HID | jq -e '.state == \"waiting_fleet_slot\"' >/dev/null"
check "metrics: fleet_etcd_up 0" bash -c "curl -s $A_URL/metrics | grep -q '_fleet_etcd_up 0'"
rm -f "$T/a/okc"
wait_for "etcd down: the critical heal proceeds" 20 test -e "$T/a/okc"
check "audited as proceeding without a slot" bash -c "jq -s -e '[.[] | select(.action == \"fleet_slot\" and .result == \"proceed\")] | length == 1' $T/a/state/audit.jsonl >/dev/null"
sleep 2
check "the risky step still has not run" test ! -e "$T/a/ok"
start_etcd
wait_for "etcd back: the waiting heal gets its slot and runs" 30 test -e "$T/a/ok"
check "audited granted for that heal" bash -c "jq -s -e '[.[] | select(.action == \"fleet_slot\" and .result == \"granted\" and .heal_id == $HID)] | length == 1' $T/a/state/audit.jsonl >/dev/null"
check "agent a stops cleanly" stop_agent
finish
