#!/usr/bin/env bash
# The activation wrapper as shipped (scripts/healerd-nixos-switch) on a real Nix profile: real
# store paths set with nix-env, a fake nixos-rebuild (build only: a result link, or a failure)
# and generations whose switch-to-configuration exits each documented code (0 1 2 3 4 100).
# The wrapper must exit with that code and record "GEN CODE"; a failed build must leave the
# profile and the status file untouched, and the real agent (auto_rollback) must then not roll
# the working generation back; a generation that fails (4) is rolled back; 100 (reboot needed)
# is not a failure.
. "$SRC/tests/lib/agent.sh"
NC="$T/state/plugins/nixconfig"
. "$SRC/tests/plugins/nixconfig_lib.sh"
W="$SRC/scripts/healerd-nixos-switch"
cp "$FIX/valid.nix" "$ETC/configuration.nix"
cp "$FIX/hardware.nix" "$ETC/"
# The fake build: `nixos-rebuild build` makes ./result -> the path in $T/next-build, or fails.
cat >"$T/nixos-rebuild" <<SH
#!/bin/sh
[ "\$1" = build ] || exit 2
next=\$(cat "$T/next-build")
[ "\$next" = fail ] && { echo "error: builder for '/nix/store/x-system.drv' failed" >&2; exit 1; }
ln -s "\$next" result
SH
chmod 755 "$T/nixos-rebuild"
switch() { "$W" --profile "$PROFILE" --status-file "$STATUS" --nixos-rebuild "$T/nixos-rebuild" "$@" 2>>"$T/wrapper.log"; }

add_gen 1 0; echo "$GEN_PATH" >"$T/next-build"
rc=0; switch || rc=$?
check "exit 0: the wrapper exits 0" [ "$rc" = 0 ]
check "exit 0: profile at 1, status '1 0'" [ "$(current_gen)" = 1 -a "$(cat "$STATUS")" = "1 0" ]
check "exit 0: generation 1 switched" grep -qx "gen1 switch" "$SWLOG"
n=2
for code in 1 2 3 4 100; do
  add_gen $n $code; echo "$GEN_PATH" >"$T/next-build"
  rc=0; switch || rc=$?
  check "exit $code: the wrapper exits $code" [ "$rc" = "$code" ]
  check "exit $code: profile at $n, status '$n $code'" [ "$(current_gen)" = $n -a "$(cat "$STATUS")" = "$n $code" ]
  n=$((n + 1))
done
rc=0; "$W" --profile "$PROFILE" --status-file "$STATUS" test 2>/dev/null || rc=$?
check "usage: 'test' refused (64), nothing recorded" [ "$rc" = 64 -a "$(cat "$STATUS")" = "6 100" ]
# --toplevel: an already-built generation that works (7), the one the agent will see.
add_gen 7 0
rc=0; "$W" --profile "$PROFILE" --status-file "$STATUS" --toplevel "$GEN_PATH" 2>>"$T/wrapper.log" || rc=$?
check "toplevel: exit 0, status '7 0'" [ $rc = 0 -a "$(cat "$STATUS")" = "7 0" -a "$(current_gen)" = 7 ]

MODE=live write_config "$T/live.conf" "$PDIR" "$(NIXCONF 'auto_rollback = true;')"
sed -i "s/^limits = {/limits = {\n  max_rollbacks_per_day = 3;/" "$T/live.conf"
start_agent "$T/live.conf"
# A build failure: profile, status and the running generation untouched.
echo fail >"$T/next-build"
rc=0; switch || rc=$?
check "build failure: the wrapper exits 10" [ "$rc" = 10 ]
check "build failure: profile still at 7, status still '7 0'" [ "$(current_gen)" = 7 -a "$(cat "$STATUS")" = "7 0" ]
# The agent has run full detect cycles since (a config issue raised and resolved after the
# failed build): no activation issue, no rollback.
cp "$FIX/not-fixable.nix" "$ETC/configuration.nix"
cfg_issue() { get /api/v1/issues | jq -e '.issues[] | select(.type == "nixos_config_invalid")' >/dev/null; }
wait_for "build failure: the agent ran (a config issue seen)" 20 cfg_issue
cp "$FIX/valid.nix" "$ETC/configuration.nix"
no_cfg_issue() { ! cfg_issue; }
wait_for "build failure: ... and resolved" 20 no_cfg_issue
act_issue() { get /api/v1/issues | jq -e '.issues[] | select(.type == "nixos_activation_failed")' >/dev/null; }
check "build failure: no activation issue" eval '! act_issue'
check "build failure: no rollback heal" [ "$(get /api/v1/heals | jq '[.heals[] | select(.issue_type == "nixos_activation_failed")] | length')" = 0 ]
check "build failure: generation 7 still current, no switch since" [ "$(current_gen)" = 7 -a "$(tail -1 "$SWLOG")" = "gen7 switch" ]
# Generation 8 fails to start units (4): rolled back to the working 7.
add_gen 8 4; echo "$GEN_PATH" >"$T/next-build"
rc=0; switch || rc=$?
check "exit 4 live: the wrapper exits 4" [ "$rc" = 4 ]
healed() { get /api/v1/heals | jq -e '[.heals[] | select(.issue_type == "nixos_activation_failed" and .outcome == "healed")] | length >= 1' >/dev/null; }
wait_for "exit 4 live: rolled back" 20 healed
check "exit 4 live: the profile is at 7 again" [ "$(current_gen)" = 7 ]
check "exit 4 live: generation 7 switched again" [ "$(grep -cx 'gen7 switch' "$SWLOG")" = 2 ]
stop_agent
cat "$T/wrapper.log"
finish
