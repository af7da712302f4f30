#!/usr/bin/env bash
# The shipped alerting assets against the real thing: a real Prometheus (Debian's `prometheus`)
# on 127.0.0.1 with a temporary storage directory and a 1 s scrape interval scrapes a real
# healerd started here (dirwatch live, one confirmed heal, disk in dry-run), loads
# etc/prometheus/healerd-rules.yml, and every panel query of etc/grafana/healerd-dashboard.json
# (with $job as healerd) is run through GET /api/v1/query and must return data.
# Skips (77) when prometheus is missing or cannot start.
. "$SRC/tests/lib/agent.sh"
PROM_PID=""
stop_prom() {
  if [ -n "$PROM_PID" ] && kill -0 "$PROM_PID" 2>/dev/null; then
    kill -TERM "$PROM_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PROM_PID" 2>/dev/null || true
  fi
}
trap 'stop_prom; cleanup' EXIT
command -v prometheus >/dev/null || { echo "SKIP: prometheus not installed (Debian: apt-get install prometheus)"; exit 77; }
DASH="$SRC/etc/grafana/healerd-dashboard.json"
RULES="$SRC/etc/prometheus/healerd-rules.yml"

# --- a real agent with something to show: a plan confirmed and healed, disk gauges ---
PDIR=$(plugin_dir "$BUILD/plugins/dirwatch.so" "$BUILD/plugins/disk.so")
W="$T/watched"
mkdir -p "$W"
head -c 1000000 /dev/zero >"$W/a.log"; head -c 1000000 /dev/zero >"$W/b.log"
echo "dash-token" >"$T/token"; chmod 600 "$T/token"
MODE=live write_config "$T/a.conf" "$PDIR" \
  "dirwatch = { directory = \"$W\"; paths_allow = [\"$W\"]; max_bytes = 1000000; max_age_days = 0.0; };
   disk = { mode = \"dry-run\"; };"
start_agent "$T/a.conf"
pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
wait_for "a plan waits for confirmation" 15 pending_id
ID=$(pending_id)

# --- Prometheus on a free loopback port ---
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$T/prom"
cp "$RULES" "$T/prom/rules.yml"
cat >"$T/prom/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: healerd
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
YML
prometheus --config.file="$T/prom/prometheus.yml" --storage.tsdb.path="$T/prom/data" \
  --web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$T/prom/log" 2>&1 &
PROM_PID=$!
PURL="http://127.0.0.1:$PPORT"
ready=0
for _ in $(seq 100); do
  curl -sf --max-time 2 "$PURL/-/ready" >/dev/null 2>&1 && { ready=1; break; }
  kill -0 "$PROM_PID" 2>/dev/null || break
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "SKIP: prometheus could not start:"; tail -n 20 "$T/prom/log"
  exit 77
fi
ok "prometheus ready on $PURL"

query() { curl -s --max-time 5 --data-urlencode "query=$1" "$PURL/api/v1/query"; }
scraped() { [ "$(query 'up{job="healerd"}' | jq -r '.data.result[0].value[1]')" = 1 ]; }
wait_for "prometheus scrapes the agent" 20 scraped
check "the pending plan is seen" [ "$(query 'luminous_nix_pending_plans' | jq -r '.data.result[0].value[1]')" -ge 1 ]

check "confirm the plan: 200" [ "$(status_of -X POST -H 'Authorization: Bearer dash-token' "$URL/api/v1/pending/$ID/confirm")" = 200 ]
healed_seen() { [ "$(query 'luminous_nix_heals_total{outcome="healed"}' | jq -r '.data.result[0].value[1]')" -ge 1 ]; }
wait_for "the healed heal reaches prometheus" 20 healed_seen
sleep 3   # a few more scrapes after the heal, so rate() and increase() have two samples

check "prometheus loaded the shipped rules" \
  [ "$(curl -s "$PURL/api/v1/rules" | jq '[.data.groups[].rules[] | select(.type == "alerting")] | length')" = 7 ]
check "rules evaluate without error" \
  [ "$(curl -s "$PURL/api/v1/rules" | jq '[.data.groups[].rules[] | select(.health != "ok")] | length')" = 0 ]

# --- every panel query of the dashboard returns data ---
n=0
while IFS=$'\t' read -r title expr; do
  n=$((n+1))
  q=${expr//\$job/healerd}
  r=$(query "$q")
  if [ "$(jq -r '.status' <<<"$r")" = success ] && [ "$(jq '.data.result | length' <<<"$r")" -gt 0 ]; then
    ok "panel \"$title\": $(jq '.data.result | length' <<<"$r") series"
  else
    bad "panel \"$title\": no data for $q: $r"
  fi
done < <(jq -r '.panels[] | .title as $t | .targets[] | [$t, .expr] | @tsv' "$DASH")
check "the dashboard has panel queries ($n)" [ "$n" -ge 15 ]
check "every panel uses the data source variable" \
  [ "$(jq '[.panels[] | select(.datasource.uid != "${DS_PROMETHEUS}")] | length' "$DASH")" = 0 ]

# --- the alert that the waiting plan meant: ConfirmationWaiting needs 5 min, so only the
# expression's parts are checked here; the rules' timing is promtool's test (prometheus/rules) ---
check "no rule fires on a healthy agent: HealerdDown silent" \
  [ "$(curl -s "$PURL/api/v1/alerts" | jq '[.data.alerts[] | select(.labels.alertname == "HealerdDown")] | length')" = 0 ]

# a query that must not return data fails here, so the check above can fail
check "the harness sees an empty result as empty" \
  [ "$(query 'luminous_nix_no_such_metric' | jq '.data.result | length')" = 0 ]
finish
