#!/usr/bin/env bash
# nixconfig rollback with the real agent on a real Nix profile: generations are real store paths
# (nix-store --add) set with nix-env -p; each one's bin/switch-to-configuration records that it
# ran. A failed activation (status file "GEN EXIT") is rolled back for real (nix-env
# --switch-generation, then switch-to-configuration switch); with limits.max_rollbacks_per_day = 1
# the second rollback is refused (rollback_limit); after a restart with room left, emergency
# recovery skips the known-bad generation and switches to the newest known-good one.
# The plugin runs in its confined child (the default) with the shipped layout: backups and state
# under state_dir/plugins/nixconfig, the one directory the child may write.
. "$SRC/tests/lib/agent.sh"
NC="$T/state/plugins/nixconfig"
. "$SRC/tests/plugins/nixconfig_lib.sh"
cp "$FIX/valid.nix" "$ETC/configuration.nix"
cp "$FIX/hardware.nix" "$ETC/"

make_gen 1 0
make_gen 2 0
make_gen 3 1
check "three real generations, the profile at 3" [ "$(current_gen)" = 3 -a -L "$T/profiles/system-1-link" ]
check "nix-env lists them" [ "$(nix-env -p "$PROFILE" --list-generations 2>/dev/null | wc -l)" = 3 ]
echo "3 1" >"$STATUS"   # what an activation wrapper writes: generation 3 exited 1

# max_rollbacks_per_day = 1 (write_config's limits section takes it as an extra key).
conf() { # FILE MAX_ROLLBACKS
  MODE=live write_config "$1" "$PDIR" "$(NIXCONF 'auto_rollback = true;')"
  sed -i "s/^limits = {/limits = {\n  max_rollbacks_per_day = $2;/" "$1"
}
conf "$T/live.conf" 1
start_agent "$T/live.conf"
healed() { get /api/v1/heals | jq -e --arg a "$1" '[.heals[] | select(.issue_type == "nixos_activation_failed" and .outcome == "healed" and .actions[0].action == $a)] | length >= '"${2:-1}"; }
wait_for "rollback: healed" 20 healed rollback_generation
get /api/v1/heals | jq -r '.heals[0].actions[0] | "\(.action): \(.message)"'
confined() { get /api/v1/plugins | jq -e '.plugins[] | select(.name == "nixconfig") | .isolation == "process" and (.process.privileges | startswith("no_new_privs"))' >/dev/null; }
check "child: the plugin runs confined in a process (the default)" confined
check "child: it made backup_dir inside its state directory" [ -d "$NC/backups" ]
check "child: its scratch copies live in its state directory (TMPDIR)" bash -c "ls -d '$NC'/healerd-nixconfig.* >/dev/null"
check "rollback: the profile is at generation 2" [ "$(current_gen)" = 2 ]
check "rollback: generation 2's switch-to-configuration ran with 'switch'" grep -qx "gen2 switch" "$SWLOG"
check "rollback: nothing else ran" [ "$(wc -l <"$SWLOG")" = 1 ]
check "rollback: nix-env agrees (2 is current)" grep -q "2 .*(current)" <(nix-env -p "$PROFILE" --list-generations 2>/dev/null)
check "rollback: state records 2 good, 3 bad" bash -c "grep -qx 'good 2' '$NC/generations' && grep -qx 'bad 3' '$NC/generations'"
check "audit: nix-env --switch-generation 2" jq -s -e 'any(.[]; .actuator == "run" and .result == "ok" and (.params.argv | index("--switch-generation")) != null and .params.argv[-1] == "2")' "$A"
check "audit: switch-to-configuration switch" jq -s -e --arg s "$T/profiles/system-2-link/bin/switch-to-configuration" 'any(.[]; .actuator == "run" and .params.argv[0] == $s and .params.argv[1] == "switch")' "$A"
check "status: one rollback used today" [ "$(get /api/v1/status | jq -r .limits.rollbacks_today)" = 1 ]
closed() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "nixos_activation_failed")'; }
wait_for "rollback: the issue is closed" 10 closed

# A new generation fails too: the second rollback today is refused.
make_gen 4 1
echo "4 1" >"$STATUS"
refused() { get /api/v1/issues | jq -e '.issues[] | select(.type == "nixos_activation_failed" and .reason == "rollback_limit")'; }
wait_for "limit: the second rollback is refused (rollback_limit)" 20 refused
get /api/v1/issues | jq -r '.issues[] | "\(.severity) \(.summary)"'
check "limit: emergency (the generation before is known bad): critical" [ "$(get /api/v1/issues | jq -r '.issues[] | select(.type == "nixos_activation_failed") | .severity')" = critical ]
check "limit: metric suppressed{reason=rollback_limit}" grep -q '^luminous_nix_healing_suppressed_total{issue_type="nixos_activation_failed",reason="rollback_limit"} 1' <(get /metrics)
sleep 1
check "limit: the profile stays at 4" [ "$(current_gen)" = 4 ]
check "limit: no switch ran" [ "$(wc -l <"$SWLOG")" = 1 ]
stop_agent

# Restarted with room for rollbacks: emergency recovery picks the newest known-good generation
# (2), not the known-bad previous one (3).
conf "$T/live2.conf" 3
start_agent "$T/live2.conf"
wait_for "emergency: healed" 20 healed emergency_rollback
# The governor restored today's rollbacks from knowledge.db: the one before the restart counts.
check "restart: rollbacks per day survive it (1 before + the emergency one = 2)" [ "$(get /api/v1/status | jq -r .limits.rollbacks_today)" = 2 ]
get /api/v1/heals | jq -r '.heals[0].actions[0] | "\(.action): \(.message)"'
check "emergency: the profile is at generation 2" [ "$(current_gen)" = 2 ]
check "emergency: generation 3 never switched to" bash -c "! grep -q gen3 '$SWLOG'"
check "emergency: generation 2 switched again" [ "$(grep -cx 'gen2 switch' "$SWLOG")" = 2 ]
stop_agent
check "child: its scratch directory is gone after the stop" bash -c "! ls -d '$NC'/healerd-nixconfig.* 2>/dev/null"

# A backup_dir outside the state directory that does not exist: the confined child cannot make
# it; init fails naming the key, the agent runs on.
NC="$T/elsewhere" conf "$T/missing.conf" 3
start_agent "$T/missing.conf"
refused_init() { grep -q "plugins.nixconfig.backup_dir: cannot create $T/elsewhere/backups: .*confined plugin child" "$T/agent.log"; }
wait_for "missing backup_dir: init fails naming the key" 20 refused_init
check "missing backup_dir: the agent answers" [ "$(status_of "$URL/healthz")" = 200 ]
check "missing backup_dir: nothing was created" [ ! -e "$T/elsewhere" ]
stop_agent
finish
