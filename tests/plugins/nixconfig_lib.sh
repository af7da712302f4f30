# tests/plugins/nixconfig_lib.sh — helpers for the nixconfig integration tests: a temporary
# /etc/nixos-like tree from the fixtures, and real Nix profiles whose generations are real store
# paths (nix-store --add) set with nix-env -p, each with a bin/switch-to-configuration that
# records that it ran. Cleans up its GC roots and store paths. Source after tests/lib/agent.sh.
command -v nix-instantiate >/dev/null && command -v nix-env >/dev/null && command -v nix-store >/dev/null ||
  { echo "skip: Debian's nix-bin is not installed"; exit 77; }
[ -d /nix/store ] || { echo "skip: no /nix/store"; exit 77; }
PDIR=$(plugin_dir "$BUILD/plugins/nixconfig.so")
FIX="$SRC/tests/fixtures/nix"
ETC="$T/etc/nixos"
PROFILE="$T/profiles/system"
SWLOG="$T/switch.log"
STATUS="$T/activation-status"
STORE_PATHS=()
mkdir -p "$ETC" "$T/profiles"
: >"$SWLOG"

nix_cleanup() {
  # nix-env registered PROFILE-N-link as indirect GC roots: drop ours, then our store paths.
  for l in /nix/var/nix/gcroots/auto/*; do
    case "$(readlink "$l" 2>/dev/null)" in "$T"/*) rm -f "$l" ;; esac
  done
  rm -f "$T"/profiles/system*
  if [ ${#STORE_PATHS[@]} -gt 0 ]; then
    nix-store --delete "${STORE_PATHS[@]}" >/dev/null 2>&1 || true
  fi
}
trap 'stop_agent 2>/dev/null || true; nix_cleanup; cleanup' EXIT

# make_gen N EXIT: a generation whose switch-to-configuration appends "genN switch" to SWLOG and
# exits EXIT; added to the store and set as the profile's next generation.
make_gen() {
  add_gen "$@"
  nix-env -p "$PROFILE" --set "$GEN_PATH" 2>/dev/null
}
# add_gen N EXIT: the same generation added to the store only (GEN_PATH), not set.
add_gen() {
  local n=$1 rc=$2
  local d="$T/gen-src/gen$n"
  mkdir -p "$d/bin"
  cat >"$d/bin/switch-to-configuration" <<SH
#!/bin/sh
# test generation $n of $T
echo "gen$n \$*" >>"$SWLOG"
exit $rc
SH
  chmod 755 "$d/bin/switch-to-configuration"
  local p
  p=$(nix-store --add "$d" 2>/dev/null)
  STORE_PATHS+=("$p")
  GEN_PATH=$p
}
current_gen() { readlink "$PROFILE" | sed -n 's/.*system-\([0-9]*\)-link$/\1/p'; }

# NIXCONF [extra keys]: the plugin's section with every path in the temporary tree. Backups and
# state go to NC: by default a directory of the test's own that exists before the agent starts
# (a confined child cannot create it); NC="$T/state/plugins/nixconfig" is the shipped layout.
NC=${NC:-$T/nc}
NIXCONF() {
  echo "nixconfig = { config_file = \"$ETC/configuration.nix\"; backup_dir = \"$NC/backups\";
    state_file = \"$NC/generations\"; profile = \"$PROFILE\"; status_file = \"$STATUS\"; ${NC_ISOLATION:-} $1 };"
}
export MIN_HEALTH=0
A="$T/state/audit.jsonl"
echo "s3cret-token" >"$T/token"
chmod 600 "$T/token"
