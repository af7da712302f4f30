# tests/plugins/disk_lib.sh — a small ext4 filesystem for the disk tests (a loop-mounted image
# under the test's own directory, in the mount namespace the test made) and files made really old:
# cleanups age a file by the newest of atime, mtime and ctime, and ctime cannot be set back from
# user space, so the image is unmounted and debugfs writes the three times into the inodes.
# Source it after tests/lib/agent.sh; needs mkfs.ext4 and debugfs.

disk_need_ext4() {
  for c in mkfs.ext4 debugfs losetup; do
    command -v $c >/dev/null || { echo "skip: no $c"; exit 77; }
  done
}

# disk_ext4 IMG MNT MiB: a fresh ext4 (4 KiB blocks, no journal, no reserved blocks) mounted at MNT.
disk_ext4() {
  local img=$1 mnt=$2 mib=$3
  rm -f "$img"
  truncate -s "${mib}M" "$img"
  mkfs.ext4 -q -F -b 4096 -m 0 -O ^has_journal -N 1024 "$img"
  mkdir -p "$mnt"
  mount -o loop "$img" "$mnt"
}

# disk_age IMG MNT DAYS PATH...: sets atime, mtime and ctime of each PATH (absolute, under MNT)
# to DAYS days ago. Unmounts MNT meanwhile: nothing may hold it busy.
disk_age() {
  local img=$1 mnt=$2 days=$3; shift 3
  local ts=$(( $(date +%s) - days * 86400 )) p rel cmds=""
  for p in "$@"; do
    rel=${p#"$mnt"}
    cmds+="sif \"$rel\" atime @$ts"$'\n'"sif \"$rel\" mtime @$ts"$'\n'"sif \"$rel\" ctime @$ts"$'\n'
  done
  disk_umount "$mnt"
  printf '%s' "$cmds" | debugfs -w -f - "$img" >/dev/null 2>"$T/debugfs.err" || { cat "$T/debugfs.err"; return 1; }
  if grep -v '^debugfs [0-9]' "$T/debugfs.err" | grep -q .; then cat "$T/debugfs.err"; return 1; fi
  mount -o loop "$img" "$mnt"
}

# disk_umount MNT: unmounts, retrying while a reader of the running agent (a plugin's scan) holds
# it busy for a moment; gives up after 100 tries.
disk_umount() {
  local i
  for i in $(seq 100); do
    umount "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  umount "$1"
}

# disk_release MNT: for the EXIT trap. A worker of the stopped agent, or the last write of a killed
# writer, can hold the mount busy for a moment after the test ends (seen once under ASan in CI:
# all checks passed, then rm -rf met "Device or resource busy"). Retry, then detach it lazily, so
# the test's directory can always go.
disk_release() {
  disk_umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || true
}

# disk_private_ns "$0" "$@": re-runs the test in a private mount namespace (its loop mounts are
# seen by nothing else on the machine and go when it ends); call first, before agent.sh.
disk_private_ns() {
  [ -n "${DISK_TEST_IN_NS:-}" ] && return 0
  command -v unshare >/dev/null || { echo "skip: no unshare"; exit 77; }
  unshare --mount --propagation private true 2>/dev/null || { echo "skip: cannot unshare"; exit 77; }
  exec env DISK_TEST_IN_NS=1 unshare --mount --propagation private bash "$@"
}

# disk_old_dir DIR: DIR becomes a small ext4 of its own (image next to it), so files in it can be
# made really old with disk_make_old.
disk_old_dir() {
  disk_ext4 "$(dirname "$1")/.$(basename "$1").img" "$1" 8
  chmod 0755 "$1"
}

# disk_make_old DAYS DIR FILE...: the files (in DIR, made by disk_old_dir) DAYS days old in all
# three times, as `touch -d` no longer can.
disk_make_old() {
  local days=$1 dir=$2; shift 2
  disk_age "$(dirname "$dir")/.$(basename "$dir").img" "$dir" "$days" "$@"
}
