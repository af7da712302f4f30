#!/usr/bin/env bash
# nixconfig in dry-run with the real agent: a broken configuration (fix automatic) and a failed
# activation (rollback automatic) on a real profile. Nothing changes — the configuration is
# byte-identical, the profile link unchanged, no switch-to-configuration ran, no backup was
# made — and the audit log lists what would have been done.
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/nixconfig_lib.sh"
cp "$FIX/missing-semicolon.nix" "$ETC/configuration.nix"
make_gen 1 0
make_gen 2 1
echo "2 1" >"$STATUS"
LINK_BEFORE=$(readlink "$PROFILE")
mkdir -p "$NC/backups"   # as installed; a dry run creates nothing, not even its directories
snapshot() { (cd "$T" && find etc profiles nc -printf '%p %s %T@ %l\n' | sort); }
snapshot >"$T/before.txt"

MODE=dry-run write_config "$T/dry.conf" "$PDIR" "$(NIXCONF 'auto_fix = true; auto_rollback = true;')"
start_agent "$T/dry.conf"
dry() { get /api/v1/heals | jq -e --arg t "$1" '.heals[] | select(.issue_type == $t and .outcome == "dry_run")'; }
wait_for "dry-run: the fix ran as a dry run" 20 dry nixos_config_invalid
wait_for "dry-run: the rollback ran as a dry run" 20 dry nixos_activation_failed
get /api/v1/heals | jq -r '.heals[] | .actions[0] | "\(.action): \(.outcome): \(.message)"'
sleep 0.5
stop_agent
check "dry-run: the configuration is byte-identical" cmp -s "$FIX/missing-semicolon.nix" "$ETC/configuration.nix"
check "dry-run: the profile link is unchanged" [ "$(readlink "$PROFILE")" = "$LINK_BEFORE" ]
check "dry-run: no switch-to-configuration ran" [ ! -s "$SWLOG" ]
snapshot >"$T/after.txt"
check "dry-run: nothing in the tree changed (no backup, no state file)" cmp -s "$T/before.txt" "$T/after.txt"
would() { jq -s -e "any(.[]; .result == \"dry_run\" and $1)" "$A"; }
CB=$(printf '%s' "${ETC#/}/configuration.nix" | sed 's/%/%25/g; s|/|%2F|g')
check "audit: would back the configuration up (named after its full path)" would ".actuator == \"write_file\" and (.target | startswith(\"$NC/backups/$CB.\"))"
check "audit: would write the fixed configuration" would ".actuator == \"write_file\" and .target == \"$ETC/configuration.nix\" and (.params.value | contains(\"\\\"fixture\\\";\"))"
check "audit: would run nix-env --switch-generation 1" would ".actuator == \"run\" and .params.argv[1:] == [\"-p\", \"$PROFILE\", \"--switch-generation\", \"1\"]"
check "audit: would run generation 1's switch-to-configuration switch" would ".actuator == \"run\" and .params.argv == [\"$T/profiles/system-1-link/bin/switch-to-configuration\", \"switch\"]"
check "audit: nothing was done for real" jq -s -e 'all(.[]; .result != "ok")' "$A"
finish
