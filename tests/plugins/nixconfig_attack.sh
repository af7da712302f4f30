#!/usr/bin/env bash
# The nixconfig attacks of issue #11 against the real agent (plugin in its confined child) and
# the real nix-instantiate, all automatic (auto_fix = true): an unclosed { before an
# ''indented string'' with lines at column 0 (fixed only by appending the closer, the string
# byte-identical); a NUL in a comment plus a missing ';' (reported, the file and the backups
# untouched); a FIFO among the imports (reported, the plugin keeps detecting, /api/v1/plugins
# truthful); a 0600 file of uid 1000 (its backup 0600 and uid 1000, named after its full path).
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/nixconfig_lib.sh"
parses() { nix-instantiate --parse "$1" >/dev/null 2>&1; }

cat >"$ETC/configuration.nix" <<'NIX'
{ ... }:
{
  imports = [ ./motd.nix ./nul.nix ./pipe.nix ./secret.nix ];
}
NIX
cp "$FIX/indented-unclosed.nix" "$ETC/motd.nix"
printf '{\n  # a\0b\n  a = 1\n  b = 2;\n}\n' >"$ETC/nul.nix"
cp "$ETC/nul.nix" "$T/orig-nul.nix"
mkfifo "$ETC/pipe.nix"
printf '{\n  users.users.root.hashedPassword = "s3cret"\n  x = 1;\n}\n' >"$ETC/secret.nix"
chmod 600 "$ETC/secret.nix"
chown 1000:1000 "$ETC/secret.nix"
cp -p "$ETC/secret.nix" "$T/orig-secret.nix"
mkdir -p "$NC/backups"
ACTION_TIMEOUT=30 MODE=live write_config "$T/attack.conf" "$PDIR" "$(NIXCONF 'auto_fix = true; eval = false;')"
start_agent "$T/attack.conf"

# Fixed: the file parses and no issue is open for it (on a loaded machine the engine may have
# given up waiting for the result, recording the heal as timed out, while the fix was made).
healed_for() { parses "$1" && ! get /api/v1/issues | jq -e --arg t "$1" '.issues[] | select(.target == $t)'; }
issue_for() { get /api/v1/issues | jq -e --arg t "$1" --arg s "$2" '.issues[] | select(.target == $t and (.summary | contains($s)))'; }

# --- the indented string -----------------------------------------------------------------------
wait_for "motd: fixed automatically" 30 healed_for "$ETC/motd.nix"
check "motd: parses" parses "$ETC/motd.nix"
check "motd: the original plus a closing brace, nothing inside the string" diff <(cat "$FIX/indented-unclosed.nix"; echo "}") "$ETC/motd.nix"

# --- 0600 of uid 1000 --------------------------------------------------------------------------
wait_for "secret: fixed automatically" 30 healed_for "$ETC/secret.nix"
check "secret: parses" parses "$ETC/secret.nix"
check "secret: still 0600, uid 1000" [ "$(stat -c '%a %u %g' "$ETC/secret.nix")" = "600 1000 1000" ]
SB=$(printf '%s' "${ETC#/}/secret.nix" | sed 's/%/%25/g; s|/|%2F|g')
BK=$(ls "$NC/backups" | grep -F "$SB." | head -n1)
echo "backup: $BK ($(stat -c '%a %u:%g' "$NC/backups/$BK" 2>/dev/null))"
check "secret: the backup is named after the full path" [ -n "$BK" ]
check "secret: the backup holds the original" cmp -s "$T/orig-secret.nix" "$NC/backups/$BK"
check "secret: the backup is 0600, uid 1000, gid 1000" [ "$(stat -c '%a %u %g' "$NC/backups/$BK")" = "600 1000 1000" ]
check "audit: the owner given through the agent" jq -s -e --arg b "$NC/backups/$BK" 'any(.[]; .actuator == "run" and (.params.argv // [] | index($b) != null))' "$A"

# --- NUL ---------------------------------------------------------------------------------------
wait_for "nul: reported with the reason" 30 issue_for "$ETC/nul.nix" "no fix: a NUL byte at 2:6"
check "nul: the file is byte-identical" cmp -s "$T/orig-nul.nix" "$ETC/nul.nix"
NB=$(printf '%s' "${ETC#/}/nul.nix" | sed 's/%/%25/g; s|/|%2F|g')
check "nul: no backup of it" [ -z "$(ls "$NC/backups" | grep -F "$NB")" ]
check "nul: no write of it in the audit" jq -s -e --arg p "$ETC/nul.nix" 'all(.[]; (.target // "") != $p or .actuator != "write_file")' "$A"

# --- FIFO --------------------------------------------------------------------------------------
wait_for "fifo: reported as a FIFO" 30 issue_for "$ETC/pipe.nix" "is a FIFO, not a regular file"
check "fifo: /api/v1/plugins says loaded" [ "$(get /api/v1/plugins | jq -r '.plugins[] | select(.name == "nixconfig") | .state')" = loaded ]
# Still detecting: a new error in another import is found while the FIFO stays there.
printf '{\n  b = ;\n}\n' >"$ETC/motd.nix"
wait_for "fifo: the plugin keeps detecting (a new error elsewhere is found)" 30 issue_for "$ETC/motd.nix" ":2:7: syntax error"
check "fifo: still a FIFO, never opened for writing" [ -p "$ETC/pipe.nix" ]
stop_agent
finish
