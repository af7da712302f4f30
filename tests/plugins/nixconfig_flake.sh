#!/usr/bin/env bash
# nixconfig on a flake host, with the real agent, the real nix-instantiate and real nix-env
# generations. The host is NixOS as far as the agent can tell: it runs in a private mount
# namespace whose /etc is an overlay (on a tmpfs) holding /etc/NIXOS; the real /etc is never
# touched. First the control: neither configuration.nix nor flake.nix -> "configuration file
# missing" (so a NixOS host is seen). Then the fixture flake (tests/fixtures/nixflake: flake.nix
# naming ./hosts/fixture.nix and ./modules/common, which imports ./users.nix) is written: no
# issue, 4 files validated. A syntax error in flake.nix is reported at its line; one in an
# imported module is fixed automatically; a failed activation of the system profile is rolled
# back to the generation before (nix-env --switch-generation + switch-to-configuration).
. "$SRC/tests/lib/agent.sh"
NC="$T/state/plugins/nixconfig"
. "$SRC/tests/plugins/nixconfig_lib.sh"
FLAKE="$SRC/tests/fixtures/nixflake"
command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "skip: a mount namespace with an overlay on /etc needs root"; exit 77; }

# healerd in its own mount namespace with /etc/NIXOS (exec all the way: AGENT_PID is healerd).
mkdir -p "$T/ovl"
cat >"$T/healerd-on-nixos" <<'SH'
#!/bin/bash
exec unshare -m --propagation private bash -c '
  mount -t tmpfs tmpfs "$0" && mkdir "$0/u" "$0/w" &&
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0/u,workdir=$0/w" /etc &&
  : >/etc/NIXOS && exec "$@"' "$OVL" "$REAL_HEALERD" "$@"
SH
chmod 755 "$T/healerd-on-nixos"
export OVL="$T/ovl" REAL_HEALERD="$HEALERD"
HEALERD="$T/healerd-on-nixos"
"$HEALERD" --version >/dev/null 2>&1 || { echo "skip: cannot mount an overlay on /etc in a private namespace here"; exit 77; }
check "the real /etc has no /etc/NIXOS (the namespace's stays its own)" [ ! -e /etc/NIXOS ]

make_gen 1 0
make_gen 2 0
MODE=live write_config "$T/flake.conf" "$PDIR" "$(NIXCONF 'auto_fix = true; auto_rollback = true;')"
start_agent "$T/flake.conf"

# --- control: a NixOS host with no configuration at all ---------------------------------------
missing() { get /api/v1/issues | jq -e --arg f "$ETC/configuration.nix" '.issues[] | select(.type == "nixos_config_invalid" and .target == $f and (.summary | contains("configuration file missing")))'; }
wait_for "control: NixOS host without any configuration: 'configuration file missing'" 20 missing

# --- the flake arrives: no issue, its files validated -----------------------------------------
cp -r "$FLAKE/." "$ETC/"
RETC=$(realpath "$ETC")
closed() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "nixos_config_invalid")'; }
wait_for "flake: no configuration.nix beside flake.nix is no issue" 20 closed
gauge() { get /metrics | sed -n "s/^luminous_nix_$1 //p"; }
four() { [ "$(gauge nixconfig_files_checked)" = 4 ]; }
wait_for "flake: flake.nix, hosts/fixture.nix, modules/common/default.nix, users.nix validated" 10 four
sleep 1
check "flake: still no issue a second later" closed

# --- a syntax error in flake.nix: reported at its line (not fixable: no fix, file untouched) ----
sed -i 's/description = "fixture host";/description = ;/' "$ETC/flake.nix"
cp "$ETC/flake.nix" "$T/flake.broken"
L=$(grep -n 'description = ;' "$ETC/flake.nix" | cut -d: -f1)
flake_bad() { get /api/v1/issues | jq -e --arg f "$RETC/flake.nix" '.issues[] | select(.type == "nixos_config_invalid" and .target == $f)'; }
wait_for "flake.nix broken: nixos_config_invalid on flake.nix" 20 flake_bad
S=$(get /api/v1/issues | jq -r --arg f "$RETC/flake.nix" '.issues[] | select(.target == $f) | .summary')
echo "issue: $S"
check "flake.nix broken: the summary names flake.nix:$L" grep -q "^$RETC/flake.nix:$L:[0-9]*: syntax error" <<<"$S"
sleep 1
check "flake.nix broken: not rewritten" cmp -s "$T/flake.broken" "$ETC/flake.nix"
cp "$FLAKE/flake.nix" "$ETC/flake.nix"
wait_for "flake.nix repaired: the issue is closed" 20 closed

# --- a syntax error in a module the flake imports: fixed automatically -------------------------
sed -i 's/isNormalUser = true;/isNormalUser = true/' "$ETC/modules/common/users.nix"
LU=$(grep -n 'isNormalUser = true$' "$ETC/modules/common/users.nix" | cut -d: -f1)
healed_fix() { get /api/v1/heals | jq -e --arg f "$RETC/modules/common/users.nix" '.heals[] | select(.issue_type == "nixos_config_invalid" and .target == $f and .outcome == "healed")'; }
wait_for "module broken: fixed (heal healed)" 20 healed_fix
HS=$(get /api/v1/heals | jq -r --arg f "$RETC/modules/common/users.nix" '[.heals[] | select(.target == $f)][0].summary')
echo "heal: $HS"
check "module broken: the issue named users.nix:$((LU + 1))" grep -q "^$RETC/modules/common/users.nix:$((LU + 1)):[0-9]*: syntax error" <<<"$HS"
check "module broken: the module is the fixture again (exactly the ';' inserted)" cmp -s "$FLAKE/modules/common/users.nix" "$ETC/modules/common/users.nix"
check "module broken: a backup of the broken module" bash -c "ls '$NC/backups' | grep -q 'modules%2Fcommon%2Fusers.nix\.'"
wait_for "module fixed: the issue is closed" 20 closed

# --- a failed activation on the flake host: rolled back to the generation before ----------------
make_gen 3 1
echo "3 1" >"$STATUS"
healed_rb() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "nixos_activation_failed" and .outcome == "healed" and .actions[0].action == "rollback_generation")'; }
wait_for "rollback: healed" 20 healed_rb
check "rollback: the profile is at generation 2" [ "$(current_gen)" = 2 ]
check "rollback: generation 2's switch-to-configuration ran with 'switch'" grep -qx "gen2 switch" "$SWLOG"
check "rollback: nothing else was switched to" [ "$(wc -l <"$SWLOG")" = 1 ]
check "rollback: no configuration issue came with it" closed
stop_agent
check "the real /etc still has no /etc/NIXOS" [ ! -e /etc/NIXOS ]
finish
