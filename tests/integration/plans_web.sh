#!/usr/bin/env bash
# examples/plans.d/web.conf end to end with a REAL web server: a python3 http.server whose /health
# answers 500 once wedged (SIGUSR1). The plans plugin (a child, the default) raises check_failed
# after fail_count failures, its plan runs the restart script (act_run), the check passes again,
# the heal is recorded healed and audited, the issue resolves. Dry-run: the plan is audited as a
# dry run and the wedged server is left as it is. plans.d is found beside the config file.
. "$SRC/tests/lib/agent.sh"
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || { echo "SKIP: no python3"; exit 77; }
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 77; }
WEB_UID=4242   # a login-range uid: the server is nobody's system process
WEB_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
W="$T/web"; mkdir -p "$W"; chown "$WEB_UID:$WEB_UID" "$W"
install -m 0755 "$SRC/tests/fixtures/plans/web_server.py" "$W/web_server.py"
PIDFILE="$W/web.pid"

start_web() {
  rm -f "$PIDFILE"
  setsid setpriv --reuid "$WEB_UID" --regid "$WEB_UID" --clear-groups \
    "$PY" "$W/web_server.py" "$WEB_PORT" "$PIDFILE" </dev/null >>"$W/server.log" 2>&1 &
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$WEB_PORT/health")" = 200 ] && return 0
    sleep 0.05
  done
  return 1
}
web_pid() { cat "$PIDFILE" 2>/dev/null; }
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$WEB_PORT/health"; }
stop_web() { local p; p=$(web_pid) && kill "$p" 2>/dev/null; true; }
trap 'stop_web; cleanup' EXIT

# The operator's restart script the example names (/usr/local/sbin/restart-web): stop the old
# server, start a new one detached (its output not on act_run's pipe).
cat >"$T/restart-web" <<SH
#!/bin/sh
old=\$(cat "$PIDFILE" 2>/dev/null)
[ -n "\$old" ] && kill "\$old" 2>/dev/null
for i in \$(seq 50); do kill -0 "\$old" 2>/dev/null || break; sleep 0.1; done
rm -f "$PIDFILE"
setsid setpriv --reuid $WEB_UID --regid $WEB_UID --clear-groups \
  "$PY" "$W/web_server.py" $WEB_PORT "$PIDFILE" </dev/null >>"$W/server.log" 2>&1 &
for i in \$(seq 50); do [ -s "$PIDFILE" ] && exit 0; sleep 0.1; done
exit 1
SH
chmod 755 "$T/restart-web"

# The example, pointed at this server and script, checked every second.
mkdir -p "$T/plans.d"
sed -e "s|http://127.0.0.1:8080/health|http://127.0.0.1:$WEB_PORT/health|" \
    -e "s|/usr/local/sbin/restart-web|$T/restart-web|" \
    -e "s|interval_s = 10|interval_s = 0.5|" \
    "$SRC/examples/plans.d/web.conf" >"$T/plans.d/web.conf"
check "the example was adapted" grep -q "$WEB_PORT" "$T/plans.d/web.conf"

PDIR=$(plugin_dir "$BUILD/plugins/plans.so")
check "web server up" start_web
FIRST=$(web_pid)

# ---- dry-run: the plan is planned and audited as a dry run, nothing restarts ----
MODE=dry-run write_config "$T/healerd.conf" "$PDIR" "plans = { };"
check "--check-config accepts the config and plans.d" "$HEALERD" --check-config -c "$T/healerd.conf"
start_agent "$T/healerd.conf"
A="$T/state/audit.jsonl"
check "the plans plugin runs as a child" bash -c "curl -s '$URL/api/v1/plugins' | jq -e \
  '.plugins[] | select(.name == \"plans\" and .isolation == \"process\" and .state == \"loaded\")' >/dev/null"
wait_for "plans.d read beside the config" 10 grep -q "plans.d: 1 file(s) (0 refused, 0 problem(s)), 1 check(s), 1 of 1 plan(s)" "$T/agent.log"
kill -USR1 "$FIRST"
check "the server is wedged" [ "$(health)" = 500 ]
dry_heal() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "check_failed" and .target == "web_health" and .outcome == "dry_run")'; }
wait_for "dry-run: a heal recorded dry_run" 30 dry_heal
check "dry-run: the restart was audited as a dry run" bash -c "jq -s -e '[.[] | select(.action == \"web_restart_restart\" and .actuator == \"run\" and .result == \"dry_run\")] | length > 0' '$A' >/dev/null"
check "dry-run: the server was not restarted" [ "$(web_pid)" = "$FIRST" ]
check "dry-run: still wedged" [ "$(health)" = 500 ]
check "dry-run: check_failed open with the status code" bash -c "curl -s '$URL/api/v1/issues' | jq -e \
  '.issues[] | select(.type == \"check_failed\" and .target == \"web_health\" and .measurements.status_code == 500)' >/dev/null"
check "agent stops cleanly" stop_agent

# ---- live: the restart heals it ----
rm -rf "$T/state"
MODE=live write_config "$T/healerd.conf" "$PDIR" "plans = { };"
start_agent "$T/healerd.conf"
A="$T/state/audit.jsonl"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "check_failed" and .target == "web_health" and .outcome == "healed")'; }
wait_for "live: the heal is recorded healed" 40 healed
check "live: the restart ran (audited ok, exit 0)" bash -c "jq -s -e '[.[] | select(.action == \"web_restart_restart\" and .actuator == \"run\" and .result == \"ok\")] | length > 0' '$A' >/dev/null"
check "live: a new server process" [ "$(web_pid)" != "$FIRST" ]
check "live: /health answers 200 again" [ "$(health)" = 200 ]
check "live: the heal's only action was the first step" [ "$(get /api/v1/heals | jq -r '[.heals[] | select(.outcome == "healed")][0].actions | map(.action) | join(",")')" = web_restart_restart ]
resolved() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "check_failed")'; }
wait_for "live: the issue resolved" 15 resolved
check "agent stops cleanly" stop_agent
check "no sanitizer output in the log" bash -c "! grep -q Sanitizer \"$T/agent.log\""
finish
