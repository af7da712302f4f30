# Builds, boots and stops an isolated systemd root for the service plugin's tests and bench.
# Source it: sysroot_build (once per machine, outside the repo), sysroot_boot DIR (a private
# overlay of the root, booted under systemd-nspawn), sysroot_stop (SIGRTMIN+3 to ITS init).
#
# Never boots anything on the machine's own root: a systemd that sees the real / runs tmpfiles
# and wipes /tmp for everyone. The shared root is read-only below an overlay per test, so tests
# running in parallel each get their own units and their own systemd.

SYSROOT=${HEALER_SYSTEMD_ROOT:-/var/tmp/healerd-systemd-root}
SYSROOT_MARK="$SYSROOT/.healerd-root-complete"
SYSROOT_MIRROR=${HEALER_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# sysroot_build: 0 when the root is ready, 77 when it cannot be built (no network, no tools).
sysroot_build() {
    if [ -e "$SYSROOT_MARK" ]; then return 0; fi
    for t in debootstrap systemd-nspawn flock; do
        if ! command -v "$t" >/dev/null 2>&1; then
            echo "sysroot: SKIP: $t is not installed (scripts/install-deps.sh)" >&2
            return 77
        fi
    done
    mkdir -p "$(dirname "$SYSROOT")"
    # One builder at a time: parallel tests wait for the first one's debootstrap.
    exec 9>"$SYSROOT.lock"
    flock 9
    if [ -e "$SYSROOT_MARK" ]; then exec 9>&-; return 0; fi
    local tmp="$SYSROOT.tmp"
    rm -rf "$tmp" "$SYSROOT"
    echo "sysroot: building $SYSROOT with debootstrap (about a minute, once)" >&2
    if ! debootstrap --variant=minbase --include=systemd,dbus bookworm "$tmp" "$SYSROOT_MIRROR" \
            >"$SYSROOT.log" 2>&1; then
        echo "sysroot: SKIP: debootstrap failed (no network?), see $SYSROOT.log" >&2
        rm -rf "$tmp"
        exec 9>&-
        return 77
    fi
    # No gettys (nspawn's console is read-only), its own hostname, a machine id.
    ln -sf /dev/null "$tmp/etc/systemd/system/console-getty.service"
    ln -sf /dev/null "$tmp/etc/systemd/system/getty@.service"
    echo healer-sysroot >"$tmp/etc/hostname"
    : >"$tmp/etc/machine-id"
    rm -rf "$tmp/var/cache/apt/archives/"*.deb
    mv "$tmp" "$SYSROOT"
    date -u +%FT%TZ >"$SYSROOT_MARK"
    exec 9>&-
    return 0
}

# sysroot_prepare DIR: overlays the root at DIR/root (upper layer in DIR), installs nothing
# (the caller writes units into DIR/root/etc/systemd/system before calling sysroot_start).
# DIR/dbus becomes the container's /run/dbus (sysroot_start binds it), so its system bus socket
# is a plain file on the host: a client connects as it would to /run/dbus/system_bus_socket,
# with no /proc/PID/root (which needs CAP_SYS_PTRACE over the container's init). DIR is below
# the test's temp dir (mode 0700, root's), so no other user of the host reaches that bus.
sysroot_prepare() {
    SYSROOT_DIR=$1
    mkdir -p "$SYSROOT_DIR/upper" "$SYSROOT_DIR/work" "$SYSROOT_DIR/root"
    # 0755 as Debian ships /run/dbus: the container's own clients (its dbus-daemon runs as
    # messagebus) look inside it; the 0700 parent keeps the host's other users out.
    mkdir -p -m 0755 "$SYSROOT_DIR/dbus"
    chmod 0700 "$SYSROOT_DIR"
    mount -t overlay overlay \
        -o "lowerdir=$SYSROOT,upperdir=$SYSROOT_DIR/upper,workdir=$SYSROOT_DIR/work" \
        "$SYSROOT_DIR/root"
}

# sysroot_start: boots DIR/root with DIR/dbus bound on its /run/dbus; sets SYSROOT_INIT (the
# container's init pid on the host) and SYSROOT_BUS (its system bus socket, DIR/dbus/
# system_bus_socket). Returns 1 when it does not come up.
sysroot_start() {
    SYSROOT_NSPAWN_PID=
    SYSROOT_INIT=
    SYSROOT_BUS=$SYSROOT_DIR/dbus/system_bus_socket
    systemd-nspawn --register=no --keep-unit --private-network --console=read-only \
        --bind="$SYSROOT_DIR/dbus:/run/dbus" \
        -D "$SYSROOT_DIR/root" --boot >"$SYSROOT_DIR/console.log" 2>&1 &
    SYSROOT_NSPAWN_PID=$!
    local i
    for i in $(seq 1 200); do
        # nspawn's first child forks the container's init and exits: take the child that
        # runs systemd.
        SYSROOT_INIT=$(pgrep -P "$SYSROOT_NSPAWN_PID" -x systemd 2>/dev/null | head -1 || true)
        if [ -n "$SYSROOT_INIT" ]; then
            if [ -S "$SYSROOT_BUS" ] &&
               busctl --address="unix:path=$SYSROOT_BUS" get-property org.freedesktop.systemd1 \
                   /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager SystemState \
                   >/dev/null 2>&1; then
                return 0
            fi
        fi
        if ! kill -0 "$SYSROOT_NSPAWN_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "sysroot: the container did not come up; console:" >&2
    tail -20 "$SYSROOT_DIR/console.log" >&2
    return 1
}

# sysroot_wait_running: waits until the container's boot finished (running or degraded).
sysroot_wait_running() {
    local i st
    for i in $(seq 1 300); do
        st=$(sysctl_bus get-property org.freedesktop.systemd1 /org/freedesktop/systemd1 \
             org.freedesktop.systemd1.Manager SystemState 2>/dev/null | awk '{print $2}')
        case "$st" in '"running"'|'"degraded"') return 0;; esac
        sleep 0.1
    done
    return 1
}

# sysctl_bus ARGS: busctl against the container's bus.
sysctl_bus() { busctl --address="unix:path=$SYSROOT_BUS" "$@"; }

# sysroot_systemctl ARGS: systemctl inside the container (its own binary, its own bus).
sysroot_systemctl() {
    nsenter -t "$SYSROOT_INIT" -m -u -i -n -p -r -w systemctl "$@"
}

# sysroot_stop: SIGRTMIN+3 to the container's init (ours), waits, then removes the overlay.
sysroot_stop() {
    if [ -n "${SYSROOT_INIT:-}" ] && kill -0 "$SYSROOT_INIT" 2>/dev/null; then
        kill -s RTMIN+3 "$SYSROOT_INIT" 2>/dev/null || true
    fi
    if [ -n "${SYSROOT_NSPAWN_PID:-}" ]; then
        local i
        for i in $(seq 1 150); do
            kill -0 "$SYSROOT_NSPAWN_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$SYSROOT_NSPAWN_PID" 2>/dev/null; then
            kill -KILL "$SYSROOT_NSPAWN_PID" 2>/dev/null || true
        fi
        wait "$SYSROOT_NSPAWN_PID" 2>/dev/null || true
    fi
    SYSROOT_INIT=
    SYSROOT_NSPAWN_PID=
    if [ -n "${SYSROOT_DIR:-}" ]; then
        if mountpoint -q "$SYSROOT_DIR/root"; then
            umount "$SYSROOT_DIR/root" 2>/dev/null || umount -l "$SYSROOT_DIR/root"
        fi
        rm -rf "$SYSROOT_DIR"
        SYSROOT_DIR=
    fi
}

# sysroot_install_test_units: the service plugin's test units, enabled in the overlay (before
# sysroot_start): svc-fail (fails once, then runs), svc-flap (Restart=always, dies every 0.3 s),
# svc-base/svc-dep (svc-dep Requires svc-base; both fail until /run/svc-base.ok exists),
# svc-reload (fails; the test fixes its file so it needs daemon-reload), svc-alt (always fails)
# with svc-alt-backup as its alternative.
sysroot_install_test_units() {
    local d="$SYSROOT_DIR/root/etc/systemd/system"
    local w="$d/multi-user.target.wants"
    mkdir -p "$w"
    cat >"$d/svc-fail.service" <<'UNIT'
[Unit]
Description=healerd test: fails on its first start only
[Service]
ExecStart=/bin/sh -c 'if [ ! -e /run/svc-fail.once ]; then touch /run/svc-fail.once; exit 1; fi; exec sleep infinity'
UNIT
    cat >"$d/svc-flap.service" <<'UNIT'
[Unit]
Description=healerd test: flaps (dies every 0.3 s, systemd restarts it)
StartLimitIntervalSec=0
[Service]
ExecStart=/bin/sh -c 'sleep 0.3; exit 1'
Restart=always
RestartSec=200ms
UNIT
    cat >"$d/svc-base.service" <<'UNIT'
[Unit]
Description=healerd test: a dependency that fails until /run/svc-base.ok exists
[Service]
ExecStart=/bin/sh -c 'test -e /run/svc-base.ok || exit 1; touch /run/svc-base.up; exec sleep infinity'
UNIT
    cat >"$d/svc-dep.service" <<'UNIT'
[Unit]
Description=healerd test: requires svc-base and fails without it
Requires=svc-base.service
[Service]
ExecStart=/bin/sh -c 'test -e /run/svc-base.up || exit 1; exec sleep infinity'
UNIT
    cat >"$d/svc-reload.service" <<'UNIT'
[Unit]
Description=healerd test: broken until its file is fixed and systemd reloaded
[Service]
ExecStart=/bin/false
UNIT
    cat >"$d/svc-alt.service" <<'UNIT'
[Unit]
Description=healerd test: always fails; svc-alt-backup is its alternative
[Service]
ExecStart=/bin/false
UNIT
    cat >"$d/svc-alt-backup.service" <<'UNIT'
[Unit]
Description=healerd test: the alternative of svc-alt
[Service]
ExecStart=/bin/sleep infinity
UNIT
    local u
    for u in svc-fail svc-flap svc-base svc-dep svc-reload svc-alt; do
        ln -sf "../$u.service" "$w/$u.service"
    done
}

# sysroot_fix_reload_unit: rewrites svc-reload's file so it works (systemd now needs a reload).
sysroot_fix_reload_unit() {
    local f="$SYSROOT_DIR/root/etc/systemd/system/svc-reload.service"
    sed -i 's|^ExecStart=.*|ExecStart=/bin/sleep infinity|' "$f"
}

# sysroot_state UNIT: ActiveState of a unit in the container ("active", "failed"...).
sysroot_state() {
    sysctl_bus get-property org.freedesktop.systemd1 \
        "/org/freedesktop/systemd1/unit/$(sysroot_bus_label "$1")" \
        org.freedesktop.systemd1.Unit ActiveState 2>/dev/null | awk '{gsub(/"/,"",$2); print $2}'
}

# sysroot_bus_label NAME: systemd's object path escaping (every byte not [A-Za-z0-9] -> _xx).
sysroot_bus_label() {
    local s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case "$c" in
            [A-Za-z0-9]) out+=$c ;;
            *) out+=$(printf '_%02x' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}
