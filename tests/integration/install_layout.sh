#!/usr/bin/env bash
# `cmake --install` lays out exactly what CONTRACT.md promises under the prefix, and the installed
# agent runs from there.
. "$SRC/tests/lib/agent.sh"
P="$T/prefix"
cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 || { cat "$T/install.log"; exit 1; }
for f in bin/healerd bin/healctl lib/healerd/plugins/dirwatch.so include/healer/healer.h \
         include/healer/plugin.h include/healer/host.h include/healer/types.h \
         include/healer/version.h lib/pkgconfig/healer-sdk.pc etc/healerd/healerd.conf \
         lib/systemd/system/healerd.service share/man/man8/healerd.8 share/man/man8/healctl.8 \
         share/man/man5/healerd.conf.5 etc/logrotate.d/healerd share/healerd/prometheus/healerd-rules.yml share/healerd/grafana/healerd-dashboard.json share/doc/healerd/http-api.md \
         share/doc/healerd/architecture.md share/doc/healerd/plugins/cpu.md share/doc/healerd/plugins/plans.md \
         share/doc/healerd/examples/plans.d/web.conf share/doc/healerd/examples/plans.d/spool.conf \
         share/doc/healerd/examples/plans.d/worker.conf \
         share/doc/healerd/plugins/memory.md share/doc/healerd/plugins/network.md \
         share/doc/healerd/sdk/writing-a-plugin.md share/bash-completion/completions/healctl \
         share/zsh/vendor-completions/_healctl; do
  check "installed $f" [ -e "$P/$f" ]
done
check "installed healerd runs" [ "$("$P/bin/healerd" --version)" = "healerd 0.1.0 (plugin ABI 1.3)" ]
# Its plugin_dir (/usr/lib/healerd/plugins) may not exist here; the file itself must be clean.
"$P/bin/healerd" -c "$P/etc/healerd/healerd.conf" --check-config >"$T/cc.out" 2>&1 || true
check "installed default config has no FILE:LINE problem" [ "$(grep -c "^$P/etc/healerd/healerd.conf:[0-9]*:" "$T/cc.out")" = 0 ]
# The default plugin_dir follows the configured install prefix (CONTRACT.md: lib/healerd/plugins
# under it; /usr/lib/healerd/plugins for a /usr install), in the binary and the installed file.
CONF_PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD/CMakeCache.txt")
WANT_PDIR="$CONF_PREFIX/lib/healerd/plugins"
check "installed healerd.conf: plugin_dir = $WANT_PDIR" grep -q "^  plugin_dir = \"$WANT_PDIR\";" "$P/etc/healerd/healerd.conf"
printf 'agent = { state_dir = "%s/st"; };\n' "$T" >"$T/min.conf"
"$P/bin/healerd" -c "$T/min.conf" --check-config >"$T/cc2.out" 2>&1 || true
check "the compiled-in default plugin_dir is $WANT_PDIR" grep -q "cannot read plugin_dir $WANT_PDIR\$" "$T/cc2.out"
# The unit is generated from the configured prefix (GNUInstallDirs: /etc for /usr, else PREFIX/etc).
case "$CONF_PREFIX" in /usr) WANT_ETC=/etc ;; *) WANT_ETC=$CONF_PREFIX/etc ;; esac
check "the unit starts the configured path: ExecStart=$CONF_PREFIX/bin/healerd -c $WANT_ETC/healerd/healerd.conf" \
  grep -qx "ExecStart=$CONF_PREFIX/bin/healerd -c $WANT_ETC/healerd/healerd.conf" "$P/lib/systemd/system/healerd.service"
check "the unit's reload checks the config first" \
  grep -qx "ExecReload=$CONF_PREFIX/bin/healerd --check-config -c $WANT_ETC/healerd/healerd.conf" "$P/lib/systemd/system/healerd.service"
check "the unit is Type=notify" grep -q '^Type=notify' "$P/lib/systemd/system/healerd.service"
check "no @VAR@ left in the unit" sh -c "! grep -q '@[A-Z_]*@' '$P/lib/systemd/system/healerd.service'"

# --prefix /usr into a DESTDIR, as a package build does: the config goes to /etc (not /usr/etc,
# where neither healerd nor logrotate looks), the unit to systemd's unit directory.
D="$T/destdir"
DESTDIR="$D" cmake --install "$BUILD" --prefix /usr >"$T/install-usr.log" 2>&1 || { cat "$T/install-usr.log"; exit 1; }
check "--prefix /usr: etc/healerd/healerd.conf" test -f "$D/etc/healerd/healerd.conf"
check "--prefix /usr: etc/logrotate.d/healerd" test -f "$D/etc/logrotate.d/healerd"
check "--prefix /usr: no usr/etc" test ! -e "$D/usr/etc"
check "--prefix /usr: usr/bin/healerd" test -x "$D/usr/bin/healerd"
UNITDIR=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
check "--prefix /usr: the unit in ${UNITDIR:-/usr/lib/systemd/system}" \
  test -f "$D${UNITDIR:-/usr/lib/systemd/system}/healerd.service"
check "--prefix /usr: man pages and docs" test -f "$D/usr/share/man/man8/healerd.8" -a \
  -f "$D/usr/share/man/man5/healerd.conf.5" -a -f "$D/usr/share/doc/healerd/http-api.md" -a \
  -f "$D/usr/share/doc/healerd/plugins/disk.md"
PCINC=$(PKG_CONFIG_PATH="$D/usr/lib/pkgconfig" pkg-config --variable=includedir healer-sdk)
check "--prefix /usr: healer-sdk.pc's includedir resolves to DESTDIR/usr/include" \
  [ "$(realpath -m "$PCINC")" = "$D/usr/include" ]
finish
