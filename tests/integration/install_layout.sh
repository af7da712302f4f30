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
         share/doc/healerd/architecture.md share/doc/healerd/plugins/cpu.md \
         share/doc/healerd/plugins/memory.md share/doc/healerd/plugins/network.md \
         share/doc/healerd/sdk/writing-a-plugin.md; do
  check "installed $f" [ -e "$P/$f" ]
done
check "installed healerd runs" [ "$("$P/bin/healerd" --version)" = "healerd 0.1.0 (plugin ABI 1.2)" ]
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
check "the unit starts the installed path" grep -q '^ExecStart=/usr/bin/healerd ' "$P/lib/systemd/system/healerd.service"
check "the unit is Type=notify" grep -q '^Type=notify' "$P/lib/systemd/system/healerd.service"
finish
