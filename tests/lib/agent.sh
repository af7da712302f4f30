# tests/lib/agent.sh — shared helpers for the integration tests: a private state directory,
# a config written from arguments, starting the real healerd on an ephemeral port, HTTP calls,
# and clean-up of exactly the processes the test started. Source it; needs BUILD and SRC.
set -euo pipefail
: "${BUILD:?BUILD must point at the build tree}"
: "${SRC:?SRC must point at the source tree}"
HEALERD="$BUILD/bin/healerd"
HEALCTL="$BUILD/bin/healctl"
# Not under /tmp: the loader refuses a plugin_dir below a directory anyone may write (a sticky
# /tmp included), and plugin folders live in $T.
. "$SRC/tests/lib/testtmp.sh"
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healerd-test.XXXXXX")
chmod 755 "$T"
AGENT_PID=""
PORT=""
PASS=0
FAIL=0

cleanup() {
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$AGENT_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$AGENT_PID" 2>/dev/null || true
  fi
  # a failed check is easier to read next to what the agent said
  if [ "$FAIL" -gt 0 ] && [ -f "$T/agent.log" ]; then
    echo "--- last lines of the agent's log:" >&2
    tail -n 60 "$T/agent.log" >&2 || true
  fi
  # HEALER_KEEP_TESTTMP=1 keeps a failed test's directory (logs, configs) for a closer look
  if [ "$FAIL" -gt 0 ] && [ -n "${HEALER_KEEP_TESTTMP:-}" ]; then
    echo "--- kept $T" >&2
  else
    rm -rf "$T"
  fi
}
trap cleanup EXIT

ok()   { PASS=$((PASS+1)); echo "ok - $*"; }
bad()  { FAIL=$((FAIL+1)); echo "not ok - $*"; }
check() { # check "description" command...
  local d=$1; shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}
finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}

# A plugin folder the loader accepts: root-owned, not writable by group or others.
plugin_dir() {
  local d="$T/plugins"
  mkdir -p "$d"
  chmod 755 "$d"
  for so in "$@"; do install -m 0755 "$so" "$d/"; done
  echo "$d"
}

# write_config FILE PLUGIN_DIR [extra libconfig text for the plugins section] [extra top-level]
write_config() {
  local f=$1 pdir=$2 plugins=${3:-} extra=${4:-}
  mkdir -p "$T/state"
  cat >"$f" <<CONF
agent = {
  mode = "${MODE:-dry-run}";
  interval = ${INTERVAL:-0.2};
  plugin_dir = "$pdir";
  state_dir = "$T/state";
  log_level = "${LOG_LEVEL:-info}";
  action_timeout = ${ACTION_TIMEOUT:-5.0};
};
limits = {
  max_heals_per_hour = ${MAX_HEALS:-100};
  cooldown_minutes = ${COOLDOWN:-0};
  min_health_for_auto = ${MIN_HEALTH:-30};
  # Fixtures raise the same (type, target) again and again by design, as cooldown 0 above lets
  # them be healed again: the loop rule and relapse marks are off unless a test turns them on.
  loop_heals = ${LOOP_HEALS:-0};
  relapse_window_s = ${RELAPSE_S:-0};
  ${LIMITS_EXTRA:-}
};
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = {
$plugins
};
$extra
CONF
}

# start_agent CONFIG [args...]: runs healerd in the background, waits for its HTTP port.
start_agent() {
  local conf=$1; shift
  "$HEALERD" -c "$conf" "$@" 2>"$T/agent.log" &
  AGENT_PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.*info http: listening on .* (port \([0-9]*\)).*/\1/p' "$T/agent.log" | tail -n1)
    [ -n "$PORT" ] && break
    kill -0 "$AGENT_PID" 2>/dev/null || { cat "$T/agent.log"; return 1; }
    sleep 0.05
  done
  [ -n "$PORT" ] || { echo "agent did not start"; cat "$T/agent.log"; return 1; }
  URL="http://127.0.0.1:$PORT"
}

stop_agent() {
  [ -n "$AGENT_PID" ] || return 0
  kill -TERM "$AGENT_PID"
  local rc=0
  wait "$AGENT_PID" || rc=$?
  AGENT_PID=""
  return $rc
}

get() { curl -s --max-time 5 "$URL$1"; }
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }

# wait_for "description" seconds command...: polls until the command succeeds.
wait_for() {
  local d=$1 secs=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  while [ "$(date +%s)" -le "$end" ]; do
    if "$@" >/dev/null 2>&1; then ok "$d"; return 0; fi
    sleep 0.1
  done
  bad "$d (waited ${secs}s)"
  return 1
}
