#!/usr/bin/env bash
# A filesystem refilled after every heal (a process that keeps writing old logs back): the real
# agent, live, the logs step automatic, on a loop-mounted ext4 in a private mount namespace (old
# files aged in all three times by debugfs). The agent must not loop: the audit holds no more
# cleanups than limits allow — max_heals_per_hour = 2 with no cooldown: two heals, then the
# issue is suppressed (rate_limit); cooldown_minutes = 60 with a large hourly budget: one heal,
# then cooldown. Bounded: a few refills, each waited for at most 30 s.
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
IMG="$T/disk.img"
trap 'stop_agent 2>/dev/null || true; disk_release "$M"; cleanup' EXIT
mkdir -p "$M"
disk_ext4 "$IMG" "$M" 16
A="$T/state/audit.jsonl"

kib() { head -c $(( $1 * 1024 )) /dev/urandom >"$2"; }
used_kib() { df --output=used -k "$M" | tail -n1 | tr -dc 0-9; }
avail_kib() { df --output=avail -k "$M" | tail -n1 | tr -dc 0-9; }
used_pct() { df --output=pcent "$M" | tail -n1 | tr -dc 0-9; }
# refill N: old logs back in (N in their names), the filesystem at about 93 %, above high_percent
# (90) and below critical (95); the logs alone bring it back under 90 %.
refill() {
  local n=$1
  mkdir -p "$M/log" "$M/data"
  kib 2048 "$M/log/old$n.log"; kib 1024 "$M/log/old$n.log.1"
  rm -f "$M/data/ballast"
  kib $(( ($(used_kib) + $(avail_kib)) * 930 / 1000 - $(used_kib) )) "$M/data/ballast"
  disk_age "$IMG" "$M" 30 "$M/log/old$n.log" "$M/log/old$n.log.1"
}
cleanups() { # remove_old_files calls of the disk plugin that really removed files
  [ -f "$A" ] || { echo 0; return; }
  jq -s '[.[] | select(.plugin == "disk" and .actuator == "remove_old_files" and .result == "ok" and .dry_run != true)] | length' "$A"
}
# predict_min_samples at its most: the refills are a steep ramp, and a disk_full_predicted heal
# (tested in disk_unit and disk_cleanup) would take from the same hourly budget this test counts.
DISKCONF="disk = { mounts = [\"$M\"]; log_dirs = [\"$M/log\"]; tmp_dirs = [\"$M/no-tmp\"];
    nix_store = \"$M/no-nix-store\"; journal_dirs = [\"$M/no-journal\"];
    journald_socket = \"$M/no-socket\"; auto_logs = true; predict_min_samples = 256; };"
export MODE=live MIN_HEALTH=0
suppressed() { get /metrics | grep -q "healing_suppressed_total{.*disk_space_low.*reason=\"$1\"\\|healing_suppressed_total{.*reason=\"$1\".*disk_space_low"; }
gone() { [ ! -e "$M/log/old$1.log" ]; }

# run LIMIT_NAME EXPECTED: refills after every cleanup, one more time than EXPECTED, and checks
# that the audit holds exactly EXPECTED cleanups and the issue is suppressed for LIMIT_NAME.
run() {
  local reason=$1 expected=$2 i
  rm -rf "${M:?}"/* "$T/state"
  refill 0
  check "$reason: filled to 93 %" [ "$(used_pct)" -ge 91 -a "$(used_pct)" -lt 95 ]
  write_config "$T/$reason.conf" "$PDIR" "$DISKCONF"
  start_agent "$T/$reason.conf"
  for i in $(seq 0 $(( expected - 1 ))); do
    wait_for "$reason: heal $((i + 1)) removed the old logs" 30 gone "$i" || break
    refill $((i + 1))
  done
  wait_for "$reason: then the issue is suppressed ($reason)" 30 suppressed "$reason"
  check "$reason: the last refill is still there (not cleaned)" [ -e "$M/log/old$expected.log" ]
  check "$reason: the audit holds $expected cleanup(s), no more" [ "$(cleanups)" = "$expected" ]
  check "$reason: the disk is still over the threshold, the agent alive" \
    bash -c "[ $(used_pct) -ge 90 ] && kill -0 $AGENT_PID"
  check "$reason: SIGTERM exits 0" stop_agent
  check "$reason: still $expected cleanup(s) after the agent stopped" [ "$(cleanups)" = "$expected" ]
  echo "# measured: $reason: $((expected + 1)) fills, $(cleanups) cleanups (remove_old_files that removed files), then suppressed ($reason)"
}

MAX_HEALS=2 COOLDOWN=0 run rate_limit 2
MAX_HEALS=100 COOLDOWN=60 run cooldown 1
finish
