#!/usr/bin/env bash
# The disk plugin's Nix steps with the real agent and Debian's real nix-bin: a Nix store kept
# inside a 16 MiB tmpfs (a chroot store, NIX_REMOTE=local?root=..., so no daemon and no /nix on
# the host), NIX_STATE_DIR on the tmpfs too, a system profile with seven generations and a user
# profile with three, all 60 days old, and a dead store path. Issue 11: nix_gc ran
# nix-collect-garbage --delete-older-than 30d, which deleted system generations that
# keep_generations promised to keep, and a user's. Now: dry-run changes nothing and never names
# nix-collect-garbage; the pending plan names generations 1 2 and says user profiles are
# untouched; live deletes exactly the system generations beyond keep_generations (5), then
# nix-store --gc; the user's generations and their paths stay.
if [ -z "${DISK_TEST_IN_NS:-}" ]; then
  for c in unshare nix-store nix-env; do
    command -v $c >/dev/null || { echo "skip: no $c"; exit 77; }
  done
  unshare --mount --propagation private true 2>/dev/null || { echo "skip: cannot unshare"; exit 77; }
  exec env DISK_TEST_IN_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/disk_lib.sh"
PDIR=$(plugin_dir "$BUILD/plugins/disk.so")
M="$T/mnt"
trap 'stop_agent 2>/dev/null || true; disk_release "$M"; cleanup' EXIT
mkdir -p "$M" "$T/elsewhere"
mount -t tmpfs -o size=16m tmpfs "$M"
# gc-reserved-space = 0: otherwise nix keeps an 8 MiB nix/var/nix/db/reserved file that any GC
# deletes first, which would heal this small filesystem by itself. NIX_STATE_DIR: where
# nix-collect-garbage would look for every profile (the old behaviour this test attacks).
export NIX_REMOTE="local?root=$M/nixroot" NIX_STATE_DIR="$M/nixstate" NIX_CONFIG="build-users-group =
gc-reserved-space = 0"
STORE="$M/nixroot/nix/store"           # where the store's files really are
PROFILES="$NIX_STATE_DIR/profiles"
PROF="$PROFILES/system"
UPROF="$PROFILES/per-user/alice/profile"
mkdir -p "$PROFILES/per-user/alice"

add() { # add NAME KiB -> prints the store path
  head -c $(( $2 * 1024 )) /dev/urandom >"$T/$1"
  nix-store --add "$T/$1"
  rm -f "$T/$1"
}
for g in 1 2 3 4 5 6 7; do
  p=$(add "gen$g" 1024)
  eval "GEN$g=$p"
  nix-env -p "$PROF" --set "$p" 2>/dev/null
done
for g in 1 2 3; do
  p=$(add "alice$g" 256)
  eval "ALICE$g=$p"
  nix-env -p "$UPROF" --set "$p" 2>/dev/null
done
# 60 days old (nix dates a generation by its link): --delete-older-than 30d would take all but
# the current ones
touch -h -d '60 days ago' "$PROFILES"/system-*-link "$PROFILES"/per-user/alice/profile-*-link
DEAD=$(add dead 256)
gens() { nix-env -p "$1" --list-generations 2>/dev/null | awk '{print $1}' | tr '\n' ' '; }
check "seven system generations made" [ "$(gens "$PROF")" = "1 2 3 4 5 6 7 " ]
check "three user generations made" [ "$(gens "$UPROF")" = "1 2 3 " ]
check "the store is on the tmpfs" [ -e "$STORE/$(basename "$DEAD")" ]
used_kib() { df --output=used -k "$M" | tail -n1 | tr -dc 0-9; }
head -c $(( (16384 * 965 / 1000 - $(used_kib)) * 1024 )) /dev/zero >"$M/filler"
used_pct() { df --output=pcent "$M" | tail -n1 | tr -dc 0-9; }
check "filled to critical (>= 95 %)" [ "$(used_pct)" -ge 95 ]

DISKCONF="disk = { mounts = [\"$M\"]; nix_store = \"$STORE\"; nix_profile = \"$PROF\";
  user_profiles_dir = \"$PROFILES/per-user\"; keep_generations = 5;
  log_dirs = [\"$T/elsewhere\"]; tmp_dirs = [\"$T/elsewhere\"];
  journal_dirs = [\"$T/elsewhere\"]; auto_nix_gc = true; auto_generations = true;
  auto_emergency = true; };"
SCOPE='scope = { uids = [65534]; };'
MIN_HEALTH=0; export MIN_HEALTH
# nix-store --gc takes seconds on a busy shared machine: the step needs more than the 5 s the
# other tests give (the README says to raise agent.action_timeout where a GC is slow)
ACTION_TIMEOUT=60; export ACTION_TIMEOUT
A="$T/state/audit.jsonl"

# --- dry-run --------------------------------------------------------------------------------
# The store's contents, the profiles' links and the filler (nix's own lock and temp-root files may
# be touched by the read-only previews: they are bookkeeping, not content).
snap() { ls "$STORE"; ls -l "$PROFILES" "$PROFILES/per-user/alice" | awk '{print $9, $10, $11}'; ls -l "$M/filler"; gens "$PROF"; gens "$UPROF"; }
snap >"$T/before.txt"
write_config "$T/dry.conf" "$PDIR" "$DISKCONF" "$SCOPE"
"$HEALERD" -c "$T/dry.conf" --once --dry-run >"$T/once.out" 2>"$T/once.log" || true
cat "$T/once.out"
snap >"$T/after.txt"
check "dry-run: store, profiles and generations unchanged" cmp -s "$T/before.txt" "$T/after.txt"
would_run() { jq -r 'select(.actuator == "run" and .result == "dry_run") | .params.argv | join(" ")' "$A"; }
would_run >"$T/would.txt"
cat "$T/would.txt"
check "dry-run audit: the system generations beyond 5 would go" grep -qx "nix-env -p $PROF --delete-generations +5" "$T/would.txt"
check "dry-run audit: then a plain GC" grep -qx "nix-store --gc" "$T/would.txt"
check "dry-run audit: never nix-collect-garbage" bash -c "! grep -q nix-collect-garbage '$T/would.txt'"
check "dry-run audit: never the user's profile" bash -c "! grep -q alice '$T/would.txt'"
mv "$A" "$T/audit-dry.jsonl"

# --- live, confirmation needed: the pending plan says what would go; rejected -------------
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
MODE=live write_config "$T/confirm.conf" "$PDIR" "${DISKCONF//= true/= false}" "$SCOPE"
start_agent "$T/confirm.conf"
pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
wait_for "confirm: the plan waits" 30 pending_id
desc() { get /api/v1/pending | jq -r --arg a "$1" '.pending[0].actions[] | select(.action == $a) | .description'; }
desc nix_gc; desc delete_generations
check "confirm: nix_gc counts the dead store path" grep -q "1 dead store path now" <<<"$(desc nix_gc)"
check "confirm: nix_gc names generations 1 2" grep -q "(2 generations: 1 2)" <<<"$(desc nix_gc)"
check "confirm: nix_gc says user profiles are untouched" grep -q "user profiles untouched" <<<"$(desc nix_gc)"
check "confirm: delete_generations names generations 1 2" grep -q "(2 generations: 1 2)" <<<"$(desc delete_generations)"
check "confirm: reject with the token" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$(pending_id)/reject")" = 200 ]
stop_agent
snap >"$T/after2.txt"
check "confirm: store and generations unchanged after the reject" cmp -s "$T/before.txt" "$T/after2.txt"
rm -rf "$T/state"

# --- live -----------------------------------------------------------------------------------
MODE=live write_config "$T/live.conf" "$PDIR" "$DISKCONF" "$SCOPE"
start_agent "$T/live.conf"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "disk_space_low" and .outcome == "healed")'; }
wait_for "live: healed" 60 healed
get /api/v1/heals | jq -c '.heals[0] | {outcome, actions: [.actions[] | {action, outcome, message}]}'
check "live: nix_gc alone healed it" [ "$(get /api/v1/heals | jq -r '.heals[0].actions | map(.action) | join(",")')" = "nix_gc" ]
check "live: the dead path was collected" [ ! -e "$STORE/$(basename "$DEAD")" ]
check "live: keep_generations holds: 3-7 kept, 1-2 deleted" [ "$(gens "$PROF")" = "3 4 5 6 7 " ]
check "live: the user's generations untouched" [ "$(gens "$UPROF")" = "1 2 3 " ]
check "live: the kept generations' paths are still there" [ -e "$STORE/$(basename "$GEN3")" -a -e "$STORE/$(basename "$GEN7")" ]
check "live: the user's old paths are still there" [ -e "$STORE/$(basename "$ALICE1")" -a -e "$STORE/$(basename "$ALICE2")" ]
check "live: the deleted generations' paths were collected" [ ! -e "$STORE/$(basename "$GEN1")" -a ! -e "$STORE/$(basename "$GEN2")" ]
check "live: below 90 %" [ "$(used_pct)" -lt 90 ]
ran() { jq -r 'select(.actuator == "run" and .result == "ok") | .params.argv | join(" ")' "$A"; }
check "live audit: exactly the two commands ran" [ "$(ran | tr '\n' '|')" = "nix-env -p $PROF --delete-generations +5|nix-store --gc|" ]
get /metrics >"$T/metrics.txt"
freed() { sed -n "s|^luminous_nix_disk_bytes_freed_total{action=\"$1\",mount=\"$M\"} ||p" "$T/metrics.txt"; }
check "metric: GC freed >= 2 MiB" [ "$(freed nix_gc)" -ge 2097152 ]
stop_agent
finish
