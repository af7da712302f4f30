#!/usr/bin/env bash
# examples/plans.d/spool.conf end to end with a REAL spool folder: files past the size raise
# check_failed (size_bytes); the plan's removal goes through act_remove_old_files in the folder
# the operator allowed (plugins.plans.paths_allow), the check passes again, the heal is healed.
# Dry-run: nothing removed. Also: --check-config names FILE:LINE for a bad plans.d file and for a
# step the rules refuse (with the key that would allow it); the agent still starts, refuses that
# file, and loads the rest.
. "$SRC/tests/lib/agent.sh"
command -v jq >/dev/null || { echo "SKIP: no jq"; exit 77; }
S="$T/spool"; mkdir -p "$S"
fill() { # 3 partial uploads of 1 MiB and 2 finished files, as an uploader leaves them
  for i in 1 2 3; do head -c 1048576 /dev/zero >"$S/upload$i.part"; done
  for i in 1 2; do head -c 1048576 /dev/zero >"$S/done$i.dat"; done
  sleep 1.1   # older than older_than_days = 0 below (a file's newest time counts)
}
mkdir -p "$T/plans.d"
sed -e "s|/var/spool/app-upload|$S|g" -e "s|max_size_mb = 100|max_size_mb = 2|" \
    -e "s|interval_s = 60|interval_s = 0.5|" -e "s|older_than_days = 0.25|older_than_days = 0|" \
    "$SRC/examples/plans.d/spool.conf" >"$T/plans.d/spool.conf"
PDIR=$(plugin_dir "$BUILD/plugins/plans.so")
POL="plans = { paths_allow = [\"$S\"]; allow_auto = true; };"

# ---- --check-config: the folder must be allowed; bad files named with their line ----
MODE=dry-run write_config "$T/healerd.conf" "$PDIR" "plans = { };"
out=$("$HEALERD" --check-config -c "$T/healerd.conf" 2>&1) && rc=0 || rc=$?
check "--check-config: a removal outside paths_allow is a problem (exit 2)" [ "$rc" = 2 ]
check "--check-config: FILE:LINE and the key that allows it" bash -c "grep -q 'plans.d/spool.conf:15: plan spool_clean: step partials.remove_old: declare_path: \"$S\" is not in plugins.plans.paths_allow (healerd.conf): add \"$S\" to allow it' <<<'$out'"
cat >"$T/plans.d/zz-bad.conf" <<'BAD'
checks = (
  { name = "x"; type = "tcp"; host = "127.0.0.1"; port = 1;
    intervl_s = 5; }
);
plans = (
  { name = "core"; match = { type = "check_failed"; };
    steps = ( { name = "w"; write = "/proc/sys/kernel/core_pattern"; value = "|/bin/sh"; } ); }
);
BAD
MODE=dry-run write_config "$T/healerd.conf" "$PDIR" "$POL"
out=$("$HEALERD" --check-config -c "$T/healerd.conf" 2>&1) && rc=0 || rc=$?
echo "$out" | grep zz-bad || true
check "--check-config: a bad file fails the check (exit 2)" [ "$rc" = 2 ]
check "--check-config: unknown key with its line and the nearest name" bash -c "grep -q 'zz-bad.conf:3: check x: unknown key \"intervl_s\" (did you mean \"interval_s\"?)' <<<'$out'"
check "--check-config: core_pattern refused by the rules, no setting allows it" bash -c "grep -q 'zz-bad.conf:7: plan core: step w.write: write to proc/sys/kernel/core_pattern refused: protected' <<<'$out'"
check "--check-config: the good file has no problem now" bash -c "! grep -q 'spool.conf' <<<'$out'"

# ---- dry-run: the agent starts anyway, refuses the bad file, plans the removal, removes nothing ----
fill
start_agent "$T/healerd.conf"
A="$T/state/audit.jsonl"
wait_for "the bad file is refused with FILE:LINE, the agent runs" 10 grep -q "zz-bad.conf:3: check x: unknown key" "$T/agent.log"
wait_for "the good file loads" 10 grep -q "2 file(s) (1 refused, .* problem(s)), 1 check(s), 1 of 1 plan(s)" "$T/agent.log"
dry() { get /api/v1/heals | jq -e '.heals[] | select(.target == "upload_spool" and .outcome == "dry_run")'; }
wait_for "dry-run: a heal recorded dry_run" 30 dry
check "dry-run: the removal was audited as a dry run" bash -c "jq -s -e '[.[] | select(.action == \"spool_clean_partials\" and .actuator == \"remove_old_files\" and .result == \"dry_run\")] | length > 0' '$A' >/dev/null"
check "dry-run: every file is still there" [ "$(ls "$S" | wc -l)" = 5 ]
check "agent stops cleanly" stop_agent

# ---- live: the partial uploads go first, and that is enough ----
rm -rf "$T/state" "$T/plans.d/zz-bad.conf"
MODE=live write_config "$T/healerd.conf" "$PDIR" "$POL"
check "--check-config accepts the config now" "$HEALERD" --check-config -c "$T/healerd.conf"
start_agent "$T/healerd.conf"
A="$T/state/audit.jsonl"
healed() { get /api/v1/heals | jq -e '.heals[] | select(.target == "upload_spool" and .outcome == "healed")'; }
wait_for "live: the heal is recorded healed" 30 healed
check "live: the partial uploads were removed" [ -z "$(ls "$S"/*.part 2>/dev/null)" ]
check "live: the finished files were kept (the first step was enough)" [ "$(ls "$S"/*.dat | wc -l)" = 2 ]
check "live: the removal audited ok" bash -c "jq -s -e '[.[] | select(.action == \"spool_clean_partials\" and .actuator == \"remove_old_files\" and .result == \"ok\")] | length > 0' '$A' >/dev/null"
resolved() { ! get /api/v1/issues | jq -e '.issues[] | select(.type == "check_failed")'; }
wait_for "live: the issue resolved" 15 resolved
check "agent stops cleanly" stop_agent
finish
