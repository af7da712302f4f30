#!/usr/bin/env bash
# bench/memory_map.sh — where the idle agent's memory goes (issue #12): healerd with all seven
# plugins (isolation = "thread", dry-run, nothing wrong) for a few seconds, then smaps_rollup
# (RSS, PSS, private = Private_Clean + Private_Dirty, anonymous) and the same per mapped file from
# smaps (the agent's own code, each library, heap and stacks), sorted by private memory; and the
# dynamic loader's start-up statistics (LD_DEBUG=statistics) with the libraries each mandated
# library pulls in. Numbers only. Usage: bench/memory_map.sh [BUILD] [TOP]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
TOP=${2:-25}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/tests/lib/testtmp.sh"
TESTTMP=$(healer_test_tmp "$BUILD")
mkdir -p -m 0755 "$TESTTMP"
T=$(mktemp -d "$TESTTMP/healerd-memmap.XXXXXX")
chmod 755 "$T"
AGENT=""
trap 'if [ -n "$AGENT" ]; then kill -TERM "$AGENT" 2>/dev/null || true; wait "$AGENT" 2>/dev/null || true; fi; rm -rf "$T"' EXIT
mkdir -p "$T/plugins" "$T/state" "$T/nix" "$T/logs" "$T/tmp"
for p in cpu memory thermal disk nixconfig service network; do install -m 0755 "$BUILD/plugins/$p.so" "$T/plugins/"; done
echo '{ }' >"$T/nix/configuration.nix"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"; chmod 600 "$T/token"
cat >"$T/healerd.conf" <<CONF
agent = { mode = "dry-run"; plugin_dir = "$T/plugins"; state_dir = "$T/state"; log_level = "warn"; };
http = { listen = "127.0.0.1:0"; token_file = "$T/token"; };
plugins = {
  cpu = { isolation = "thread"; }; memory = { isolation = "thread"; }; thermal = { isolation = "thread"; };
  disk = { isolation = "thread"; mounts = ["/"]; log_dirs = ["$T/logs"]; tmp_dirs = ["$T/tmp"]; journal_dirs = []; preview_nix = false; };
  nixconfig = { isolation = "thread"; config_file = "$T/nix/configuration.nix"; eval = false; rollback = false;
                status_file = ""; backup_dir = "$T/nix/backups"; state_file = "$T/nix/generations"; };
  service = { isolation = "thread"; }; network = { isolation = "thread"; };
};
CONF
"$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/agent.log" &
AGENT=$!
sleep "${WAIT:-8}"
echo "== smaps_rollup of the idle agent (all seven plugins, threads: $(awk '/^Threads/ {print $2}' /proc/$AGENT/status))"
awk '/^(Rss|Pss|Pss_Anon|Pss_File|Private_Clean|Private_Dirty|Anonymous):/ {printf "  %-14s %8.1f MiB\n", $1, $2/1024}
     /^Private_(Clean|Dirty):/ {p += $2} END {printf "  %-14s %8.1f MiB\n", "private:", p/1024}' "/proc/$AGENT/smaps_rollup"
echo "== by mapping (KiB): rss pss private, largest private first"
awk '
  /^[0-9a-f]+-[0-9a-f]+ / { name = (NF >= 6) ? $6 : "[anon]"; for (i = 7; i <= NF; i++) name = name " " $i; next }
  /^Rss:/ { rss[name] += $2 } /^Pss:/ { pss[name] += $2 }
  /^Private_(Clean|Dirty):/ { priv[name] += $2 }
  END { for (n in rss) printf "%8d %8d %8d  %s\n", rss[n], pss[n], priv[n], n }' "/proc/$AGENT/smaps" |
  sort -k3,3nr | head -n "$TOP"
echo "== libraries mapped: $(grep -c '\.so' <(awk '{print $6}' /proc/$AGENT/maps | sort -u))"
for lib in libmicrohttpd libgnutls libzmq libstdc++ libsystemd libsqlite3; do
  awk -v l="$lib" '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 ~ l) } m && /^Rss:/ { r += $2 } m && /^Pss:/ { p += $2 }
    m && /^Private_(Clean|Dirty):/ { v += $2 } END { printf "  %-14s rss %6d KiB  pss %6d KiB  private %5d KiB\n", l, r, p, v }' "/proc/$AGENT/smaps"
done
echo "== what the mandated libraries pull in (ldd)"
for lib in libmicrohttpd.so.12 libzmq.so.5; do
  f=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
  [ -n "$f" ] && echo "  $lib: $(ldd "$f" | awk '{print $1}' | grep -v -e linux-vdso -e ld-linux | tr '\n' ' ')"
done
# group GROUP REGEX: the summed cost of every mapping whose file matches REGEX
group() {
  awk -v g="$1" -v re="$2" '/^[0-9a-f]+-[0-9a-f]+ / { m = ($6 ~ re) } m && /^Rss:/ { r += $2 } m && /^Pss:/ { p += $2 }
    m && /^Private_(Clean|Dirty):/ { v += $2 } END { printf "  %-44s rss %6d KiB  pss %6d KiB  private %5d KiB\n", g, r, p, v }' "/proc/$AGENT/smaps"
}
echo "== by what brought them in"
group "GnuTLS chain (via libmicrohttpd)" 'lib(gnutls|p11-kit|idn2|unistring|tasn1|nettle|hogweed|gmp|ffi)\.'
group "libstdc++ chain (via libzmq)" 'lib(stdc\+\+|sodium|pgm|norm|gssapi_krb5|krb5|k5crypto|com_err|krb5support|keyutils|bsd|md|gcc_s)[.-]'
group "libzmq itself" 'libzmq\.'
group "libsystemd + its deps (service plugin)" 'lib(systemd|lz4|lzma|zstd|gcrypt|gpg-error|cap)\.'
group "healerd + plugins" '/(healerd|[a-z]+\.so)$'
echo "== dynamic loader start-up (LD_DEBUG=statistics, healerd --version, 5 runs; cycles)"
for i in 1 2 3 4 5; do LD_DEBUG=statistics "$BUILD/bin/healerd" --version 2>&1 >/dev/null |
  awk '/total startup time in dynamic loader/ {t = $(NF-1)} /time needed for relocation/ {r = $(NF-2)}
       /time needed to load objects/ {l = $(NF-2)} /  number of relocations:/ && !n {n = $NF}
       END {printf "  total %d, relocation %d, loading objects %d, %d symbol relocations\n", t, r, l, n}'; done
