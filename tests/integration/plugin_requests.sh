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
# A request that outlasts the child's heartbeat (agent.action_timeout + 5 s): the requester's
# child waits on it, answering the agent's pings meanwhile, and is never killed as hung. The step
# itself has timed out long before (action_timeout 1 s); the late answer is discarded.
MODE=live ACTION_TIMEOUT=1.0 write_config "$T/d.conf" "$PDIR" "requester = { isolation = \"process\";
    args = [\"x=7\", \"delay_s=8\"]; };
  responder = { isolation = \"thread\"; };"
start_agent "$T/d.conf"
late() { grep -q "late result of step .* from requester discarded: .*pong x=7" "$T/agent.log"; }
wait_for "the slow answer came back to the waiting child (its result late)" 30 late
check "the requester's child was not killed while it waited" bash -c "! grep -q 'stopped answering' '$T/agent.log'"
check "no crash counted" bash -c "curl -s $URL/api/v1/plugins | jq -e '.plugins[] | select(.name == \"requester\") | .process.crashes == 0 and .process.run_state == \"running\"' >/dev/null"
check "SIGTERM exits 0" stop_agent
finish
