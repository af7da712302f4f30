#!/usr/bin/env bash
# SIGHUP is atomic: a new config that --check-config would refuse, or whose HTTP address cannot
# be bound, changes nothing that runs. Three bad reloads (a key not in a plugin's schema, a
# missing plugin_dir, an http.listen held by another listener), each checked for: the same
# plugins still running (none destroyed), the same port answering, a refusal in the log naming
# the reason, and systemd's STATUS saying so. Then a good reload that does apply, new address
# included.
. "$SRC/tests/lib/agent.sh"
FIX="$BUILD/tests/plugins"
PDIR=$(plugin_dir "$BUILD/plugins/dirwatch.so" "$FIX/stall.so" "$FIX/responder.so")
mkdir -p "$T/watched"
GOOD_PLUGINS="
  dirwatch = { directory = \"$T/watched\"; paths_allow = [\"$T/watched\"]; max_bytes = 1000000; };
  stall = { };
  responder = { enabled = false; };"
write_config "$T/h.conf" "$PDIR" "$GOOD_PLUGINS"
cp "$T/h.conf" "$T/good.conf"

# systemd's notify socket, played by a datagram listener this test starts (and stops).
NOTES="$T/notify.txt"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", " ") + "\n")
' "$T/notify.sock" "$NOTES" &
NOTIFY_PID=$!
HOLDER_PID=""
stop_helpers() {
  local p
  for p in "$NOTIFY_PID" "$HOLDER_PID"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
}
trap 'stop_helpers; cleanup' EXIT
for _ in $(seq 50); do [ -S "$T/notify.sock" ] && break; sleep 0.1; done

export NOTIFY_SOCKET="$T/notify.sock"
start_agent "$T/h.conf"
unset NOTIFY_SOCKET
OLD_URL=$URL
plugins_now() { curl -s --max-time 5 "$OLD_URL/api/v1/plugins" | jq -c '[.plugins[] | {name, state}]'; }
wait_for "the agent runs its plugins" 10 grep -q "plugin(s) running" "$T/agent.log"
BEFORE=$(plugins_now)
check "dirwatch and stall loaded, responder disabled" [ "$BEFORE" = \
  '[{"name":"dirwatch","state":"loaded"},{"name":"responder","state":"disabled"},{"name":"stall","state":"loaded"}]' ]

refusals() { grep -c "reload refused: .*still running the previous config" "$T/agent.log" || true; }
destroys() { grep -c "plugin stall: destroy" "$T/agent.log" || true; }
more_refusals() { [ "$(refusals)" -gt "$1" ]; }   # counted again on every poll
# refused_reload "case": sends SIGHUP, waits for one more refusal, then checks nothing changed.
refused_reload() {
  local what=$1 n
  n=$(refusals)
  kill -HUP "$AGENT_PID"
  wait_for "$what: reload refused" 15 more_refusals "$n"
  check "$what: agent still running" kill -0 "$AGENT_PID"
  check "$what: same plugins running" [ "$(plugins_now)" = "$BEFORE" ]
  check "$what: no plugin was stopped" [ "$(destroys)" = 0 ]
  check "$what: still answers on port $PORT" [ "$(status_of "$OLD_URL/healthz")" = 200 ]
  wait_for "$what: STATUS says reload refused" 10 grep -q "STATUS=reload refused" "$NOTES"
  : >"$NOTES"
}

# (a) a key the plugin's schema does not declare
sed "s|max_bytes = 1000000;|max_bytes = 1000000; no_such_key = 3;|" "$T/good.conf" >"$T/h.conf"
refused_reload "bad plugin key"
check "the log names file:line and the key" \
  grep -q "error config: $T/h.conf:[0-9]*: .*no_such_key" "$T/agent.log"
check "the log names the refused plugin" grep -q "reload refused: .*dirwatch.so: refused" "$T/agent.log"

# (a') a value of the wrong type for a declared key
sed "s|max_bytes = 1000000;|max_bytes = \"big\";|" "$T/good.conf" >"$T/h.conf"
refused_reload "wrong type"
check "the log names file:line and the key" \
  grep -q "error config: $T/h.conf:[0-9]*: .*max_bytes" "$T/agent.log"

# (b) plugin_dir pointing at a missing folder
sed "s|plugin_dir = \"$PDIR\"|plugin_dir = \"$T/no-such-dir\"|" "$T/good.conf" >"$T/h.conf"
refused_reload "missing plugin_dir"
check "the log says plugin_dir cannot be read" \
  grep -q "reload refused: $T/h.conf: cannot read plugin_dir $T/no-such-dir" "$T/agent.log"

# (c) http.listen moved to a port another listener holds
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
time.sleep(3600)
' >"$T/holder.port" &
HOLDER_PID=$!
for _ in $(seq 50); do [ -s "$T/holder.port" ] && break; sleep 0.1; done
BUSY=$(cat "$T/holder.port")
sed "s|listen = \"127.0.0.1:0\"|listen = \"127.0.0.1:$BUSY\"|" "$T/good.conf" >"$T/h.conf"
refused_reload "busy http.listen"
check "the log says the address cannot be bound" \
  grep -q "reload refused: cannot listen on 127.0.0.1:$BUSY" "$T/agent.log"
kill "$HOLDER_PID"; wait "$HOLDER_PID" 2>/dev/null || true; HOLDER_PID=""

# A good reload applies: a plugin enabled, a setting changed, a new address bound, the old
# one closed.
NEW=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s|listen = \"127.0.0.1:0\"|listen = \"127.0.0.1:$NEW\"|" \
    -e "s|responder = { enabled = false; };|responder = { };|" \
    -e "s|max_bytes = 1000000;|max_bytes = 2000000;|" "$T/good.conf" >"$T/h.conf"
kill -HUP "$AGENT_PID"
wait_for "a good reload applies" 15 grep -q "info agent: reloaded" "$T/agent.log"
wait_for "STATUS running after it" 10 grep -q "STATUS=running" "$NOTES"
OLD_URL="http://127.0.0.1:$NEW"
check "answers on the new port" [ "$(status_of "$OLD_URL/healthz")" = 200 ]
check "the old port is closed" [ "$(status_of "$URL/healthz")" = 000 ]
check "responder now loaded too" [ "$(plugins_now)" = \
  '[{"name":"dirwatch","state":"loaded"},{"name":"responder","state":"loaded"},{"name":"stall","state":"loaded"}]' ]
check "the old generation was destroyed once" [ "$(destroys)" = 1 ]
check "no refusal for the good one" [ "$(refusals)" = 4 ]
URL=$OLD_URL
check "SIGTERM exits 0" stop_agent
[ "${SHOW_LOG:-}" ] && cat "$T/agent.log"
finish
