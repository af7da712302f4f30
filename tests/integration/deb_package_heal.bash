# deb_package_heal.bash — sourced by deb_package.sh once the package's agent runs in the booted
# container (not a test of its own: ctest runs tests/integration/*.sh). The agent is switched to
# live and made to heal through every kind of actuator under the hardened unit, each effect seen
# from outside the agent: the cpu plugin renices and SIGTERMs a busy loop of an ordinary user;
# plans.d steps signal a process, run a command (through the guard), write a sysctl (given back
# with `healctl undo`), remove old files under /var/tmp, and restart a unit over D-Bus; the disk
# plugin vacuums the journal in /run.
# Uses deb_package.sh's R, SYSROOT_INIT, T, check, ok, bad and sysroot_systemctl.

CX() { nsenter -t "$SYSROOT_INIT" -m -u -i -n -p -r -w "$@"; }  # a command inside the container
HT=/var/tmp/healtest           # the test's folder, as the container sees it
HTR="$R$HT"                    # ... and as this host sees it (the overlay)
AUD="$R/var/lib/healerd/audit.jsonl"
# aud FILTER [jq args]: some line of the container's audit log passes the filter.
aud() { local f=$1; shift; jq -se "$@" "[.[] | select($f)] | length > 0" "$AUD" >/dev/null 2>&1; }
# waitfor SECONDS CMD...: polls CMD every 0.2 s; true once it holds.
waitfor() {
  local n=$(( $1 * 5 )); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.2; n=$((n - 1)); done
  return 1
}
HEAL_T0=$SECONDS
# took WHAT: the seconds since the agent went live, for the timings at the end.
TOOK=""
took() { TOOK="$TOOK $1=$((SECONDS - HEAL_LIVE))s"; }

# ---- the scene: an ordinary user's processes, a unit, old files, the plans ------------------
CX useradd -u 1000 -M -d /nonexistent -s /usr/sbin/nologin healtest >/dev/null 2>&1
mkdir -p "$HTR/old" "$R/usr/local/bin" "$R/etc/healerd/plans.d"
chmod 1777 "$HTR"
# The hog records, when it gets SIGTERM, the nice value it was running at: the renice seen by
# the process itself, whatever this machine's load does to the timing of a poll.
cat >"$R/usr/local/bin/heal-hog" <<'SH'
#!/bin/sh
trap 'cut -d" " -f19 /proc/$$/stat >/var/tmp/healtest/hog.term; exit 0' TERM
while :; do :; done
SH
cat >"$R/usr/local/bin/heal-usr1" <<'SH'
#!/bin/sh
trap 'echo $$ >/var/tmp/healtest/usr1.got' USR1
while :; do sleep 0.2; done
SH
chmod 0755 "$R/usr/local/bin/heal-hog" "$R/usr/local/bin/heal-usr1"
cat >"$R/etc/systemd/system/heal-target.service" <<'UNIT'
[Unit]
Description=healerd test: a unit the agent restarts (its start marks the run it is)
[Service]
ExecStart=/bin/sh -c 'touch /var/tmp/healtest/unit.up; exec sleep infinity'
UNIT
# Two stale files of 1 MiB (the folder's check allows 1 MiB) and one the step's pattern keeps.
# Age cannot be faked: a file's newest time counts, its ctime too, so the step takes
# older_than_days = 0 (older than the step) and the pattern decides.
for f in a b; do head -c 1048576 /dev/zero >"$HTR/old/stale-$f.bin"; done
echo keep >"$HTR/old/keep.txt"
ttl() { CX cat /proc/sys/net/ipv4/ip_default_ttl; }
TTL0=$(ttl)
# The disk plugin's journal_vacuum on /run/log/journal (a default of journal_dirs: the journal
# of a host without /var/log/journal, or with Storage=volatile): journald moves to /run, its
# files there are archived, and /run is filled to 2 % (the plugin's thresholds below are 1 %).
CX journalctl --relinquish-var
CX systemd-cat -t healtest echo "a line for the volatile journal"
CX journalctl --rotate
RUNJ() { CX sh -c 'ls /run/log/journal/*/*@*.journal 2>/dev/null | wc -l'; }
NRUNJ0=$(RUNJ)
CX sh -c 'set -- $(df -k --output=size,used /run | tail -1); need=$(( $1 / 50 - $2 )); [ "$need" -le 0 ] || head -c "${need}k" /dev/zero >/run/healtest.fill'
CX systemctl daemon-reload
CX systemctl start heal-target.service
# Ordinary user processes as a login session would hold them: uid 1000, in user.slice (a
# process in system.slice is a system process, which no default lets the agent touch).
CX systemd-run --quiet --uid=healtest --slice=user.slice --unit=heal-hog /usr/local/bin/heal-hog
CX systemd-run --quiet --uid=healtest --slice=user.slice --unit=heal-usr1 /usr/local/bin/heal-usr1
cprop() { CX systemctl show -p "$2" --value "$1"; }
HOG=$(cprop heal-hog.service MainPID)
USR1=$(cprop heal-usr1.service MainPID)
INV0=$(cprop heal-target.service InvocationID)
TPID0=$(cprop heal-target.service MainPID)
check "the scene is set: hog $HOG and heal-usr1 $USR1 run as uid 1000, heal-target is active, $NRUNJ0 archived journal file(s) in /run" \
  sh -c "[ '${HOG:-0}' -gt 0 ] && [ '${USR1:-0}' -gt 0 ] && [ \"\$(nsenter -t $SYSROOT_INIT -p -r stat -c %u /proc/$HOG)\" = 1000 ] && [ -n '$INV0' ] && [ -e '$HTR/unit.up' ] && [ '$TTL0' != 77 ] && [ '${NRUNJ0:-0}' -gt 0 ]"
rm -f "$HTR/unit.up"   # from now on its check fails: the plan restarts the unit

# Each check fails until its plan's step has had its effect; the verify is the check passing.
# (A file check needs an age or a size: a day's age, so that only a missing file fails.)
cat >"$R/etc/healerd/plans.d/healtest.conf" <<'CONF'
checks = (
  { name = "t_signal"; type = "file"; path = "/var/tmp/healtest/usr1.got"; max_age_s = 86400; interval_s = 0.5; },
  { name = "t_run"; type = "file"; path = "/var/tmp/healtest/run.done"; max_age_s = 86400; interval_s = 0.5; },
  { name = "t_write"; type = "command"; interval_s = 0.5;
    argv = ["/bin/sh", "-c", "[ ! -e /var/tmp/healtest/write.go ] || [ \"$(cat /proc/sys/net/ipv4/ip_default_ttl)\" = 77 ]"]; },
  { name = "t_remove"; type = "file"; path = "/var/tmp/healtest/old"; max_size_mb = 1; interval_s = 0.5; },
  { name = "t_unit"; type = "file"; path = "/var/tmp/healtest/unit.up"; max_age_s = 86400; interval_s = 0.5; }
);
plans = (
  { name = "hs"; match = { type = "check_failed"; target = "t_signal"; };
    steps = ( { name = "usr1"; signal = "USR1"; process = "heal-usr1"; settle_s = 1; } ); },
  { name = "hr"; match = { type = "check_failed"; target = "t_run"; };
    steps = ( { name = "cmd"; settle_s = 0;
      run = ["/bin/sh", "-c", "{ cat /proc/$PPID/comm; cut -d' ' -f19 /proc/$$/stat; cat /proc/$$/oom_score_adj; } >/var/tmp/healtest/run.tmp && mv /var/tmp/healtest/run.tmp /var/tmp/healtest/run.done"]; } ); },
  { name = "hw"; match = { type = "check_failed"; target = "t_write"; };
    steps = ( { name = "ttl"; write = "/proc/sys/net/ipv4/ip_default_ttl"; value = "77"; auto = true; settle_s = 0; } ); },
  { name = "hd"; match = { type = "check_failed"; target = "t_remove"; };
    steps = ( { name = "old"; remove_old = "/var/tmp/healtest/old"; pattern = "stale-*"; older_than_days = 0; auto = true; settle_s = 0; } ); },
  { name = "hu"; match = { type = "check_failed"; target = "t_unit"; };
    steps = ( { name = "restart"; restart_unit = "heal-target.service"; timeout_s = 30; settle_s = 1; } ); }
);
CONF

# ---- live: the operator's edit of the installed file, then `systemctl reload` -----------------
# cpu: low thresholds over a short window so the one hog (a core of this machine's two) raises
# cpu_high within seconds; critical and the governor out of reach, so the ladder is the renice,
# then (the CPU still high) the stop; the hog is named killable, as the share a loaded machine
# leaves it may fall short of stop_min_percent. disk: /run only, whose 2 % is past every
# threshold that leads to journal_vacuum. The plugins with nothing to do here stay dry-run.
CONF="$R/etc/healerd/healerd.conf"
sed -i -e 's/^  mode = "dry-run";/  mode = "live";/' \
  -e 's/^  interval = 5.0;/  interval = 1.0;/' \
  -e 's/^  max_heals_per_hour = 10;/  max_heals_per_hour = 100;/' \
  -e 's/^  cooldown_minutes = 5;/  cooldown_minutes = 0;/' \
  -e 's/^  cpu = { enabled = true; auto_stop = false; };/  cpu = { enabled = true; auto_stop = true; interval = 1.0; high_percent = 30.0; high_seconds = 3.0; critical_percent = 100.0; critical_seconds = 3600.0; clear_seconds = 2.0; renice_percent = 30.0; renice_min_percent = 5.0; stop_percent = 30.0; stop_min_percent = 50.0; killable = ["heal-hog"]; grace_seconds = 3.0; settle_seconds = 3.0; governor_percent = 100.0; };/' \
  -e 's|^  disk = { enabled = true; };|  disk = { enabled = true; interval = 1.0; mounts = ["/run"]; high_percent = 1.0; critical_percent = 100.0; log_percent = 1.0; tmp_percent = 100.0; generations_percent = 100.0; nix_gc_percent = 100.0; auto_logs = true; journal_vacuum_time = "1s"; };|' \
  -e 's/^  \(thermal\|memory\|nixconfig\|network\) = { enabled = true; };/  \1 = { enabled = true; mode = "dry-run"; };/' \
  -e 's|^  network = \(.*\)$|  network = \1\n  plans = { paths_allow = ["/var/tmp/healtest/old"]; write_allow = ["proc/sys/net/ipv4/ip_default_ttl"]; allow_auto = true; };|' \
  "$CONF"
check "the edited config is live, with the test's cpu and plans sections" \
  sh -c "grep -q '^  mode = \"live\";' '$CONF' && grep -q 'killable = \[\"heal-hog\"\]' '$CONF' && grep -q '^  plans = {' '$CONF' && [ \$(grep -c 'mode = \"dry-run\"; };' '$CONF') = 4 ] && grep -q 'mounts = \[\"/run\"\]' '$CONF'"
LIVEPID=$(prop MainPID)
# What happens from the reload on is this section's: earlier dry-run lines and warnings are not.
AUDN=$(wc -l <"$AUD")
SINCE=$(CX date '+%Y-%m-%d %H:%M:%S')
rrc=0; sysroot_systemctl reload healerd.service >"$T/reload-live.out" 2>&1 || rrc=$?
HEAL_LIVE=$SECONDS
check "systemctl reload takes the live config (exit $rrc)" [ "$rrc" = 0 ]
sed 's/^/# reload: /' "$T/reload-live.out"
[ "$rrc" = 0 ] || J | tail -20 | sed 's/^/# journal: /'
check "the same agent, now live" [ "$(prop MainPID)" = "$LIVEPID" ]
plansd_read() { J | grep -q "plans.d: 1 file(s) (0 refused, 0 problem(s)), 5 check(s), 5 of 5 plan(s)"; }
check "plans.d read: 5 checks, 5 plans, nothing refused" waitfor 15 plansd_read
# Without a live agent every wait below would only time out (minutes of it).
if [ "$rrc" != 0 ] || [ "$(prop MainPID)" != "$LIVEPID" ] || ! plansd_read; then
  bad "the heal section needs the live agent: skipped"
  return 0
fi

# ---- what each heal did, from outside the agent -----------------------------------------------
# The cpu plugin: renice, then SIGTERM.
nice_of() { CX cut -d' ' -f19 "/proc/$1/stat" 2>/dev/null; }
hog_niced() { [ "$(nice_of "$HOG")" = 10 ] || [ "$(cat "$HTR/hog.term" 2>/dev/null)" = 10 ]; }
check "the hog's nice is 10 (seen in /proc or by the hog when it got SIGTERM)" waitfor 60 hog_niced
took renice
check "audit: cpu renice of the hog to 10, ok" \
  aud '.plugin == "cpu" and .actuator == "renice" and .result == "ok" and .params.pid == $p and .params.nice == 10' --argjson p "$HOG"
hog_termed() { [ -s "$HTR/hog.term" ]; }
check "the hog got SIGTERM (its trap ran)" waitfor 60 hog_termed
took sigterm
check "... and it had been running at nice 10 ($(cat "$HTR/hog.term" 2>/dev/null))" \
  [ "$(cat "$HTR/hog.term" 2>/dev/null)" = 10 ]
check "audit: cpu signal 15 to the hog, ok" \
  aud '.plugin == "cpu" and .actuator == "signal" and .result == "ok" and .params.pid == $p and .params.signal == 15' --argjson p "$HOG"
hog_gone() { [ "$(cprop heal-hog.service ActiveState)" != active ]; }
check "the hog's unit is no longer active" waitfor 10 hog_gone

# plans: a signal step (USR1, not an ending signal: no confirmation).
usr1_got() { [ "$(cat "$HTR/usr1.got" 2>/dev/null)" = "$USR1" ]; }
check "heal-usr1 (pid $USR1) got SIGUSR1" waitfor 30 usr1_got
took usr1
check "audit: plans hs_usr1 signal 10 to pid $USR1, ok" \
  aud '.action == "hs_usr1" and .actuator == "signal" and .result == "ok" and .params.pid == $p and .params.signal == 10' --argjson p "$USR1"
check "heal-usr1 still runs" [ "$(cprop heal-usr1.service MainPID)" = "$USR1" ]

# plans: a run step; the command's parent is the guard, and the command is not at the agent's
# nice -5 / oom_score_adj -900.
ran() { [ -s "$HTR/run.done" ]; }
check "the run step's command ran" waitfor 30 ran
took run
sed 's/^/# run.done: /' "$HTR/run.done" 2>/dev/null
check "its parent was healerd-guard, its nice 0, its oom_score_adj 0" \
  [ "$(tr '\n' ' ' 2>/dev/null <"$HTR/run.done")" = "healerd-guard 0 0 " ]
check "audit: plans hr_cmd run, ok" aud '.action == "hr_cmd" and .actuator == "run" and .result == "ok"'

# plans: old files removed under /var/tmp (ReadWritePaths=/var).
removed() { [ ! -e "$HTR/old/stale-a.bin" ] && [ ! -e "$HTR/old/stale-b.bin" ]; }
check "the old files are gone" waitfor 30 removed
took remove
check "the file the pattern does not match is kept" [ -e "$HTR/old/keep.txt" ]
check "audit: plans hd_old remove_old_files, ok" aud '.action == "hd_old" and .actuator == "remove_old_files" and .result == "ok"'

# plans: restart_unit, the service plugin's busctl RestartUnit through act_run.
restarted_unit() { [ -e "$HTR/unit.up" ] && [ "$(cprop heal-target.service InvocationID)" != "$INV0" ]; }
check "heal-target was restarted (a new InvocationID)" waitfor 45 restarted_unit
took restart_unit
check "heal-target is active with a new main process" \
  sh -c "[ \"\$(nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w systemctl is-active heal-target)\" = active ] && [ \"\$(nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w systemctl show -p MainPID --value heal-target)\" != '$TPID0' ]"
check "audit: service busctl RestartUnit heal-target.service, ok" \
  aud '.plugin == "service" and .actuator == "run" and .result == "ok" and (.params.argv | join(" ") | contains("RestartUnit")) and (.params.argv | join(" ") | contains("heal-target"))'

# plans: a sysctl write (the container's own network namespace: nspawn leaves /proc/sys/net
# writable there and nothing else of /proc/sys), then given back by `healctl undo`.
touch "$HTR/write.go"
ttl77() { [ "$(ttl)" = 77 ]; }
check "net.ipv4.ip_default_ttl written: 77" waitfor 30 ttl77
took write
check "audit: plans hw_ttl write_file, ok" \
  aud '.action == "hw_ttl" and .actuator == "write_file" and .result == "ok" and .params.path == "/proc/sys/net/ipv4/ip_default_ttl"'
HW=$(jq -rs '[.[] | select(.action == "hw_ttl" and .actuator == "write_file" and .result == "ok")][0].heal_id' "$AUD" 2>/dev/null)
rm -f "$HTR/write.go"
sleep 1.5   # the check passes whatever the value now: the undo is not healed again
urc=0; CX healctl undo "$HW" >"$T/undo.out" 2>&1 || urc=$?
sed 's/^/# healctl undo: /' "$T/undo.out"
check "healctl undo $HW exits 0 ($urc)" [ "$urc" = 0 ]
check "the sysctl is back to $TTL0" [ "$(ttl)" = "$TTL0" ]
check "audit: the undo's write, ok" \
  aud '.plugin == "operator" and .action == "undo" and .heal_id == $h and .actuator == "write_file" and .result == "ok"' --argjson h "${HW:-0}"

# disk: journalctl --vacuum-time=1s -D /run/log/journal, run by the agent. journalctl only warns
# when it cannot delete a file (and exits 0): the files must be gone.
vacuumed() { [ "$(RUNJ)" = 0 ]; }
check "the archived journal files in /run/log/journal are gone" waitfor 30 vacuumed
took journal_vacuum
check "audit: disk journal_vacuum ran journalctl on /run/log/journal, ok, and it deleted a file" \
  aud '.plugin == "disk" and .action == "journal_vacuum" and .actuator == "run" and .result == "ok" and (.params.argv | any(. == "/run/log/journal")) and (.params.output_head // "" | test("Deleted archived journal"))'
jq -r 'select(.plugin == "disk" and .actuator == "run") | .params.output_head // empty' "$AUD" |
  grep -m 3 'Deleted\|Failed' | sed 's/^/# journalctl: /'
CX rm -f /run/healtest.fill
CX journalctl --flush

# ---- nothing refused or failed under the unit ---------------------------------------------------
# (dry_run only from the plugins left in dry-run above.)
BADA=$(tail -n +$((AUDN + 1)) "$AUD" | jq -c 'select(.actuator != null and .result != "ok" and
  (.result != "dry_run" or .plugin == "cpu" or .plugin == "plans" or .plugin == "service" or .plugin == "operator"))' 2>/dev/null)
# A blocked action is retried every cycle here (cooldown 0): the first few lines say it all.
[ -z "$BADA" ] || echo "$BADA" | jq -r '"\(.plugin) \(.action) \(.actuator): \(.result): \(.message)"' |
  awk '!seen[$0]++' | head -8 | sed 's/^/# audit not ok: /'
check "no actuator line failed or was refused" [ -z "$BADA" ]
check "every plans.d heal recorded healed" \
  sh -c "[ \$(jq -s '[.[] | select(.plugin == \"plans\" and .actuator == null and .result == \"healed\") | .action] | unique | length' '$AUD') = 5 ]"
DENIED=$(J --since "$SINCE" | grep -i 'Operation not permitted\|Read-only file system\|Permission denied')
[ -z "$DENIED" ] || echo "$DENIED" | tail -8 | sed 's/^/# journal: /'
check "the journal since the reload shows no EPERM, read-only or permission error" [ -z "$DENIED" ]
echo "# heal section: $((SECONDS - HEAL_T0)) s in all; from the reload (s):$TOOK"
CX systemctl stop heal-usr1.service heal-target.service 2>/dev/null
