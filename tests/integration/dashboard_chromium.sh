#!/usr/bin/env bash
# The dashboard in a real browser (issue #13 item 6): Debian's headless Chromium, driven over
# the DevTools protocol by dashboard_cdp.py, against a live agent whose ticker fixture makes a
# plan wait for confirmation every few seconds (its heal writes one file into the test's
# folder) and whose dirwatch example reports a health component. Screenshots at 1400 and 400 px
# stay in build/testtmp/dashboard-shots; the checks are in the driver's header.
. "$SRC/tests/lib/agent.sh"
CHROMIUM=$(command -v chromium || true)
PY=/usr/bin/python3   # Debian's, where python3-websocket lives
if [ -z "$CHROMIUM" ] || ! "$PY" -c 'import websocket' 2>/dev/null; then
  echo "skip: needs Debian's chromium and python3-websocket (scripts/install-deps.sh installs them)"
  exit 77
fi
PDIR=$(plugin_dir "$BUILD/tests/plugins/ticker.so" "$BUILD/plugins/dirwatch.so")
TICKS="$T/ticks"; W="$T/watched"
mkdir -p "$TICKS" "$W"
head -c 300000 /dev/zero >"$W/some.log"
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
MODE=live INTERVAL=3.0 write_config "$T/a.conf" "$PDIR" \
  "ticker = { dir = \"$TICKS\"; paths_allow = [\"$TICKS\"]; fresh = true; risky = true; };
   dirwatch = { directory = \"$W\"; paths_allow = [\"$W\"]; max_bytes = 1000000; };"
start_agent "$T/a.conf"
two_pending() { [ "$(get /api/v1/pending | jq '.pending | length')" -ge 2 ]; }
wait_for "two plans wait for confirmation" 30 two_pending
check "GET /api/v1/history answers 1440 minutes" \
  [ "$(get /api/v1/history | jq '.health | length')" = 1440 ]
check "minutes=0 is refused (400)" [ "$(status_of "$URL/api/v1/history?minutes=0")" = 400 ]

SHOTS="$TESTTMP/dashboard-shots"
rm -rf "$SHOTS"; mkdir -p "$SHOTS"
if "$PY" "$SRC/tests/integration/dashboard_cdp.py" "$CHROMIUM" "$URL" "s3cret-token" "$SHOTS" \
    "$AGENT_PID"; then
  ok "the dashboard in Chromium (screenshots in $SHOTS)"
else
  bad "the dashboard in Chromium (screenshots in $SHOTS)"
fi
check "the confirmed heal wrote its file" bash -c "ls '$TICKS'/heal-* >/dev/null"
# the driver stopped the agent (SIGTERM): it must have exited cleanly
rc=0; wait "$AGENT_PID" || rc=$?
AGENT_PID=""
check "the agent exited 0 after SIGTERM" [ "$rc" = 0 ]
finish
