#!/usr/bin/env bash
# nixconfig undo (issue #15 part 3) with the real agent on a real Nix profile: a failed
# activation of generation 3 is rolled back to 2; the change log records generation 3 as the one
# in use before the heal. `healctl undo HEAL_ID --dry-run` changes nothing; `healctl undo` switches
# the profile back to 3 (nix-env --switch-generation, then generation 3's switch-to-configuration
# switch), audited as the operator's, and counted as a rollback (limits.max_rollbacks_per_day);
# with the day's rollbacks used up it is refused; a generation deleted since is said to be gone.
. "$SRC/tests/lib/agent.sh"
NC="$T/state/plugins/nixconfig"
. "$SRC/tests/plugins/nixconfig_lib.sh"
cp "$FIX/valid.nix" "$ETC/configuration.nix"
cp "$FIX/hardware.nix" "$ETC/"
ctl() { "$HEALCTL" --url "$URL" --token-file "$T/token" "$@"; }

make_gen 1 0
make_gen 2 0
make_gen 3 0   # its switch-to-configuration works; the wrapper recorded a failed activation
echo "3 1" >"$STATUS"
MODE=live LIMITS_EXTRA="max_rollbacks_per_day = 3;" write_config "$T/live.conf" "$PDIR" "$(NIXCONF 'auto_rollback = true;')"
start_agent "$T/live.conf"
heal_of() { # ACTION N: the id of the Nth heal of ACTION that healed
  get /api/v1/heals | jq -r --arg a "$1" '[.heals[] | select(.issue_type == "nixos_activation_failed" and .outcome == "healed" and .actions[0].action == $a)] | reverse | .['"$(( $2 - 1 ))"'].id // empty'
}
has_heal() { [ -n "$(heal_of "$@")" ]; }
wait_for "rollback: healed" 20 has_heal rollback_generation 1
H1=$(heal_of rollback_generation 1)
check "rollback: heal $H1 switched the profile 3 -> 2" [ -n "$H1" -a "$(current_gen)" = 2 ]
check "change log: the switch records generation 3 as the one before" jq -s -e --argjson h "${H1:-0}" 'any(.[]; .heal_id == $h and .kind == "switch_generation" and .generation_before == 3 and .generation_after == 2 and .undoable == true)' <(cut -d' ' -f2- "$T/state/changes.jsonl")
check "rollback: one rollback today" [ "$(get /api/v1/status | jq -r .limits.rollbacks_today)" = 1 ]

# The plugin reads its status file: generation 3 back with "3 1" recorded would be healed again.
# The operator holds the issue while taking the heal back (what the README tells them to do).
ctl hold "$PROFILE" --type nixos_activation_failed --for 0 --even-critical >/dev/null
held() { get /api/v1/holds | jq -e '.holds | length == 1' >/dev/null; }
check "hold: in force" held

ctl undo "$H1" --dry-run >"$T/dry.out"
cat "$T/dry.out"
check "--dry-run: would switch back to 3 and activate it" grep -q "^would .*switch_generation.*would switch $PROFILE from generation 2 back to 3 and run .*system-3-link/bin/switch-to-configuration switch" "$T/dry.out"
check "--dry-run: the activation goes with the switch" grep -q "^nothing .*activate" "$T/dry.out"
check "--dry-run: the profile stays at 2" [ "$(current_gen)" = 2 ]
check "--dry-run: no switch-to-configuration ran" [ "$(grep -c . "$SWLOG")" = 1 ]
check "--dry-run: no rollback counted" [ "$(get /api/v1/status | jq -r .limits.rollbacks_today)" = 1 ]

ctl undo "$H1" >"$T/undo.out"
rc=$?
cat "$T/undo.out"
check "undo exits 0" [ "$rc" = 0 ]
check "undo: the profile is back at generation 3" [ "$(current_gen)" = 3 ]
check "undo: nix-env agrees (3 is current)" grep -q "3 .*(current)" <(nix-env -p "$PROFILE" --list-generations 2>/dev/null)
check "undo: generation 3's switch-to-configuration ran with 'switch'" [ "$(tail -n1 "$SWLOG")" = "gen3 switch" ]
check "undo: it says so" grep -q "^undone .*switch_generation.*switched from generation 2 back to 3; switch-to-configuration switch exited 0" "$T/undo.out"
check "audit: nix-env --switch-generation 3 by the operator for heal $H1" jq -s -e --argjson h "$H1" 'any(.[]; .plugin == "operator" and .action == "undo" and .heal_id == $h and .actuator == "run" and .result == "ok" and .params.argv[-1] == "3" and .params.generation_before == 2 and .params.generation_after == 3)' "$A"
check "audit: the activation by the operator" jq -s -e --argjson h "$H1" --arg s "$T/profiles/system-3-link/bin/switch-to-configuration" 'any(.[]; .plugin == "operator" and .heal_id == $h and .actuator == "run" and .params.argv[0] == $s and .result == "ok")' "$A"
check "governor: the switch back counts as a rollback (2 today)" [ "$(get /api/v1/status | jq -r .limits.rollbacks_today)" = 2 ]
ctl undo "$H1" >"$T/again.out"
check "a second undo finds it undone" grep -q "^already .*switch_generation" "$T/again.out"

# Released: the status file still says generation 3 failed: rolled back to 2 again, the third
# rollback of the day.
ctl unhold "$PROFILE" --type nixos_activation_failed >/dev/null
wait_for "again: healed" 20 has_heal rollback_generation 2
H2=$(heal_of rollback_generation 2)
check "again: heal $H2 switched 3 -> 2" [ -n "$H2" -a "$(current_gen)" = 2 ]
check "governor: 3 rollbacks today" [ "$(get /api/v1/status | jq -r .limits.rollbacks_today)" = 3 ]
rc=0; ctl undo "$H2" >"$T/limit.out" || rc=$?
cat "$T/limit.out"
check "limit: the undo is refused (exit 1)" [ "$rc" = 1 ]
check "limit: it names the limit" grep -q "^NOT .*switch_generation.*refused: .*is a rollback: limits.max_rollbacks_per_day is used up (3 today)" "$T/limit.out"
check "limit: the profile stays at 2" [ "$(current_gen)" = 2 ]

# Generation 3 deleted (as nix-collect-garbage -d would): nothing to switch back to.
nix-env -p "$PROFILE" --delete-generations 3 >/dev/null 2>&1
check "generation 3 deleted" [ ! -e "$T/profiles/system-3-link" ]
rc=0; ctl undo "$H2" --force >"$T/gone.out" || rc=$?
cat "$T/gone.out"
# like a process that ended: not a failure of the undo (healctl exits 1 for refused or failed)
check "gone: nothing better could be done (exit 0)" [ "$rc" = 0 ]
check "gone: it says the generation is gone" grep -q "^NOT .*switch_generation $PROFILE: gone: generation 3 of $PROFILE is gone (.*system-3-link no longer exists" "$T/gone.out"
check "gone: the profile stays at 2" [ "$(current_gen)" = 2 ]
check "gone: nothing more ran" [ "$(grep -c 'gen3 switch' "$SWLOG")" = 1 ]
stop_agent
finish
