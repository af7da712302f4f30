#!/usr/bin/env bash
# The disk plugin with the real agent on a real, small filesystem: a 16 MiB ext4 image
# loop-mounted in a private mount namespace this script creates (the host's mounts are untouched;
# old files are made old in all three times, atime, mtime and ctime, with debugfs), filled with old
# and new logs, rotated logs, temp files, a file a process holds open, a socket, and symlinks out
# of the filesystem. Dry-run (--once) changes nothing and audits what would go; live with the
# deletion classes automatic frees space through the ladder (logs, then temp files) and removes
# nothing it must not; live with confirmation waits, shows what would go, and acts once confirmed
# over HTTP. A steady writer raises disk_full_predicted.
if [ -z "${DISK_TEST_IN_NS:-}" ]; then
  command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
  unshare --mount --propagation private true 2>/dev/null || { echo "skip: cannot unshare"; exit 77; }
  exec env DISK_TEST_IN_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/disk_lib.sh"
disk_need_ext4
PDIR=$(plugin_dir "$BUILD/plugins/disk.so")
M="$T/mnt"
OUT="$T/outside"
IMG="$T/disk.img"
HOLDER=""
WRITER=""
disk_cleanup() {
  for p in $HOLDER $WRITER; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  HOLDER=""
  WRITER=""
}
trap 'disk_cleanup; stop_agent 2>/dev/null || true; disk_release "$M"; cleanup' EXIT
mkdir -p "$M" "$OUT"
disk_ext4 "$IMG" "$M" 16
check "the ext4 image is visible in this namespace only" grep -q " $M ext4 " /proc/self/mounts

mib() { head -c $(( $1 * 1024 )) /dev/urandom >"$2"; }   # size in KiB
OLDS=()
old() { OLDS+=("$@"); }                                    # aged by debugfs at the end of fill
used_kib() { df --output=used -k "$M" | tail -n1 | tr -dc 0-9; }
avail_kib() { df --output=avail -k "$M" | tail -n1 | tr -dc 0-9; }

# 93.8 % as df counts (used / (used + avail)): the logs step alone leaves it above 90 %, so the
# temp step is needed; below the critical 95 %, where the emergency step would join the plan.
fill() {
  disk_cleanup
  rm -rf "${M:?}"/* "$OUT"/*
  OLDS=()
  mkdir -p "$M/log/nested" "$M/tmp/sub" "$M/data"
  mib 256 "$M/log/old.log"; mib 128 "$M/log/app.log.1"; mib 128 "$M/log/nested/app.log.2.gz"
  mib 256 "$M/log/new.log"                                 # new: stays
  mib 512 "$M/log/held.log"                                # old, but held open: stays
  old "$M/log/old.log" "$M/log/app.log.1" "$M/log/nested/app.log.2.gz" "$M/log/held.log"
  mib 3072 "$M/tmp/old-scratch"; mib 1024 "$M/tmp/sub/old2"; old "$M/tmp/old-scratch" "$M/tmp/sub/old2"
  mib 512 "$M/tmp/new-scratch"                             # new: stays
  python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$M/tmp/sock"
  echo keep >"$OUT/target.txt"; mkdir -p "$OUT/dir"; echo keep >"$OUT/dir/inner.txt"
  touch -d '30 days ago' "$OUT/target.txt" "$OUT/dir/inner.txt"
  old "$M/tmp/sock"
  ln -s "$OUT/target.txt" "$M/tmp/escape"                  # symlink out of the filesystem
  ln -s "$OUT/dir" "$M/tmp/linkdir"                         # a symlinked directory: not entered
  mib $(( ($(used_kib) + $(avail_kib)) * 938 / 1000 - $(used_kib) )) "$M/data/big"   # new data
  disk_age "$IMG" "$M" 30 "${OLDS[@]}"
  sleep 100000 <"$M/log/held.log" &                        # a real process holding it open
  HOLDER=$!
}
used_pct() { df --output=pcent "$M" | tail -n1 | tr -dc 0-9; }
snapshot() { (cd "$M" && find . -printf '%p %s %T@\n' | sort); find "$OUT" -printf '%p %s\n' | sort; }

DISKCONF() { # $1: extra keys
  echo "disk = { mounts = [\"$M\"]; log_dirs = [\"$M/log\"]; tmp_dirs = [\"$M/tmp\"];
    nix_store = \"$M/no-nix-store\"; journal_dirs = [\"$M/no-journal\"];
    journald_socket = \"$M/no-socket\"; ${DISK_ISOLATION:-} $1 };"
}
SCOPE='scope = { uids = [65534]; }; protect = { names = ["sshd", "healerd", "sleep"]; };'
MIN_HEALTH=0; export MIN_HEALTH
A="$T/state/audit.jsonl"

# --- dry-run: nothing changes, the audit lists what would have gone -------------------------
fill
check "filled above the tmp threshold (93 %), below critical" [ "$(used_pct)" -ge 93 -a "$(used_pct)" -lt 95 ]
snapshot >"$T/before.txt"
write_config "$T/dry.conf" "$PDIR" "$(DISKCONF 'auto_logs = true; auto_tmp = true;')" "$SCOPE"
"$HEALERD" -c "$T/dry.conf" --once --dry-run >"$T/once.out" 2>"$T/once.log" || true
cat "$T/once.out"
check "dry-run: disk_space_low detected on the image" grep -q "^issue #.* disk_space_low .* on $M" "$T/once.out"
snapshot >"$T/after.txt"
check "dry-run: nothing changed" cmp -s "$T/before.txt" "$T/after.txt"
would() { jq -r --arg a "$1" 'select(.actuator == "remove_old_files" and .action == $a and .result == "dry_run") | .params.files[]' "$A" | sort -u; }
would remove_old_logs >"$T/would_logs.txt"
would clean_tmp >"$T/would_tmp.txt"
check "dry-run audit: old logs would go" grep -qx "old.log" "$T/would_logs.txt"
check "dry-run audit: the rotated ones too" grep -qx "nested/app.log.2.gz" "$T/would_logs.txt"
check "dry-run audit: not the held-open log" bash -c "! grep -q held.log '$T/would_logs.txt'"
check "dry-run audit: not the new log" bash -c "! grep -q new.log '$T/would_logs.txt'"
check "dry-run audit: old temp files would go" grep -qx "sub/old2" "$T/would_tmp.txt"
check "dry-run audit: no socket, symlink or new temp file" bash -c "! grep -Eq 'sock|escape|linkdir|inner|new-scratch' '$T/would_tmp.txt'"
check "dry-run: no bytes counted as freed" bash -c "! grep -q bytes_freed '$T/once.out'"
mv "$A" "$T/audit-dry.jsonl"

# --- live, deletions automatic: the ladder frees space -------------------------------------
echo "s3cret-token" >"$T/token"; chmod 600 "$T/token"
MODE=live write_config "$T/live.conf" "$PDIR" "$(DISKCONF 'auto_logs = true; auto_tmp = true;')" "$SCOPE"
start_agent "$T/live.conf"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "disk_space_low" and .outcome == "healed")'; }
wait_for "live: the disk_space_low heal is healed" 20 healed
get /api/v1/heals | jq -c '.heals[] | {outcome, actions: [.actions[] | {action, outcome}]}' | head -3
check "live: below 90 % now" [ "$(used_pct)" -lt 90 ]
check "live: the ladder ran logs then temp" [ "$(get /api/v1/heals | jq -r '[.heals[] | select(.outcome == "healed")][0].actions | map(.action) | join(",")')" = "remove_old_logs,clean_tmp" ]
check "live: old logs removed" [ ! -e "$M/log/old.log" -a ! -e "$M/log/app.log.1" -a ! -e "$M/log/nested/app.log.2.gz" ]
check "live: new log kept" [ -f "$M/log/new.log" ]
check "live: held-open log kept" [ -f "$M/log/held.log" ]
check "live: old temp files removed" [ ! -e "$M/tmp/old-scratch" -a ! -e "$M/tmp/sub/old2" ]
check "live: new temp file kept" [ -f "$M/tmp/new-scratch" ]
check "live: socket kept" [ -S "$M/tmp/sock" ]
check "live: symlinks kept" [ -L "$M/tmp/escape" -a -L "$M/tmp/linkdir" ]
check "live: symlink targets outside kept" [ -f "$OUT/target.txt" -a -f "$OUT/dir/inner.txt" ]
check "live: data kept" [ -f "$M/data/big" ]
went() { jq -r --arg a "$1" 'select(.actuator == "remove_old_files" and .action == $a and .result == "ok") | .params.files[]' "$A" | sort -u; }
check "live audit: lists the removed logs" [ "$(went remove_old_logs | tr '\n' ' ')" = "app.log.1 nested/app.log.2.gz old.log " ]
check "live audit: lists the removed temp files" [ "$(went clean_tmp | tr '\n' ' ')" = "old-scratch sub/old2 " ]
get /metrics >"$T/metrics.txt"
freed() { sed -n "s|^luminous_nix_disk_bytes_freed_total{action=\"$1\",mount=\"$M\"} ||p" "$T/metrics.txt"; }
check "metric: bytes freed by the logs step" [ "$(freed remove_old_logs)" = 524288 ]
check "metric: bytes freed by the temp step" [ "$(freed clean_tmp)" = 4194304 ]
check "metric: used percent gauge" grep -q "^luminous_nix_disk_used_percent{mount=\"$M\"}" "$T/metrics.txt"
check "promtool accepts /metrics" promtool check metrics <"$T/metrics.txt"
resolved() { ! get /api/v1/issues | jq -e --arg m "$M" '.issues[] | select(.type == "disk_space_low" and .target == $m)'; }
wait_for "live: the issue is closed" 10 resolved
stop_agent
mv "$A" "$T/audit-live.jsonl"

# --- live, confirmation needed: pending with the list, confirmed over HTTP ------------------
fill
rm -rf "$T/state"
MODE=live write_config "$T/confirm.conf" "$PDIR" "$(DISKCONF '')" "$SCOPE"
start_agent "$T/confirm.conf"
pending_id() { get /api/v1/pending | jq -e '.pending[0].id'; }
wait_for "confirm: the plan waits" 20 pending_id
ID=$(pending_id)
get /api/v1/pending | jq -r '.pending[0].actions[] | "\(.step) \(.action): \(.description)"'
desc() { get /api/v1/pending | jq -r --arg a "$1" '.pending[0].actions[] | select(.action == $a) | .description'; }
check "confirm: the logs action lists what would go" grep -q '3 files (512.0 KiB): log/app.log.1, log/nested/app.log.2.gz, log/old.log' <<<"$(desc remove_old_logs)"
check "confirm: the held-open file is named as kept" grep -q "1 held open kept" <<<"$(desc remove_old_logs)"
check "confirm: the temp action lists what would go" grep -q "2 files" <<<"$(desc clean_tmp)"
check "confirm: flags say deletes" [ "$(get /api/v1/pending | jq -r '.pending[0].actions[0].flags | index("deletes") != null')" = true ]
# the dry-run preview of the waiting plan: each file it would remove, with its real size
pv_ready() { get /api/v1/pending | jq -e '.pending[0].preview.state == "ready"'; }
wait_for "confirm: the preview is ready" 20 pv_ready
touch_size() { get /api/v1/pending | jq -e --arg p "$1" '[.pending[0].preview.touches[] | select(.kind == "file" and (.path | endswith($p)))][0].size'; }
check "confirm: the preview lists log/old.log with its size" [ "$(touch_size /log/old.log)" = "$(stat -c %s "$M/log/old.log")" ]
check "confirm: and tmp/old-scratch with its size" [ "$(touch_size /tmp/old-scratch)" = "$(stat -c %s "$M/tmp/old-scratch")" ]
check "confirm: the held-open file is not in the preview" bash -c "! curl -s '$URL/api/v1/pending' | jq -e '.pending[0].preview.touches[] | select(.path != null and (.path | endswith(\"/log/held.log\")))' >/dev/null"
check "confirm: healctl show heal lists what it would touch" bash -c "HEALCTL_URL='$URL' '$HEALCTL' show heal $ID | grep -A30 'Would touch' | grep -q 'old.log'"
sleep 1
check "confirm: nothing removed while pending" [ -f "$M/log/old.log" -a -f "$M/tmp/old-scratch" ]
check "confirm: 401 without the token" [ "$(status_of -X POST "$URL/api/v1/pending/$ID/confirm")" = 401 ]
check "confirm: 200 with the token" [ "$(status_of -X POST -H 'Authorization: Bearer s3cret-token' "$URL/api/v1/pending/$ID/confirm")" = 200 ]
wait_for "confirm: healed" 20 healed
check "confirm: old files gone, the rest kept" [ ! -e "$M/log/old.log" -a ! -e "$M/tmp/old-scratch" -a -f "$M/log/held.log" -a -S "$M/tmp/sock" -a -f "$OUT/target.txt" -a -f "$M/tmp/new-scratch" ]
stop_agent

# --- a steady writer: disk_full_predicted ----------------------------------------------------
rm -rf "${M:?}"/* "$T/state"
disk_cleanup
MODE=dry-run write_config "$T/pred.conf" "$PDIR" "$(DISKCONF 'predict_window_seconds = 20.0; predict_min_samples = 8; predict_min_r2 = 0.8;')" "$SCOPE"
( i=0; while [ $i -lt 150 ]; do head -c 65536 /dev/zero >>"$M/growing"; sleep 0.1; i=$((i+1)); done ) &
WRITER=$!
start_agent "$T/pred.conf"
predicted() { get /api/v1/issues | jq -e --arg m "$M" '.issues[] | select(.type == "disk_full_predicted" and .target == $m)'; }
wait_for "a steady writer raises disk_full_predicted" 20 predicted
get /api/v1/issues | jq -c '.issues[] | select(.type == "disk_full_predicted") | .measurements'
stop_agent
finish
