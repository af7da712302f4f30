#!/usr/bin/env bash
# Issue 11's attacks on the disk healer's deletions, with the real agent on a loop-mounted ext4
# made for the test (in a private mount namespace; the host's filesystems are never touched):
#  1. a directory of the same filesystem bind-mounted inside a cleaned tmp dir: not entered;
#  2. a declared tmp dir under a world-writable parent, made by uid 1000 as a symlink to a
#     root-owned directory with three old files: nothing deleted, the refusal logged and audited;
#  3. files with old mtimes but a fresh ctime (tar, cp -p): not old;
#  4. login records (wtmp, btmp, lastlog, utmp, faillog, rotated ones): never removed.
# Files are made really old (all three times) with debugfs; the cleanup still runs and heals.
if [ -z "${DISK_TEST_IN_NS:-}" ]; then
  command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
  unshare --mount --propagation private true 2>/dev/null || { echo "skip: cannot unshare"; exit 77; }
  exec env DISK_TEST_IN_NS=1 unshare --mount --propagation private bash "$0" "$@"
fi
. "$SRC/tests/lib/agent.sh"
. "$SRC/tests/plugins/disk_lib.sh"
disk_need_ext4
command -v setpriv >/dev/null || { echo "skip: no setpriv"; exit 77; }
PDIR=$(plugin_dir "$BUILD/plugins/disk.so")
M="$T/mnt"
IMG="$T/disk.img"
trap 'stop_agent 2>/dev/null || true; disk_release "$M/tmp/bind"; disk_release "$M"; cleanup' EXIT
disk_ext4 "$IMG" "$M" 32
check "the ext4 image is mounted in this namespace only" grep -q " $M ext4 " /proc/self/mounts

kib() { head -c $(( $1 * 1024 )) /dev/urandom >"$2"; }
mkdir -p "$M/log" "$M/tmp" "$M/tmp/bind" "$M/outside" "$M/rootdir" "$M/ww" "$M/data"
chmod 1777 "$M/tmp" "$M/ww"
LOGIN="wtmp btmp lastlog faillog utmp wtmp.1 btmp-20240101.gz"
for f in $LOGIN; do kib 16 "$M/log/$f"; done
kib 256 "$M/log/old.log"
kib 3072 "$M/tmp/old-scratch"
kib 64 "$M/outside/keep.txt"
for f in a b c; do kib 64 "$M/rootdir/$f"; done
OLD=("$M/log/old.log" "$M/tmp/old-scratch" "$M/outside/keep.txt" "$M/rootdir/a" "$M/rootdir/b" "$M/rootdir/c")
for f in $LOGIN; do OLD+=("$M/log/$f"); done
disk_age "$IMG" "$M" 60 "${OLD[@]}"
check "debugfs aged the files (ctime 60 days back)" [ $(( $(date +%s) - $(stat -c %Z "$M/tmp/old-scratch") )) -gt $(( 59 * 86400 )) ]

# 1: the same filesystem, bind-mounted inside the cleaned dir
mount --bind "$M/outside" "$M/tmp/bind"
check "bind mount: same st_dev as the tmp dir" [ "$(stat -c %d "$M/tmp/bind/keep.txt")" = "$(stat -c %d "$M/tmp")" ]
# 2: uid 1000 plants the declared dir as a symlink to root's directory
setpriv --reuid 1000 --regid 1000 --clear-groups ln -s "$M/rootdir" "$M/ww/cache"
check "the symlink is uid 1000's" [ "$(stat -c %u "$M/ww/cache")" = 1000 ]
# 3: unpacked just now with old mtimes
mkdir -p "$T/src"; kib 64 "$T/src/unpacked.c"; touch -d '60 days ago' "$T/src/unpacked.c"
tar -C "$T/src" -cf "$T/src.tar" unpacked.c
tar -C "$M/tmp" -xf "$T/src.tar"
cp -p "$M/outside/keep.txt" "$M/tmp/copied.txt"
check "tar kept the old mtime" [ $(( $(date +%s) - $(stat -c %Y "$M/tmp/unpacked.c") )) -gt $(( 59 * 86400 )) ]

used_pct() { df --output=pcent "$M" | tail -n1 | tr -dc 0-9; }
used_kib() { df --output=used -k "$M" | tail -n1 | tr -dc 0-9; }
avail_kib() { df --output=avail -k "$M" | tail -n1 | tr -dc 0-9; }
# 93.6 % as df counts (used / (used + avail)): above tmp_percent, below critical (95 %), where
# the plan would also hold the emergency step
head -c $(( (($(used_kib) + $(avail_kib)) * 936 / 1000 - $(used_kib)) * 1024 )) /dev/zero >"$M/data/filler"
check "filled above the tmp threshold (93 %), below critical" [ "$(used_pct)" -ge 93 -a "$(used_pct)" -lt 95 ]

SCOPE='scope = { uids = [65534]; };'
MIN_HEALTH=0; export MIN_HEALTH
ACTION_TIMEOUT=30; export ACTION_TIMEOUT   # a shared machine with thousands of processes to scan
A="$T/state/audit.jsonl"
MODE=live write_config "$T/live.conf" "$PDIR" "disk = { mounts = [\"$M\"];
  log_dirs = [\"$M/log\"]; tmp_dirs = [\"$M/tmp\", \"$M/ww/cache\"];
  nix_store = \"$M/no-nix-store\"; journal_dirs = [\"$M/no-journal\"];
  journald_socket = \"$M/no-socket\"; auto_logs = true; auto_tmp = true; ${DISK_ISOLATION:-} };" "$SCOPE"
start_agent "$T/live.conf"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.issue_type == "disk_space_low" and .outcome == "healed")'; }
wait_for "the disk_space_low heal is healed" 30 healed
get /api/v1/heals | jq -c '.heals[0] | {outcome, actions: [.actions[] | {action, outcome}]}'
check "the cleanup itself works: old log and old temp file gone" [ ! -e "$M/log/old.log" -a ! -e "$M/tmp/old-scratch" ]
check "below 90 % now" [ "$(used_pct)" -lt 90 ]
# 1
check "bind mount not entered: the file outside the declared dir survives" [ -f "$M/outside/keep.txt" ]
check "bind mount not entered: the audit does not list it" bash -c "! jq -r 'select(.actuator == \"remove_old_files\") | .params.files[]?' '$A' | grep -q keep.txt"
check "bind mount: counted as not entered" [ "$(jq -s '[.[] | select(.actuator == "remove_old_files" and .result == "ok") | .params.mounts_not_entered] | max' "$A")" -ge 1 ]
# 2
check "symlinked declared dir: root's three files survive" [ -f "$M/rootdir/a" -a -f "$M/rootdir/b" -a -f "$M/rootdir/c" ]
check "symlinked declared dir: the host refused it (audited)" [ "$(jq -r --arg d "$M/ww/cache" 'select(.actuator == "remove_old_files" and .params.dir == $d) | .result' "$A" | sort -u)" = refused ]
check "symlinked declared dir: the refusal names the link and its owner" grep -q "ww/cache is a symbolic link (owned by uid 1000): never followed" "$T/agent.log"
# 3
check "tar-unpacked file with an old mtime survives" [ -f "$M/tmp/unpacked.c" ]
check "cp -p copy with an old mtime survives" [ -f "$M/tmp/copied.txt" ]
# 4
for f in $LOGIN; do
  check "login record $f survives" [ -f "$M/log/$f" ]
done
check "login records counted as kept" [ "$(jq -s '[.[] | select(.actuator == "remove_old_files" and .action == "remove_old_logs" and .result == "ok") | .params.login_records_kept] | max' "$A")" = 7 ]
stop_agent
finish
