#!/usr/bin/env bash
# Unit failure -> issue -> healed, for the service plugin against a REAL systemd (an isolated root
# under systemd-nspawn, tests/lib/systemd-root.sh), next to Monit at its shortest cycle (1 s) on
# the same kind of failure in the same run: each round SIGKILLs the main process of bench-a
# (watched by healerd) and bench-b (watched by Monit through a `check program` running busctl
# against the container's bus), back to back. Then the idle cost of the plugin. Numbers only.
# usage: bench/service_fault.sh [BUILD] [ROUNDS] [IDLE_SECONDS]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
ROUNDS=${2:-40}
IDLE_S=${3:-30}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/tests/lib/systemd-root.sh"
rc=0; sysroot_build || rc=$?
[ "$rc" = 0 ] || { echo "SKIP: no isolated systemd root"; exit 77; }
command -v monit >/dev/null || { echo "SKIP: monit is not installed"; exit 77; }
. "$(dirname "$0")/../tests/lib/testtmp.sh"   # the loader refuses a plugin_dir below /tmp
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healerd-svcbench.XXXXXX")
chmod 755 "$T"
AGENT=; MONIT=
finish() {
  [ -n "$MONIT" ] && { kill "$MONIT" 2>/dev/null || true; wait "$MONIT" 2>/dev/null || true; }
  [ -n "$AGENT" ] && { kill "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true; }
  sysroot_stop
  rm -rf "$T"
}
trap finish EXIT

sysroot_prepare "$T/sysroot"
d="$SYSROOT_DIR/root/etc/systemd/system"
mkdir -p "$d/multi-user.target.wants"
for u in bench-a bench-b; do
  printf '[Unit]\nDescription=healerd bench %s\n[Service]\nExecStart=/bin/sleep infinity\n' "$u" >"$d/$u.service"
  ln -sf "../$u.service" "$d/multi-user.target.wants/$u.service"
done
sysroot_start
sysroot_wait_running
BUSADDR="unix:path=$SYSROOT_BUS"
B() { busctl --address="$BUSADDR" "$@"; }
prop() { # prop UNIT PROPERTY -> value (t as microseconds, s unquoted)
  B get-property org.freedesktop.systemd1 "/org/freedesktop/systemd1/unit/$(sysroot_bus_label "$1")" \
    org.freedesktop.systemd1.Unit "$2" | awk '{gsub(/"/,"",$2); print $2}'
}

# --- healerd, live, watching bench-a only ---
mkdir -p "$T/plugins" "$T/state"
install -m 0755 "$BUILD/plugins/service.so" "$T/plugins/"
cat >"$T/healerd.conf" <<CONF
agent = { mode = "live"; interval = 1.0; plugin_dir = "$T/plugins"; state_dir = "$T/state";
          log_level = "warn"; action_timeout = 30.0; };
limits = { max_heals_per_hour = 1000; cooldown_minutes = 0; min_health_for_auto = 0; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = { service = { isolation = "thread"; bus_address = "$BUSADDR"; units = ["bench-a.service"];
                        flap_failures = 1000; verify_window_s = 0.2; }; };
CONF
"$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/agent.log" &
AGENT=$!

# --- Monit at its shortest cycle, watching bench-b ---
cat >"$T/check.sh" <<SH
#!/bin/sh
[ "\$(busctl --address=$BUSADDR get-property org.freedesktop.systemd1 /org/freedesktop/systemd1/unit/bench_2db_2eservice org.freedesktop.systemd1.Unit ActiveState)" = 's "active"' ]
SH
cat >"$T/heal.sh" <<SH
#!/bin/sh
date +%s.%N >>$T/monit.detect
exec busctl --address=$BUSADDR call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager RestartUnit ss bench-b.service replace
SH
chmod 755 "$T/check.sh" "$T/heal.sh"
cat >"$T/monitrc" <<RC
set daemon 1
set logfile $T/monit.log
set pidfile $T/monit.pid
set idfile $T/monit.id
set statefile $T/monit.state
check program bench_b with path "$T/check.sh" timeout 5 seconds
  if status != 0 then exec "$T/heal.sh"
RC
chmod 600 "$T/monitrc"
monit -I -c "$T/monitrc" >/dev/null 2>&1 &
MONIT=$!
sleep 3

open_issue() { curl -s "http://127.0.0.1:$PORT/api/v1/issues" | grep -q '"target": *"bench-a.service"' ; }
PORT=$(sed -n 's/.*port \([0-9]*\)).*/\1/p' "$T/agent.log" | tail -n1)
: >"$T/rounds"
for r in $(seq 1 "$ROUNDS"); do
  B call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager KillUnit ssi bench-a.service main 9 >/dev/null
  B call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager KillUnit ssi bench-b.service main 9 >/dev/null
  for _ in $(seq 100); do
    [ "$(prop bench-a.service ActiveState)" = active ] && [ "$(prop bench-b.service ActiveState)" = active ] && break
    sleep 0.1
  done
  echo "$(prop bench-a.service InactiveEnterTimestamp) $(prop bench-a.service ActiveEnterTimestamp)" \
       "$(prop bench-b.service InactiveEnterTimestamp) $(prop bench-b.service ActiveEnterTimestamp)" >>"$T/rounds"
  sleep 2.5   # Monit sees bench-b ok again; healerd closes the issue
done

# --- idle: the same agent, nothing failing, for IDLE_S seconds ---
kill "$MONIT"; wait "$MONIT" 2>/dev/null || true; MONIT=
hz=$(getconf CLK_TCK)
svc_tid=$(grep -lx hd-service /proc/$AGENT/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5 || true)
ticks() { awk '{print $14 + $15}' "$1"; }
a0=$(ticks /proc/$AGENT/stat); p0=$(ticks /proc/$AGENT/task/$svc_tid/stat); s0=$(date +%s.%N)
sleep "$IDLE_S"
a1=$(ticks /proc/$AGENT/stat); p1=$(ticks /proc/$AGENT/task/$svc_tid/stat); s1=$(date +%s.%N)
rss=$(awk '/^VmRSS/ {print $2}' /proc/$AGENT/status)
kill "$AGENT"; wait "$AGENT" 2>/dev/null || true; AGENT=

sqlite3 "$T/state/knowledge.db" "select detected_at, finished_at from heals where target = 'bench-a.service' and outcome = 'healed' order by id" | tr '|' ' ' >"$T/heals"
sort -n "$T/monit.detect" >"$T/monit.sorted" 2>/dev/null || : >"$T/monit.sorted"
python3 - "$T/rounds" "$T/heals" "$T/monit.sorted" <<'PY'
import sys
rounds = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
heals = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
mon = [float(l) for l in open(sys.argv[3]) if l.strip()]
def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
def show(name, v):
    if not v: print(f"{name}: no samples"); return
    print(f"{name}: n={len(v)} p50={pct(v,50)*1000:.1f} ms p99={pct(v,99)*1000:.1f} ms max={max(v)*1000:.1f} ms")
ai, ah, af, mi, mh = [], [], [], [], []
for (fa, aa, fb, ab) in rounds:
    fa, aa, fb, ab = fa / 1e6, aa / 1e6, fb / 1e6, ab / 1e6
    h = [x for x in heals if x[0] >= fa - 0.001 and x[0] < fa + 10]
    if h:
        ai.append(h[0][0] - fa); af.append(h[0][1] - fa)
    if aa > fa: ah.append(aa - fa)
    m = [x for x in mon if x >= fb and x < fb + 10]
    if m: mi.append(m[0] - fb)
    if ab > fb: mh.append(ab - fb)
print(f"rounds: {len(rounds)}")
show("healerd  failure -> issue on the bus", ai)
show("healerd  failure -> unit active again", ah)
show("healerd  failure -> heal recorded (after 0.2 s stable verify)", af)
show("monit 1s failure -> detected (exec)", mi)
show("monit 1s failure -> unit active again", mh)
PY
awk -v a0="$a0" -v a1="$a1" -v p0="$p0" -v p1="$p1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v rss="$rss" 'BEGIN {
  printf "idle (%.0f s, bus connected, nothing failing): agent CPU %.3f %%, service thread CPU %.3f %% of one core, agent RSS %.1f MiB\n",
         s1 - s0, 100 * (a1 - a0) / hz / (s1 - s0), 100 * (p1 - p0) / hz / (s1 - s0), rss / 1024 }'
