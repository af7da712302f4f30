#!/usr/bin/env bash
# Memory stays bounded whatever a plugin publishes: beyond agent.max_open_issues new issues are
# dropped, logged and counted, and the agent goes on healing the ones it holds.
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/bench/plugins/noop.so")
write_config "$T/a.conf" "$PDIR" "noop = { burst = 120; };"
sed -i 's/^  action_timeout = .*/&\n  max_open_issues = 50;/' "$T/a.conf"
"$HEALERD" -c "$T/a.conf" --once >"$T/once.out" 2>"$T/once.log" || { cat "$T/once.log"; exit 1; }
tail -n 1 "$T/once.out"
check "exactly 50 issues held" grep -q "^summary: 1 plugin(s) loaded, 0 refused, 50 issue(s), 50 heal(s)" "$T/once.out"
check "the drops are logged with the limit" grep -q "new issue(s) dropped: 50 issues are open already (last from noop: noop_issue)" "$T/once.log"
finish
