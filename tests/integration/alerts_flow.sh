#!/usr/bin/env bash
# Alerts in (issue #16 part 1) with a REAL prometheus and a REAL prometheus-alertmanager on
# loopback: a tiny exporter (python3 http.server serving a metrics file the test rewrites) whose
# demo_load crosses a rule; Prometheus fires HighLoad, Alertmanager posts it to healerd's
# POST /api/v1/alerts with the token of fleet.alerts.token_file (credentials_file); the alert
# becomes a load_high issue on the exporter's instance, a plans.d plan matching that type runs
# (touches a file, audited), the issue stays while the alert fires (not closed by the "quiet for
# three intervals" rule), and when the metric drops Alertmanager sends "resolved" and the issue
# closes. Also: the route's token, bad payloads (400), an oversized body (413). Skips (77) only
# without the binaries.
. "$SRC/tests/lib/agent.sh"
PROM_BIN=$(command -v prometheus || true)
AM_BIN=$(command -v prometheus-alertmanager || command -v alertmanager || true)
[ -n "$PROM_BIN" ] || { echo "skip: prometheus is not installed (Debian: prometheus)"; exit 77; }
[ -n "$AM_BIN" ] || { echo "skip: prometheus-alertmanager is not installed"; exit 77; }
command -v jq >/dev/null || { echo "skip: no jq"; exit 77; }

PIDS=()
stop_helpers() { # only the processes this test started, by pid
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap 'stop_helpers; cleanup' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- the agent: live, the plans plugin, fleet.alerts with its own token ---
echo "api-token-for-people" >"$T/token"; chmod 600 "$T/token"
echo "alerts-only-token" >"$T/alerts.token"; chmod 600 "$T/alerts.token"
RAN="$T/ran"
mkdir -p "$T/plans.d"
cat >"$T/plans.d/load.conf" <<CONF
plans = (
  { name = "load_fix";
    match = { type = "load_high"; when = ["value > 5"]; };
    steps = ( { name = "touch"; run = ["/usr/bin/touch", "$RAN"]; timeout_s = 5; settle_s = 0.2; } );
    verify_command = ["/bin/true"];
  }
);
CONF
PDIR=$(plugin_dir "$BUILD/plugins/plans.so")
MODE=live write_config "$T/healerd.conf" "$PDIR" "plans = { };" "fleet = {
  alerts = {
    token_file = \"$T/alerts.token\";
    stale_seconds = 600;
    map = ( { alertname = \"HighLoad\"; type = \"load_high\"; target_label = \"instance\";
              measurements = [\"value\"]; } );
  };
};"
check "--check-config accepts fleet.alerts and plans.d" "$HEALERD" --check-config -c "$T/healerd.conf"
start_agent "$T/healerd.conf"
ALERTS="$URL/api/v1/alerts"
check "alerts_received_total declared at 0 for each outcome" bash -c "curl -s '$URL/metrics' | grep -c '^luminous_nix_alerts_received_total{outcome=\"[a-z]*\"} 0\$' | grep -qx 6"
post() { curl -s -o "$T/out.json" -w '%{http_code}' --max-time 5 -X POST "$@"; }
answer() { jq -e "$1" "$T/out.json" >/dev/null; }   # the last answer's JSON holds

# --- the route itself ---
check "no token: 401" [ "$(post "$ALERTS" -d '{}')" = 401 ]
check "the alerts token: accepted for the route" \
  [ "$(post -H 'Authorization: Bearer alerts-only-token' "$ALERTS" -d '{"version":"4","alerts":[]}')" = 200 ]
check "the alerts token: not for other POSTs" \
  [ "$(post -H 'Authorization: Bearer alerts-only-token' "$URL/api/v1/pause")" = 401 ]
check "the API token: accepted too" \
  [ "$(post -H 'Authorization: Bearer api-token-for-people' "$ALERTS" -d '{"version":"4","alerts":[]}')" = 200 ]
check "summary shape" answer '.accepted == 0 and .ignored == 0 and .resolved == 0' 
check "bad JSON: 400" [ "$(post -H 'Authorization: Bearer alerts-only-token' "$ALERTS" -d '{"version":')" = 400 ]
check "bad JSON: the message says where" answer '.error | test("not JSON: line 1")' 
check "version 3: 400" [ "$(post -H 'Authorization: Bearer alerts-only-token' "$ALERTS" -d '{"version":"3","alerts":[]}')" = 400 ]
check "version 3: the message names it" answer '.error | test("version \"3\" is not supported")' 
head -c $((5 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/big.json"
head -c $((3 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$T/mid.json"
check "a 3 MiB body without the token: 401 before it is read" [ "$(post "$ALERTS" --data-binary @"$T/mid.json")" = 401 ]
check "a wrong token: 401" [ "$(post -H 'Authorization: Bearer alerts-only-tokenX' "$ALERTS" -d '{}')" = 401 ]
check "a 5 MiB body: 413" [ "$(post -H 'Authorization: Bearer alerts-only-token' "$ALERTS" --data-binary @"$T/big.json")" = 413 ]
check "unmapped alerts are counted, not errors" [ "$(post -H 'Authorization: Bearer alerts-only-token' "$ALERTS" \
  -d '{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"Other","instance":"x"},"fingerprint":"00aa"}]}')" = 200 ]
check "unmapped: ignored 1" answer '.ignored == 1 and .accepted == 0' 
printf '{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"Other","instance":"x"},"fingerprint":"00ab"}]}' >"$T/chunked.json"
check "a chunked body is read whole" [ "$(post -H 'Authorization: Bearer alerts-only-token' -H 'Transfer-Encoding: chunked' \
  "$ALERTS" --data-binary @"$T/chunked.json")" = 200 ]
check "chunked: ignored 1" answer '.ignored == 1' 

# --- the exporter: a metrics file served by python3 ---
EXP=$(free_port)
mkdir -p "$T/exp"
echo "demo_load 1" >"$T/exp/metrics"
python3 -m http.server "$EXP" --bind 127.0.0.1 --directory "$T/exp" >"$T/exp.log" 2>&1 &
PIDS+=($!)
set_load() { echo "demo_load $1" >"$T/exp/metrics.tmp" && mv "$T/exp/metrics.tmp" "$T/exp/metrics"; }

# --- Alertmanager: webhook to healerd with the alerts token file ---
AMP=$(free_port)
mkdir -p "$T/am"
cat >"$T/am/am.yml" <<YML
global:
  resolve_timeout: 5s
route:
  receiver: healerd
  group_by: ["alertname", "instance"]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: healerd
    webhook_configs:
      - url: "$ALERTS"
        send_resolved: true
        http_config:
          authorization:
            credentials_file: "$T/alerts.token"
YML
"$AM_BIN" --config.file="$T/am/am.yml" --storage.path="$T/am/data" \
  --web.listen-address="127.0.0.1:$AMP" --cluster.listen-address= >"$T/am/log" 2>&1 &
PIDS+=($!)

# --- Prometheus: scrapes the exporter every second, evaluates the rule every second ---
PP=$(free_port)
mkdir -p "$T/prom"
cat >"$T/prom/rules.yml" <<'YML'
groups:
  - name: demo
    interval: 1s
    rules:
      - alert: HighLoad
        expr: demo_load > 5
        for: 0s
        labels: { severity: high }
        annotations:
          summary: "load is {{ $value }}"
          value: "{{ $value }}"
YML
cat >"$T/prom/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ["$T/prom/rules.yml"]
alerting:
  alertmanagers:
    - static_configs: [ { targets: ["127.0.0.1:$AMP"] } ]
scrape_configs:
  - job_name: demo
    static_configs: [ { targets: ["127.0.0.1:$EXP"] } ]
YML
"$PROM_BIN" --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
  --web.listen-address="127.0.0.1:$PP" >"$T/prom/log" 2>&1 &
PIDS+=($!)
wait_for "alertmanager ready" 20 curl -sf "http://127.0.0.1:$AMP/-/ready"
wait_for "prometheus ready" 30 curl -sf "http://127.0.0.1:$PP/-/ready"
up() { curl -s "http://127.0.0.1:$PP/api/v1/query?query=demo_load" | jq -e '.data.result[0].value[1] == "1"'; }
wait_for "prometheus scrapes the exporter" 20 up

# --- the alert fires: an issue, the plan runs ---
set_load 10
INST="127.0.0.1:$EXP"
issue() { get /api/v1/issues | jq -e --arg t "$INST" '.issues[] | select(.type == "load_high" and .target == $t)' >/dev/null; }
wait_for "HighLoad became a load_high issue on $INST" 40 issue
check "its measurement came from the annotation" bash -c "curl -s '$URL/api/v1/issues' | jq -e --arg t '$INST' \
  '.issues[] | select(.type == \"load_high\" and .target == \$t) | .measurements.value == 10' >/dev/null"
wait_for "the plans.d plan ran (the file was touched)" 20 test -e "$RAN"
A="$T/state/audit.jsonl"
audited() { jq -s -e '[.[] | select(.action == "load_fix_touch" and .actuator == "run" and .result == "ok")] | length > 0' "$A"; }
wait_for "the step was audited" 10 audited
healed() { get /api/v1/heals | jq -e --arg t "$INST" '.heals[] | select(.issue_type == "load_high" and .target == $t and .outcome == "healed")'; }
wait_for "the heal is recorded healed" 10 healed
check "alerts counted as accepted" bash -c "curl -s '$URL/metrics' | grep -Eq '^luminous_nix_alerts_received_total\{outcome=\"accepted\"\} [1-9]'"
# far more than three agent intervals (0.2 s) without a re-send: the alert still fires, the
# issue stays
sleep 3
check "the issue stays while the alert fires" issue

# --- the metric drops: Alertmanager sends resolved, the issue closes ---
set_load 1
gone() { ! issue; }
wait_for "resolved: the issue closed" 40 gone
check "alerts counted as resolved" bash -c "curl -s '$URL/metrics' | grep -Eq '^luminous_nix_alerts_received_total\{outcome=\"resolved\"\} [1-9]'"
check "alertmanager's posts were all taken (no 4xx/5xx in its log)" bash -c "! grep -Eq 'unexpected status code (4|5)' '$T/am/log'"

# --- a reload without fleet.alerts: the route is gone (404), the agent goes on ---
MODE=live write_config "$T/healerd.conf" "$PDIR" "plans = { };"
kill -HUP "$AGENT_PID"
wait_for "reloaded" 20 grep -q "info agent: reloaded" "$T/agent.log"
check "without fleet.alerts: 404" [ "$(post -H 'Authorization: Bearer api-token-for-people' "$ALERTS" -d '{"version":"4","alerts":[]}')" = 404 ]
check "404 says why" answer '.error | test("fleet.alerts is not configured")'
check "agent stops cleanly" stop_agent
check "no sanitizer output in the log" bash -c "! grep -q Sanitizer \"$T/agent.log\""
finish
