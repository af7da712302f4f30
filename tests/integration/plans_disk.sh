#!/usr/bin/env bash
# A plans.d plan for another plugin's issue type (issue #15 part 3): the built-in disk plugin
# raises disk_space_low on a real, small ext4 (a loop image in a private mount namespace this
# script makes; the host's mounts untouched); a user plan matching disk_space_low on that mount
# (and a when condition on the disk plugin's own measurement) removes a cache's blobs. It is
# governed like a built-in's step: removing files is risky, so it waits for a confirmation
# (pending, nothing removed meanwhile), runs once confirmed over HTTP, verify_command sees the
# use below the threshold, the heal is healed and audited, the issue closes, and the knowledge
# base learned it (attempts and successes of (disk_space_low, cache_clean_blobs)).
. "$SRC/tests/plugins/disk_lib.sh"
disk_private_ns "$0" "$@"
. "$SRC/tests/lib/agent.sh"
disk_need_ext4
command -v jq >/dev/null || { echo "skip: no jq"; exit 77; }
PDIR=$(plugin_dir "$BUILD/plugins/disk.so" "$BUILD/plugins/plans.so")
M="$T/mnt"
IMG="$T/disk.img"
trap 'stop_agent 2>/dev/null || true; disk_release "$M"; cleanup' EXIT
mkdir -p "$M"
disk_ext4 "$IMG" "$M" 16
check "the ext4 image is visible in this namespace only" grep -q " $M ext4 " /proc/self/mounts
used_pct() { df --output=pcent "$M" | tail -n1 | tr -dc 0-9; }
used_kib() { df --output=used -k "$M" | tail -n1 | tr -dc 0-9; }
avail_kib() { df --output=avail -k "$M" | tail -n1 | tr -dc 0-9; }
mkdir -p "$M/cache" "$M/data" "$M/logs" "$M/tmp"
# ~92 %: blobs in the cache (what the plan removes), the rest data it must keep.
for i in 1 2 3; do head -c $((1024 * 1024)) /dev/urandom >"$M/cache/blob$i.bin"; done
echo "keep me" >"$M/cache/index.txt"
head -c $(( (($(used_kib) + $(avail_kib)) * 920 / 1000 - $(used_kib)) * 1024 )) /dev/urandom >"$M/data/big"
check "filled above 90 %, below critical 95 % ($(used_pct) %)" [ "$(used_pct)" -ge 90 -a "$(used_pct)" -lt 95 ]
sleep 1.1   # the blobs older than 0 days by the newest of their three times

mkdir -p "$T/plans.d"
cat >"$T/plans.d/cache.conf" <<CONF
plans = (
  { name = "cache_clean";
    match = { type = "disk_space_low"; target = "$M"; when = ["used_percent >= 90"]; };
    steps = (
      { name = "blobs"; remove_old = "$M/cache"; pattern = "*.bin"; older_than_days = 0;
        settle_s = 0.5; }
    );
    verify_command = ["/bin/sh", "-c", "[ \$(df --output=pcent $M | tail -n1 | tr -dc 0-9) -lt 90 ]"];
  }
);
CONF
# The disk plugin watches only the image, with folders of its own that hold nothing to remove:
# the user plan is what heals it.
PLUGINS="disk = { mounts = [\"$M\"]; log_dirs = [\"$M/logs\"]; tmp_dirs = [\"$M/tmp\"];
    nix_store = \"$M/no-nix-store\"; journal_dirs = [\"$M/no-journal\"];
    journald_socket = \"$M/no-socket\"; };
  plans = { paths_allow = [\"$M/cache\"]; };"
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
MIN_HEALTH=0 MODE=live write_config "$T/healerd.conf" "$PDIR" "$PLUGINS"
check "--check-config accepts the config and plans.d" "$HEALERD" --check-config -c "$T/healerd.conf"
start_agent "$T/healerd.conf"
A="$T/state/audit.jsonl"
wait_for "plans.d read: 1 plan" 10 grep -q "plans.d: 1 file(s) (0 refused, 0 problem(s)), 0 check(s), 1 of 1 plan(s)" "$T/agent.log"
issue() { get /api/v1/issues | jq -e --arg m "$M" '.issues[] | select(.type == "disk_space_low" and .target == $m)' >/dev/null; }
wait_for "the disk plugin raised disk_space_low on the image" 20 issue
pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
wait_for "governed: the user plan's risky step waits for a confirmation" 20 pending_id
ID=$(pending_id)
get /api/v1/pending | jq -r '.pending[0].actions[] | "\(.step) \(.plugin)/\(.action): \(.description) [\(.flags | join(","))]"'
check "pending: the plan's step is the one planned (plans/cache_clean_blobs)" \
  [ "$(get /api/v1/pending | jq -r '.pending[0].actions | map("\(.plugin)/\(.action)") | join(",")')" = plans/cache_clean_blobs ]
check "pending: flagged deletes" [ "$(get /api/v1/pending | jq -r '.pending[0].actions[0].flags | index("deletes") != null')" = true ]
sleep 1
check "pending: nothing removed while it waits" [ -f "$M/cache/blob1.bin" -a -f "$M/cache/blob3.bin" ]
check "confirm: 200 with the token" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/confirm")" = 200 ]
healed() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "disk_space_low" and .outcome == "healed")' >/dev/null; }
wait_for "healed by the user plan" 30 healed
get /api/v1/heals | jq -r '.heals[0].actions[] | "\(.plugin)/\(.action): \(.outcome): \(.message)"'
HID=$(get /api/v1/heals | jq -r '[.heals[] | select(.outcome == "healed")][0].id')
check "the heal's one action was the plan's step" [ "$(get /api/v1/heals | jq -r '[.heals[] | select(.outcome == "healed")][0].actions | map(.action) | join(",")')" = cache_clean_blobs ]
check "the blobs are gone" [ ! -e "$M/cache/blob1.bin" -a ! -e "$M/cache/blob2.bin" -a ! -e "$M/cache/blob3.bin" ]
check "the rest is kept" [ -f "$M/cache/index.txt" -a -f "$M/data/big" ]
check "below 90 % now ($(used_pct) %)" [ "$(used_pct)" -lt 90 ]
check "audit: the removal (plans, remove_old_files ok, 3 files)" \
  jq -s -e --argjson h "$HID" '[.[] | select(.heal_id == $h and .plugin == "plans" and .actuator == "remove_old_files" and .result == "ok" and .params.count == 3)] | length == 1' "$A"
check "audit: the step's line (healed)" \
  jq -s -e --argjson h "$HID" '[.[] | select(.heal_id == $h and .plugin == "plans" and .action == "cache_clean_blobs" and .actuator == null and .result == "healed")] | length == 1' "$A"
check "audit: the operator's confirmation" \
  jq -s -e '[.[] | select(.plugin == "operator" and .action == "confirm")] | length == 1' "$A"
closed() { ! issue; }
wait_for "the issue closed" 20 closed
learned() { get /api/v1/knowledge | jq -e '[.. | objects | select(.issue_type == "disk_space_low" and .action == "cache_clean_blobs" and .attempts == 1 and .successes == 1)] | length == 1' >/dev/null; }
wait_for "learned: (disk_space_low, cache_clean_blobs) 1 attempt, 1 success" 10 learned
check "agent stops cleanly" stop_agent
finish
