#!/usr/bin/env bash
# The real agent against hostile HTTP clients: a foreign Host (DNS rebinding) gets 421, a token
# followed by a NUL and junk is refused, a plan id with junk is a 400, /healthz answers while 2000
# idle and 200 slowloris connections are held open, and --check-config refuses a listen address
# off the host unless http.allow_remote and a token are both set.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir)
echo "t0ken-$$" >"$T/token"
chmod 600 "$T/token"
TOKEN=$(cat "$T/token")
write_config "$T/a.conf" "$PDIR"
start_agent "$T/a.conf"

check "loopback Host is served" test "$(status_of "$URL/healthz")" = 200
check "Host localhost:PORT is served" test "$(status_of -H "Host: localhost:$PORT" "$URL/api/v1/status")" = 200
check "Host evil.example gets 421" test "$(status_of -H "Host: evil.example" "$URL/api/v1/status")" = 421
check "Host 1.2.3.4 gets 421" test "$(status_of -H "Host: 1.2.3.4:$PORT" "$URL/api/v1/issues")" = 421

# raw PATH_OR_BYTES: sends a request (Python bytes literal) and prints the status code.
raw() {
  python3 - "$PORT" "$1" <<'PY'
import socket, sys, ast
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(ast.literal_eval(sys.argv[2]))
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.") else "none")
PY
}
paused() { get /api/v1/status | python3 -c 'import json,sys; print(json.load(sys.stdin)["paused"])'; }

nul="b'POST /api/v1/pause HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer $TOKEN\\x00junk\\r\\nConnection: close\\r\\n\\r\\n'"
check "a token followed by NUL and junk is refused (400)" test "$(raw "$nul")" = 400
check "... and the agent is not paused" test "$(paused)" = False
zeros=$(printf '0%.0s' $(seq 47))
check "/api/v1/pending/<47 zeros>2junk/confirm is a 400" \
  test "$(status_of -X POST -H "Authorization: Bearer $TOKEN" "$URL/api/v1/pending/${zeros}2junk/confirm")" = 400
sp="b'POST /api/v1/pending/%20 1/confirm HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Bearer $TOKEN\\r\\nConnection: close\\r\\n\\r\\n'"
check "/api/v1/pending/%20 1/confirm is a 400" test "$(raw "$sp")" = 400
check "the right token still pauses" \
  test "$(status_of -X POST -H "Authorization: Bearer $TOKEN" "$URL/api/v1/pause")" = 200
check "... and the agent is paused" test "$(paused)" = True

# 2000 idle connections and 200 that send one header byte a second, from 127.0.0.1 (where a
# local user would open them) and nine other loopback addresses; the flood runs in a child we
# start and stop ourselves, at most 60 s.
python3 - "$PORT" "$T/flood.ready" <<'PY' &
import resource, socket, sys, time
port, ready = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
def conn(src):
    s = socket.socket()
    s.setblocking(True)
    s.settimeout(5)
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    return s
idle, slow = [], []
for i in range(2000):
    c = conn("127.0.0.1" if i % 2 == 0 else "127.0.0.%d" % (2 + i % 9))
    if c: idle.append(c)
for i in range(200):
    c = conn("127.0.0.1" if i % 2 == 0 else "127.0.0.%d" % (2 + i % 9))
    if c:
        try:
            c.send(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(c)
        except OSError:
            c.close()
print("flood: %d idle, %d slow connected (fd limit %d)" % (len(idle), len(slow), min(hard, 4096)), flush=True)
open(ready, "w").close()
end = time.time() + 60
while time.time() < end:
    for c in slow:
        try: c.send(b"a")
        except OSError: pass
    time.sleep(1)
PY
FLOOD=$!
wait_for "the flood is in place" 60 test -e "$T/flood.ready"
for i in 1 2 3; do
  check "/healthz answers during the flood ($i)" test "$(status_of "$URL/healthz")" = 200
  sleep 1
done
check "the API answers during the flood" test "$(status_of "$URL/api/v1/status")" = 200
kill "$FLOOD" 2>/dev/null || true
wait "$FLOOD" 2>/dev/null || true
stop_agent
check "the agent says how many connections it shut down" \
  grep -q "connections shut down: [1-9][0-9]* to make room" "$T/agent.log"

# Off the host: refused by --check-config (exit 2, FILE:LINE naming the keys) unless both.
write_config "$T/r.conf" "$PDIR"
sed -i 's|^http = .*|http = {\n  listen = "0.0.0.0:0";\n  token_file = "";\n};|' "$T/r.conf"
line=$(grep -n 'listen = "0.0.0.0:0"' "$T/r.conf" | cut -d: -f1)
rc=0; "$HEALERD" -c "$T/r.conf" --check-config >"$T/cc.out" 2>&1 || rc=$?
check "--check-config exits 2 for 0.0.0.0 without a token" test "$rc" = 2
check "... naming FILE:LINE and http.allow_remote" grep -q "r.conf:$line: .*http.listen.*http.allow_remote" "$T/cc.out"
sed -i "s|token_file = \"\";|token_file = \"$T/token\";|" "$T/r.conf"
rc=0; "$HEALERD" -c "$T/r.conf" --check-config >"$T/cc.out" 2>&1 || rc=$?
check "--check-config exits 2 with a token but no allow_remote" test "$rc" = 2
sed -i 's|listen = "0.0.0.0:0";|listen = "0.0.0.0:0";\n  allow_remote = true;|' "$T/r.conf"
rc=0; "$HEALERD" -c "$T/r.conf" --check-config >"$T/cc.out" 2>&1 || rc=$?
check "--check-config accepts allow_remote and a token" test "$rc" = 0
[ "$rc" = 0 ] || cat "$T/cc.out"
finish
