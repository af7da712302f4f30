#!/usr/bin/env bash
# Outside strings on the real agent: a watched directory whose name carries ESC, BEL, a C1 CSI
# and a byte that is not UTF-8 reaches --once output, the agent's log and healctl (human and
# --json) escaped, never raw; a plugin folder whose name is not UTF-8 still lists its plugin
# in /api/v1/plugins (the file name escaped) instead of dropping it.
. "$SRC/tests/lib/agent.sh"

# Every byte a terminal acts on: C0 but newline, DEL, and the UTF-8 forms of C1 (C2 80..9F).
raw_controls() { # file: 0 when it holds none
  ! LC_ALL=C grep -q -P '[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$1"
}

ODD=$'w\e]0;pwned\a\xc2\x9b31m\xff'
mkdir -p "$T/$ODD"
head -c 4096 /dev/zero >"$T/$ODD/big"

# A plugin folder named with a byte that is not UTF-8 (root-owned, 0755 as the loader wants).
PDIR="$T/pl"$'\xfe'
mkdir -p "$PDIR"
chmod 755 "$PDIR"
install -m 0755 "$BUILD/plugins/dirwatch.so" "$PDIR/"
GOOD="dirwatch = { directory = \"$T/$ODD\"; paths_allow = [\"$T/$ODD\"]; max_bytes = 10; };"
write_config "$T/a.conf" "$PDIR" "$GOOD"

set +e
"$HEALERD" -c "$T/a.conf" --once >"$T/once.out" 2>"$T/once.err"
set -e
check "--once reports the issue on the odd directory" grep -q 'dirwatch' "$T/once.out"
# (the bus itself turns the byte that is not UTF-8 into U+FFFD on the way to the engine)
check "--once output carries the name escaped" grep -qF 'w\x1b]0;pwned\x07\u009b31m' "$T/once.out"
check "--once output has no raw control byte" raw_controls "$T/once.out"
check "--once's log has no raw control byte" raw_controls "$T/once.err"

start_agent "$T/a.conf"
wait_for "the issue is open" 10 sh -c "curl -s '$URL/api/v1/issues' | jq -e '.issues | length > 0'"
check "the agent's log has no raw control byte" raw_controls "$T/agent.log"
get /api/v1/plugins >"$T/plugins.json"
check "/api/v1/plugins is JSON" jq -e . "$T/plugins.json"
check "the plugin from the non-UTF-8 folder is listed, loaded" \
  [ "$(jq -r '.plugins[] | select(.name == "dirwatch") | .state' "$T/plugins.json")" = loaded ]
check "its file name shows the odd byte escaped" \
  jq -e '.plugins[] | select(.name == "dirwatch") | .file | endswith("pl\\xfe/dirwatch.so")' "$T/plugins.json"
"$HEALCTL" --url "$URL" --json issues >"$T/ctl.json" 2>&1 || true
check "healctl --json output is valid JSON" jq -e . "$T/ctl.json"
check "healctl --json has no raw control byte" raw_controls "$T/ctl.json"
check "healctl --json keeps the name readable" grep -qF 'pwned' "$T/ctl.json"
"$HEALCTL" --url "$URL" issues >"$T/ctl.txt" 2>&1 || true
check "healctl issues (table) has no raw control byte" raw_controls "$T/ctl.txt"
stop_agent
finish
