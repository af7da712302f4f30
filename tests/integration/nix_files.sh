#!/usr/bin/env bash
# The Nix files (flake.nix, nix/*.nix) with the real nix-instantiate of Debian's nix-bin; there
# is no nixpkgs here, so what can be run for real is: every file parses, and the settings
# renderer (nix/settings.nix, builtins only) is evaluated on sample settings. Its output is read
# back by libconfig itself (build/tests/libconfig_json) and must be exactly the sample: strings
# with quotes, backslashes, newlines, control bytes and UTF-8, ints beyond 32 bits, floats,
# lists, nested groups, plugins.X keys, nulls left out. Settings a host would give pass
# `healerd --check-config`; a bad key is refused with the rendered file's line; names and
# values libconfig cannot hold are refused by the renderer, naming the attribute.
# Skips (77) only when nix-instantiate is missing.
. "$SRC/tests/lib/agent.sh"
command -v nix-instantiate >/dev/null || { echo "SKIP: nix-instantiate missing (Debian: apt-get install nix-bin)"; exit 77; }
LCJ="$BUILD/tests/libconfig_json"
[ -x "$LCJ" ] || { echo "not ok - $LCJ not built (cmake --build: target libconfig_json)"; exit 1; }
FX="$SRC/tests/fixtures/nixsettings"
RENDER="$SRC/nix/settings.nix"
# nix-bin as root without a daemon warns that the nixbld group is missing: not our business.
nixi() { nix-instantiate "$@" 2> >(grep -v "build-users-group" >&2); }
# render EXPR-OF-SETTINGS OUT: the renderer's text in OUT (--eval gives a JSON string).
render() { nixi --eval --strict --json -E "import $RENDER ($1)" >"$2.json" && jq -r . "$2.json" >"$2"; }

# --- every Nix file of the tree parses -----------------------------------------------------------
mapfile -t files < <(cd "$SRC" && find . -name '*.nix' -not -path './tests/fixtures/*' \
  -not -path './build*' -not -path './.git/*' | sort)
for want in ./flake.nix ./nix/package.nix ./nix/module.nix ./nix/settings.nix; do
  check "parse: $want is in the tree" bash -c "printf '%s\n' ${files[*]} | grep -qx '$want'"
done
for f in "${files[@]}"; do
  check "parse: $f" nixi --parse "$SRC/$f" >/dev/null
done
check "parse: a broken file is caught (the check can fail)" bash -c "! nix-instantiate --parse '$SRC/tests/fixtures/nix/missing-semicolon.nix' >/dev/null 2>&1"

# --- round trip: JSON sample -> Nix value -> libconfig text -> libconfig's tree -> JSON ----------
# fromJSON keeps every float exact and 2.0 a float: the sample is the truth on both sides.
render "builtins.fromJSON (builtins.readFile $FX/roundtrip.json)" "$T/rt.conf"
check "roundtrip: rendered" [ -s "$T/rt.conf" ]
"$LCJ" "$T/rt.conf" >"$T/rt.back.json" 2>"$T/rt.err" || { cat "$T/rt.err"; }
check "roundtrip: libconfig reads the rendered file" [ -s "$T/rt.back.json" ]
# The sample without its nulls (the renderer leaves those keys out).
jq -S 'walk(if type == "object" then with_entries(select(.value != null)) else . end)' \
  "$FX/roundtrip.json" >"$T/rt.want.json"
jq -S . "$T/rt.back.json" >"$T/rt.got.json" 2>/dev/null || true
check "roundtrip: libconfig's tree is exactly the sample" diff -u "$T/rt.want.json" "$T/rt.got.json"
for k in quote backslash newline tab_cr_ff controls unicode only-escapes looks_like_libconfig; do
  check "roundtrip: string $k byte for byte" [ "$(jq -r --arg k "$k" '.strings[$k]' "$T/rt.want.json" | od -An -tx1)" = "$(jq -r --arg k "$k" '.strings[$k]' "$T/rt.got.json" | od -An -tx1)" ]
done
check "roundtrip: a control byte is written \\xNN (no raw control byte in the file)" \
  bash -c "grep -q 'bell\\\\x07 esc\\\\x1b' '$T/rt.conf' && ! LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' <'$T/rt.conf')"
check "roundtrip: a whole float keeps its point (2.0, not 2)" grep -qx '  float_whole = 2.0;' "$T/rt.conf"
check "roundtrip: a float past 6 digits is exact (123456789.5)" grep -qx '  float_precise = 123456789.5;' "$T/rt.conf"
check "roundtrip: beyond 32 bits gets L" grep -qx '  big = 5000000000L;' "$T/rt.conf"
check "roundtrip: int32 bounds stay plain ints" bash -c "grep -qx '  int32_max = 2147483647;' '$T/rt.conf' && grep -qx '  int32_min = -2147483648;' '$T/rt.conf'"
check "roundtrip: null leaves the key out" bash -c "! grep -q left_out '$T/rt.conf'"
check "roundtrip: scalars of one type are an array, others a list" bash -c "grep -qx '  ints = \[1, 2, 3\];' '$T/rt.conf' && grep -qx '  mixed = (' '$T/rt.conf'"
# libconfig's types, not only values: int vs float vs int64 (JSON numbers would hide it).
types_ok() {
  local j
  j=$(nixi --eval --strict --json -E "let s = builtins.fromJSON (builtins.readFile $FX/roundtrip.json); in map builtins.typeOf [ s.numbers.float_whole s.numbers.int s.numbers.big ]")
  [ "$j" = '["float","int","int"]' ]
}
check "roundtrip: fromJSON kept 2.0 a float (the sample means what it says)" types_ok

# --- a path and a derivation-like value render as strings -----------------------------------------
render '{ p = /etc/healerd; d = { outPath = "/nix/store/abc-x"; type = "derivation"; }; }' "$T/paths.conf"
check "paths: a path is its string" grep -qx 'p = "/etc/healerd";' "$T/paths.conf"
check "paths: a derivation is its out path" grep -qx 'd = "/nix/store/abc-x";' "$T/paths.conf"

# --- what libconfig cannot hold is refused by the renderer, naming the attribute -------------------
refused() { # DESCRIPTION EXPR PATTERN
  local out
  if out=$(nix-instantiate --eval --strict --json -E "import $RENDER ($2)" 2>&1); then
    bad "$1: rendered anyway: $out"
  elif grep -q -- "$3" <<<"$out"; then
    ok "$1"
  else
    bad "$1: the error does not say '$3': $(grep -v build-users-group <<<"$out" | head -3)"
  fi
}
refused "refuse: a name with a space" '{ plugins.cpu."auto stop" = true; }' 'healerd settings: plugins.cpu.auto stop: "auto stop" is not a libconfig setting name'
refused "refuse: a name starting with a digit" '{ "9lives" = 1; }' '"9lives" is not a libconfig setting name'
refused "refuse: a name libconfig reads as a boolean" '{ agent.TRUE = 1; }' 'agent.TRUE: "TRUE" cannot be a setting name'
refused "refuse: a function" '{ agent.mode = x: x; }' 'agent.mode: a lambda has no libconfig form'
refused "refuse: null inside a list" '{ protect.names = [ "a" null ]; }' 'protect.names.\[1\]: null inside a list'
refused "refuse: a top level that is not a set" '[ 1 ]' 'the top level must be an attribute set, not a list'
# What the renderer refuses, libconfig would have refused too (the rule is not stricter than
# libconfig): a name starting with a digit does not parse.
printf 'a = 1;\n9lives = 1;\n' >"$T/digit.conf"
check "refuse: libconfig itself rejects such a name (FILE:LINE)" bash -c "'$LCJ' '$T/digit.conf' 2>&1 | grep -q '$T/digit.conf:2:'"
printf 'true = 1;\n' >"$T/true.conf"
check "refuse: libconfig itself rejects 'true' as a name" bash -c "! '$LCJ' '$T/true.conf' >/dev/null 2>&1"

# --- the module and the flake, evaluated with stand-ins for nixpkgs ---------------------------------
# tests/fixtures/nixsettings/module-stub.nix: a stand-in lib and pkgs (no module-system merging);
# what is checked is the module's own output: the unit, and its two shell scripts, run here.
mkdir -p "$T/etc/healerd"
nixi --eval --strict --json "$FX/module-stub.nix" --arg src "$SRC" --argstr tokenFile "$T/etc/healerd/token" >"$T/module.json"
check "module: evaluates (stand-in lib and pkgs)" jq -e . "$T/module.json" >/dev/null
mj() { jq -r "$1" "$T/module.json"; }
check "module: the options" [ "$(mj '.options | join(" ")')" = "enable extraPath extraPlugins generateToken package plugins settings tokenFile" ]
check "module: Type=notify, NotifyAccess=main, WatchdogSec=30s" [ "$(mj '"\(.type) \(.notifyAccess) \(.watchdog)"')" = "notify main 30s" ]
check "module: ExecReload runs --check-config before the SIGHUP" [ "$(mj '.execReload | map(split(" ")[1]) | join(" ")')" = "--check-config -HUP" ]
check "module: ExecStart reads /etc/healerd/healerd.conf" [ "$(mj .execStart)" = "/nix/store/stub-healerd/bin/healerd -c /etc/healerd/healerd.conf" ]
check "module: nix and nixos-rebuild on the unit's PATH" bash -c "jq -e '.path | index(\"/nix/store/stub-nix\") and index(\"/nix/store/stub-nixos-rebuild\")' '$T/module.json' >/dev/null"
check "module: agent.plugin_dir is the runtime copy, and the token file" [ "$(mj '.settings | "\(.agent.plugin_dir) \(.http.token_file)"')" = "/run/healerd/plugins $T/etc/healerd/token" ]
check "module: agent.mode is typed live|dry-run, default dry-run" [ "$(mj '"\(.mode.default) \(.mode.values | join("|"))"')" = "dry-run live|dry-run" ]
# The unit shares the Debian unit's (etc/healerd.service.in) life-cycle and resource keys, value
# for value. Its file-system, namespace, capability and syscall hardening is looser on purpose:
# nixconfig on NixOS writes /etc/nixos, runs nixos-rebuild and switch-to-configuration (which
# writes /boot and /nix/var/nix/profiles, sets the hostname, starts units), all of which the
# Debian unit's ProtectSystem=strict, ProtectHostname and capability list forbid.
SHARED=" Type NotifyAccess WatchdogSec Restart RestartSec StateDirectory StateDirectoryMode ConfigurationDirectory LimitNOFILE OOMScoreAdjust OOMPolicy Nice NoNewPrivileges ProtectKernelModules SystemCallErrorNumber RestrictRealtime "
keys=0
while IFS='=' read -r k v; do
  case "$SHARED" in *" $k "*) ;; *) continue ;; esac
  keys=$((keys + 1))
  check "module: $k=$v as etc/healerd.service.in" [ "$(mj ".unit.$k // \"(missing)\"")" = "$v" ]
done < <(sed -n '/^\[Service\]/,/^\[/{/^[A-Za-z]*=/p}' "$SRC/etc/healerd.service.in")
check "module: compared the $keys shared keys of the unit's [Service]" [ "$keys" -eq 16 ]
check "module: the flake's packages, overlay and module are nix/package.nix and nix/module.nix" \
  [ "$(mj '.flake | "\(.packages | join(",")) \(.package) \(.overlay) \(.module)"')" = "aarch64-linux,x86_64-linux $SRC/nix/package.nix $SRC/nix/package.nix $SRC/nix/module.nix" ]
check "module: the flake's lib.renderSettings is the renderer" grep -qF 'configuration, not this file.a = {  b = "x\"y";};' <(mj .flake.render | tr -d '\n'; echo)

# The plugin links (a build step): two packages' .so files linked by name; a name twice fails.
for p in a b dup; do mkdir -p "$T/pkg-$p/lib/healerd/plugins"; done
echo cpu >"$T/pkg-a/lib/healerd/plugins/cpu.so"; echo extra >"$T/pkg-b/lib/healerd/plugins/extra.so"
echo twin >"$T/pkg-dup/lib/healerd/plugins/cpu.so"
mj .linksScript | sed "s|/nix/store/stub-healerd |$T/pkg-a |; s|/nix/store/stub-extra|$T/pkg-b|" >"$T/links.sh"
check "links: the script names both packages" grep -q "for p in $T/pkg-a $T/pkg-b;" "$T/links.sh"
check "links: runs" env out="$T/links" bash -e "$T/links.sh"
check "links: cpu.so and extra.so linked" [ "$(readlink "$T/links/cpu.so") $(readlink "$T/links/extra.so")" = "$T/pkg-a/lib/healerd/plugins/cpu.so $T/pkg-b/lib/healerd/plugins/extra.so" ]
sed "s|$T/pkg-b|$T/pkg-dup|" "$T/links.sh" >"$T/links-dup.sh"
check "links: a plugin name twice fails, naming both" bash -c "! env out='$T/links-dup' bash -e '$T/links-dup.sh' 2>'$T/dup.err' && grep -q 'two plugins named cpu.so' '$T/dup.err'"

# The pre-start script: plugins copied (not linked) root-owned into the runtime folder, the
# token made once, root-only. Run with the runtime folder moved under $T.
mj .execStartPre | sed "s|/run/healerd|$T/run/healerd|g; s|/nix/store/stub-healerd-plugins|$T/links|; s|^PATH=.*|PATH=/usr/bin:/bin|" >"$T/prestart.sh"
mkdir -p "$T/run/healerd"
check "prestart: runs" bash "$T/prestart.sh"
check "prestart: regular files, not links, root's, mode 0644" [ "$(stat -c '%F %U %a' "$T/run/healerd/plugins/cpu.so" "$T/run/healerd/plugins/extra.so" | sort -u)" = "regular file root 644" ]
check "prestart: the runtime folder 0755" [ "$(stat -c %a "$T/run/healerd/plugins")" = 755 ]
check "prestart: the copies are the plugins" cmp -s "$T/pkg-b/lib/healerd/plugins/extra.so" "$T/run/healerd/plugins/extra.so"
check "prestart: a token of 64 hex digits, mode 0600" bash -c "[ \"\$(stat -c %a '$T/etc/healerd/token')\" = 600 ] && grep -qxE '[0-9a-f]{64}' '$T/etc/healerd/token'"
tok=$(cat "$T/etc/healerd/token")
rm "$T/pkg-b/lib/healerd/plugins/extra.so"
check "prestart: runs again (a plugin gone)" bash "$T/prestart.sh"
check "prestart: a plugin gone from the set is gone from the folder" [ ! -e "$T/run/healerd/plugins/extra.so" -a -f "$T/run/healerd/plugins/cpu.so" ]
check "prestart: the token is kept" [ "$(cat "$T/etc/healerd/token")" = "$tok" ]
nixi --eval --strict --json "$FX/module-stub.nix" --arg src "$SRC" --argstr tokenFile "$T/etc/healerd/token" --arg generateToken false >"$T/module-notok.json"
check "module: generateToken = false: no token step" bash -c "! jq -r .execStartPre '$T/module-notok.json' | grep -q urandom"
check "module: a tokenFile in the store is refused" bash -c "nix-instantiate --eval --strict --json '$FX/module-stub.nix' --arg src '$SRC' --argstr tokenFile /nix/store/x-token 2>/dev/null | jq -e '.assertions == [false]' >/dev/null"

# --- settings a host would give pass healerd --check-config ---------------------------------------
PDIR=$(plugin_dir "$BUILD/plugins/cpu.so" "$BUILD/plugins/nixconfig.so" "$BUILD/plugins/thermal.so")
mkdir -p "$T/state"; chmod 700 "$T/state"
echo "nix-token" >"$T/token"; chmod 600 "$T/token"
ARGS="{ plugin_dir = \"$PDIR\"; state_dir = \"$T/state\"; token_file = \"$T/token\";"
render "import $FX/agent.nix $ARGS }" "$T/agent.conf"
rc=0; "$HEALERD" --check-config -c "$T/agent.conf" >"$T/check.out" 2>&1 || rc=$?
check "check-config: the rendered host settings pass (exit 0)" [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat "$T/check.out"
check "check-config: notify = null left the section out" bash -c "! grep -q '^notify' '$T/agent.conf'"
check "check-config: plugins.nixconfig's string with quote, backslash, newline kept its escapes" \
  grep -qF 'nix_instantiate = "nix-instantiate \"quoted\" C:\\path\nnext line é";' "$T/agent.conf"
got=$("$LCJ" "$T/agent.conf" | jq -r .plugins.nixconfig.nix_instantiate) || got="(unreadable)"
check "check-config: ... and libconfig reads it back byte for byte" [ "$got" = "$(printf 'nix-instantiate "quoted" C:\\path\nnext line é')" ]
check "check-config: control bytes written \\xNN" grep -qF 'nix_env = "nix-env\x01\x1b\t\x7f";' "$T/agent.conf"
got=$("$LCJ" "$T/agent.conf" | jq -r .plugins.nixconfig.nix_env | od -An -tx1 | tr -s ' ') || got="(unreadable)"
check "check-config: ... and read back as those bytes" [ "$got" = " 6e 69 78 2d 65 6e 76 01 1b 09 7f 0a" ]

# A wrong key is refused by the agent at the rendered file's line, which holds that key.
render "import $FX/agent.nix ($ARGS extra.plugins.cpu.no_such_key = 1; })" "$T/badkey.conf"
rc=0; "$HEALERD" --check-config -c "$T/badkey.conf" >"$T/badkey.out" 2>&1 || rc=$?
check "check-config: an unknown plugins.cpu key: exit 2" [ "$rc" = 2 ]
line=$(grep -o "$T/badkey.conf:[0-9]*" "$T/badkey.out" | head -1 | cut -d: -f2) || line=""
check "check-config: FILE:LINE names the rendered line of the key (line ${line:-none})" \
  bash -c "[ -n '$line' ] && sed -n '${line:-0}p' '$T/badkey.conf' | grep -q no_such_key"
# A whole float rendered as an int would be the wrong type for agent.interval.
render "import $FX/agent.nix ($ARGS extra.agent.interval = 3.0; })" "$T/float.conf"
check "check-config: interval = 3.0 renders as a float and passes" bash -c "grep -qx '  interval = 3.0;' '$T/float.conf' && '$HEALERD' --check-config -c '$T/float.conf' >/dev/null 2>&1"
finish
