#!/usr/bin/env bash
# One plugin asks another over the bus (host->request -> handle_request) through the real engine;
# with the other plugin absent the result says so instead of hanging.
. "$SRC/tests/lib/agent.sh"
FX="$BUILD/tests/plugins"
PDIR=$(plugin_dir "$FX/requester.so" "$FX/responder.so")
MODE=live write_config "$T/a.conf" "$PDIR"
"$HEALERD" -c "$T/a.conf" --once >"$T/once.out" 2>"$T/once.log" || { cat "$T/once.log"; exit 1; }
cat "$T/once.out"
check "the request was answered: healed" grep -q "^heal #.* ask_issue on ask: healed" "$T/once.out"
check "the reply travelled back" grep -q "requester/ask_other on ask: healed: asked responder: pong x=42 (ok)" "$T/once.out"

PDIR2="$T/p2"; mkdir -p "$PDIR2"; chmod 755 "$PDIR2"; install -m 0755 "$FX/requester.so" "$PDIR2/"
MODE=live write_config "$T/b.conf" "$PDIR2"
"$HEALERD" -c "$T/b.conf" --once >"$T/once2.out" 2>"$T/once2.log" || { cat "$T/once2.log"; exit 1; }
cat "$T/once2.out"
check "absent plugin: the heal fails" grep -q "^heal #.* ask_issue on ask: failed" "$T/once2.out"
check "absent plugin: the result says so" grep -q 'no plugin "responder" is loaded (not found)' "$T/once2.out"

# The same with both plugins in children: the request goes to its destination through two proxies
# and the reply comes back to the requester's child.
for iso in "requester process, responder thread:process:thread" "both in children:process:process" \
           "requester thread, responder process:thread:process"; do
  IFS=: read -r what ra rb <<<"$iso"
  MODE=live write_config "$T/c.conf" "$PDIR" "requester = { isolation = \"$ra\"; };
  responder = { isolation = \"$rb\"; };"
  "$HEALERD" -c "$T/c.conf" --once >"$T/once3.out" 2>"$T/once3.log" || { cat "$T/once3.log"; exit 1; }
  check "$what: the reply travelled back" \
    grep -q "requester/ask_other on ask: healed: asked responder: pong x=42 (ok)" "$T/once3.out"
done
finish
