#!/usr/bin/env bash
# deb_package.sh — the Debian package as an operator gets it (issue #14): dpkg-buildpackage on a
# copy of the tree, the staged `cmake --install` layout for --prefix /usr, lintian, then the .deb
# installed into an overlay of the project's debootstrapped Debian 12 root, whose own systemd is
# booted under systemd-nspawn (tests/lib/systemd-root.sh; the host's systemd is never touched).
# There: Type=notify reaches active, the watchdog restarts a hung (SIGSTOPped) agent, reload runs
# --check-config and refuses a bad file, the journal carries priorities, and
# `systemd-analyze security` rates the unit at most 5.0. Then the agent goes live and heals
# through every kind of actuator under that unit (deb_package_heal.bash: renice, signals, a
# command, a sysctl write and its undo, old files removed, a unit restarted over D-Bus).
# Takes a few minutes (package build, apt in the overlay, a 30 s watchdog). Exit 77 only when
# the tools or the root cannot be had.
set -uo pipefail
: "${SRC:?SRC must point at the source tree}"
: "${BUILD:?BUILD must point at the build tree}"

if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (overlay mount, nspawn)"; exit 77; fi
# The package is built from the source by dpkg-buildpackage, not from this build tree: under
# `make asan` this test would build and boot the same package a second time (9 minutes) and
# test nothing the sanitizers see.
case "${HEALER_SANITIZE:-}" in ON|on|1|TRUE|true) echo "SKIP: the sanitizer build (the package test runs under make test)"; exit 77 ;; esac
for t in dpkg-buildpackage dh lintian debootstrap systemd-nspawn nsenter busctl; do
  command -v "$t" >/dev/null || { echo "SKIP: $t not installed (scripts/install-deps.sh)"; exit 77; }
done
. "$SRC/tests/lib/systemd-root.sh"
rc=0; sysroot_build || rc=$?
if [ "$rc" = 77 ]; then echo "SKIP: the Debian root cannot be built here"; exit 77; fi

. "$SRC/tests/lib/testtmp.sh"
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healer-deb.XXXXXX")
trap 'sysroot_stop; rm -rf "$T"' EXIT
PASS=0
FAIL=0
ok()  { PASS=$((PASS+1)); echo "ok - $*"; }
bad() { FAIL=$((FAIL+1)); echo "not ok - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else bad "$d"; fi; }
finish() { echo "$PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ] || exit 1; exit 0; }
die() { bad "$*"; finish; }

# ---- 1. build the packages from a copy (the source tree stays clean) -------------------------
VER=$(sed -n '1s/^healerd (\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
S="$T/src/healerd-$VER"
mkdir -p "$S"
tar -C "$SRC" --exclude=./.git --exclude='./build*' -cf - . | tar -C "$S" -xf -
echo "# dpkg-buildpackage -us -uc -b in $S"
if ! (cd "$S" && dpkg-buildpackage -us -uc -b -j2) >"$T/build.log" 2>&1; then
  tail -40 "$T/build.log"
  die "dpkg-buildpackage -us -uc -b"
fi
ok "dpkg-buildpackage -us -uc -b"
DEB=$(ls "$T/src"/healerd_"$VER"_*.deb 2>/dev/null | head -1)
DEV=$(ls "$T/src"/healerd-dev_"$VER"_*.deb 2>/dev/null | head -1)
check "healerd and healerd-dev .debs built" test -f "$DEB" -a -f "$DEV"

# ---- 2. the staged install: `cmake --install` with DESTDIR and --prefix /usr ------------------
D="$S/debian/tmp"
for f in etc/healerd/healerd.conf etc/logrotate.d/healerd usr/bin/healerd usr/bin/healctl \
         usr/bin/healerd-plugin usr/lib/healerd/plugins/cpu.so usr/share/man/man8/healerd.8 \
         usr/share/man/man5/healerd.conf.5 usr/share/doc/healerd/http-api.md \
         usr/share/doc/healerd/plugins/cpu.md usr/include/healer/healer.h \
         usr/lib/pkgconfig/healer-sdk.pc usr/lib/pkgconfig/healer-mock.pc; do
  check "prefix /usr installs $f" test -e "$D/$f"
done
check "no /usr/etc for prefix /usr" test ! -e "$D/usr/etc"
UNIT=$(find "$D" -name healerd.service | head -1)
check "unit installed in systemd's unit dir ($(pkg-config --variable=systemdsystemunitdir systemd))" \
  test "$UNIT" = "$D$(pkg-config --variable=systemdsystemunitdir systemd)/healerd.service"
check "unit: ExecStart=/usr/bin/healerd -c /etc/healerd/healerd.conf" \
  grep -qx 'ExecStart=/usr/bin/healerd -c /etc/healerd/healerd.conf' "$UNIT"
check "installed config: plugin_dir = /usr/lib/healerd/plugins" \
  grep -q '^  plugin_dir = "/usr/lib/healerd/plugins";' "$D/etc/healerd/healerd.conf"
check "installed config is dry-run" grep -q '^  mode = "dry-run";' "$D/etc/healerd/healerd.conf"
PCINC=$(PKG_CONFIG_PATH="$D/usr/lib/pkgconfig" pkg-config --variable=includedir healer-sdk)
check "healer-sdk.pc's includedir resolves to the staged usr/include ($PCINC)" \
  [ "$(realpath -m "$PCINC")" = "$D/usr/include" ]

# ---- 3. lintian -------------------------------------------------------------------------------
CHANGES=$(ls "$T/src"/healerd_"$VER"_*.changes | head -1)
lintian --fail-on error,warning "$CHANGES" >"$T/lintian.log" 2>&1
lrc=$?
sed 's/^/# lintian: /' "$T/lintian.log"
check "lintian: no error or warning" [ "$lrc" = 0 ]

# ---- 4. contents and maintainer scripts -------------------------------------------------------
dpkg-deb -c "$DEB" >"$T/contents"
check "healerd.deb: /etc/healerd/healerd.conf is a conffile" \
  sh -c "dpkg-deb -e '$DEB' '$T/ctl' && grep -qx /etc/healerd/healerd.conf '$T/ctl/conffiles'"
for f in ./etc/healerd/healerd.conf ./etc/logrotate.d/healerd ./usr/bin/healerd ./usr/bin/healctl \
         ./usr/bin/healerd-plugin ./usr/lib/healerd/plugins/cpu.so ./usr/share/man/man8/healerd.8.gz \
         ./usr/share/doc/healerd/http-api.md; do
  check "healerd.deb holds $f" grep -Eq " $f(\.gz)?\$" "$T/contents"
done
check "healerd.deb holds the unit" grep -q '/systemd/system/healerd.service$' "$T/contents"
check "healerd.deb depends on libcurl4 (dlopened, not seen by shlibdeps)" \
  sh -c "dpkg-deb -f '$DEB' Depends | grep -q 'libcurl4'"
dpkg-deb -c "$DEV" >"$T/contents-dev"
check "healerd-dev.deb has headers, .pc files and the mock library" \
  sh -c "grep -q ./usr/include/healer/plugin.h '$T/contents-dev' && grep -q healer-sdk.pc '$T/contents-dev' && grep -q libhealer_mock.a '$T/contents-dev'"

# ---- 5. install into the overlay of the Debian root (with the network: apt fetches the deps) --
sysroot_prepare "$T/sysroot"
R="$SYSROOT_DIR/root"
# Not /tmp: nspawn mounts a fresh tmpfs there.
mkdir -p "$R/root/debs"
cp "$DEB" "$DEV" "$R/root/debs/"
nspawn_run() {
  systemd-nspawn -q --register=no --keep-unit -D "$R" "$@"
}
echo "# apt-get install ./healerd*.deb inside the overlay (not booted)"
if ! nspawn_run sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      /root/debs/$(basename "$DEB") /root/debs/$(basename "$DEV")" >"$T/apt.log" 2>&1; then
  tail -30 "$T/apt.log"
  die "apt-get install of the .debs in the Debian root"
fi
ok "apt-get installs healerd and healerd-dev (and their dependencies)"
check "postinst made /etc/healerd/token, mode 0600, 64 hex digits" \
  sh -c "[ \"\$(stat -c %a '$R/etc/healerd/token')\" = 600 ] && grep -Eqx '[0-9a-f]{64}' '$R/etc/healerd/token'"
check "the unit is enabled" test -L "$R/etc/systemd/system/multi-user.target.wants/healerd.service"
check "installing started no agent" sh -c "! grep -q 'Starting\|Started healerd' '$T/apt.log'"
TOKEN1=$(cat "$R/etc/healerd/token")
gtrc=0; nspawn_run healerd --gen-token /etc/healerd/token >"$T/gt.log" 2>&1 || gtrc=$?
check "healerd --gen-token refuses to overwrite the token (exit $gtrc)" \
  sh -c "[ $gtrc = 1 ] && grep -q 'not overwritten' '$T/gt.log' && [ \"\$(cat '$R/etc/healerd/token')\" = '$TOKEN1' ]"

# ---- 6. boot the root's systemd ---------------------------------------------------------------
sysroot_start || die "the Debian root boots under systemd-nspawn"
check "the container's systemd finished booting" sysroot_wait_running
state() { sysroot_state healerd.service; }
prop() { sysroot_systemctl show -p "$1" --value healerd.service; }
wait_active() {
  local i
  for i in $(seq 1 "$1"); do [ "$(state)" = active ] && return 0; sleep 1; done
  return 1
}
check "healerd.service reaches active (enabled: started at boot)" wait_active 60
check "through Type=notify" [ "$(prop Type)" = notify ]
check "its main process is healerd" sh -c "nsenter -t $SYSROOT_INIT -p -r cat /proc/\$(nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w systemctl show -p MainPID --value healerd)/comm | grep -qx healerd"
if [ "$(state)" != active ]; then
  sysroot_systemctl status healerd --no-pager -l 2>&1 | tail -30 | sed 's/^/# /'
  die "healerd.service is not active in the container"
fi
sysroot_systemctl status healerd --no-pager 2>&1 | head -12 | sed 's/^/# /'

# The agent under the hardened unit: every built-in plugin that applies here must load.
# (thermal finds no sensors, nixconfig no NixOS: either may be refused for that reason only.)
PLUGINS=$(nsenter -t "$SYSROOT_INIT" -m -u -i -n -p -r -w healctl --json plugins 2>&1)
nsenter -t "$SYSROOT_INIT" -m -u -i -n -p -r -w healctl plugins 2>&1 | sed 's/^/# healctl plugins: /'
BADP=$(echo "$PLUGINS" | jq -r '(.plugins // .)[] | select(.state == "refused" or .state == "failed") | .name' 2>/dev/null | tr '\n' ' ')
check "no plugin refused or failed (${BADP:-none})" [ -z "$BADP" ]
for p in cpu memory disk service network; do
  st=$(echo "$PLUGINS" | jq -r --arg p "$p" '(.plugins // .)[] | select(.name == $p) | .state' 2>/dev/null)
  check "plugin $p runs under the hardened unit (state ${st:-none})" \
    sh -c "[ -n '$st' ] && [ '$st' != refused ] && [ '$st' != failed ]"
done

# ---- 7. the watchdog restarts a hung agent ----------------------------------------------------
PID1=$(prop MainPID)
NR1=$(prop NRestarts)
sysroot_systemctl kill --kill-who=main --signal=SIGSTOP healerd.service
echo "# SIGSTOP sent to the agent (main pid $PID1 in the container); WatchdogSec=30s"
restarted() {
  local i
  for i in $(seq 1 120); do
    if [ "$(prop NRestarts)" -gt "$NR1" ] && [ "$(state)" = active ] && [ "$(prop MainPID)" != "$PID1" ]; then
      return 0
    fi
    sleep 1
  done
  return 1
}
check "the watchdog killed the hung agent and systemd restarted it" restarted
check "the journal says why (watchdog timeout)" sh -c "nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w journalctl --no-pager -u healerd | grep -qi 'watchdog timeout'"

# ---- 8. reload checks the config first -------------------------------------------------------
PID2=$(prop MainPID)
CONF="$R/etc/healerd/healerd.conf"
cp "$CONF" "$T/good.conf"
sed -i 's/^  interval = 5.0;/  interval = "five";/' "$CONF"
check "the bad file really differs" sh -c "! cmp -s '$CONF' '$T/good.conf'"
rrc=0; sysroot_systemctl reload healerd.service >"$T/reload.out" 2>&1 || rrc=$?
check "systemctl reload refuses the bad file (exit $rrc)" [ "$rrc" != 0 ]
check "the agent runs on: active, same pid" sh -c "[ \"\$(nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w systemctl is-active healerd)\" = active ] && [ \"\$(nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w systemctl show -p MainPID --value healerd)\" = '$PID2' ]"
check "the journal names the file and line of the problem" sh -c \
  "nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w journalctl --no-pager -u healerd | grep -q '/etc/healerd/healerd.conf:[0-9]*:.*interval'"
# The agent's own refusal (SIGHUP with the bad file, bypassing ExecReload): logged as a warning
# or an error, and the agent goes on.
sysroot_systemctl kill --kill-who=main --signal=SIGHUP healerd.service
sleep 2
check "after a direct SIGHUP with the bad file the agent still runs (same pid)" \
  [ "$(prop MainPID)" = "$PID2" ]
cp "$T/good.conf" "$CONF"
check "systemctl reload with the good file succeeds" sysroot_systemctl reload healerd.service
check "still the same agent" [ "$(prop MainPID)" = "$PID2" ]

# ---- 9. journal priorities --------------------------------------------------------------------
J() { nsenter -t "$SYSROOT_INIT" -m -u -i -n -p -r -w journalctl --no-pager -o cat -u healerd "$@" 2>/dev/null; }
NWARN=$(J -p warning | grep -vc '^healerd.service\|^Started\|^Stopped\|watchdog\|Watchdog\|Main process\|Failed with\|Scheduled restart\|Starting\|Reloading\|Reloaded\|Control process\|reload' || true)
J -p warning | tail -5 | sed 's/^/# journalctl -p warning: /'
check "journalctl -u healerd -p warning shows the agent's own warning lines ($NWARN)" [ "$NWARN" -gt 0 ]
NALL=$(J | wc -l)
NINFO=$(J -p info | wc -l)
check "info lines are not warnings: -p warning ($(J -p warning | wc -l)) < -p info ($NINFO)" \
  [ "$(J -p warning | wc -l)" -lt "$NINFO" ]
check "no line keeps a raw <N> priority prefix" sh -c "! nsenter -t $SYSROOT_INIT -m -u -i -n -p -r -w journalctl --no-pager -o cat -u healerd | grep -q '^<[0-7]>'"
: "$NALL"

# ---- 10. systemd-analyze security -------------------------------------------------------------
nsenter -t "$SYSROOT_INIT" -m -u -i -n -p -r -w systemd-analyze security --no-pager healerd.service \
  >"$T/security.txt" 2>&1
EXPO=$(sed -n 's/.*Overall exposure level for healerd.service: \([0-9.]*\).*/\1/p' "$T/security.txt")
echo "# systemd-analyze security healerd: exposure $EXPO"
check "systemd-analyze security: exposure ${EXPO:-?} <= 5.0" \
  awk -v e="${EXPO:-99}" 'BEGIN { exit !(e <= 5.0) }'

# ---- 11. live: every kind of heal, under the unit ---------------------------------------------
. "$SRC/tests/integration/deb_package_heal.bash"

finish
