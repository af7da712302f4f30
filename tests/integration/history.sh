#!/usr/bin/env bash
# agent.history_days: heals that finished longer ago are removed from knowledge.db at start
# (and hourly), while what was learned (the per issue type and action statistics) stays.
. "$SRC/tests/lib/agent.sh"
FX="$BUILD/tests/plugins"
PDIR=$(plugin_dir "$FX/requester.so" "$FX/responder.so")
MODE=live write_config "$T/a.conf" "$PDIR"
DB="$T/state/knowledge.db"
for i in 1 2 3; do
  "$HEALERD" -c "$T/a.conf" --once >/dev/null 2>"$T/once$i.log" || { cat "$T/once$i.log"; exit 1; }
done
check "three heals recorded" [ "$(sqlite3 "$DB" 'select count(*) from heals')" = 3 ]
check "three attempts learned" [ "$(sqlite3 "$DB" "select attempts from stats where action = 'ask_other'")" = 3 ]
# Two of them finished 100 days ago.
sqlite3 "$DB" "update heals set finished_at = finished_at - 100*86400 where id in (select id from heals order by id limit 2)"
sed -i 's/^  action_timeout = .*/&\n  history_days = 30.0;/' "$T/a.conf"
"$HEALERD" -c "$T/a.conf" --once >/dev/null 2>"$T/once4.log" || { cat "$T/once4.log"; exit 1; }
check "the prune is logged" grep -q "info agent: knowledge: removed 2 heal(s) older than 30 days" "$T/once4.log"
check "two old heals gone, the recent two kept" [ "$(sqlite3 "$DB" 'select count(*) from heals')" = 2 ]
check "their actions went with them" [ "$(sqlite3 "$DB" 'select count(*) from heal_actions where heal_id not in (select id from heals)')" = 0 ]
check "what was learned stays (4 attempts)" [ "$(sqlite3 "$DB" "select attempts from stats where action = 'ask_other'")" = 4 ]
finish
