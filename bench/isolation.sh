#!/usr/bin/env bash
# Memory of plugin children: healerd with all seven built-ins, each in a healerd-plugin child
# (dry-run, 1 s interval), then each child's private memory (smaps_rollup Private_*) and the
# total PSS of the agent plus its children; the same agent with every plugin in a thread for
# comparison. Numbers only; bounded (SETTLE seconds each), cleans up.
set -euo pipefail
BUILD=${1:-build}
SETTLE=${2:-8}
BUILD=$(cd "$BUILD" && pwd)
T=$(mktemp -d "$BUILD/bench/run.XXXXXX") # not under /tmp: the loader refuses a world-writable parent
chmod 755 "$T"
pid=
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; rm -rf "$T"; }
trap cleanup EXIT
kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/smaps_rollup" 2>/dev/null || echo 0; }
for iso in process thread; do
  rm -rf "$T/plugins" "$T/state"
  mkdir -p "$T/plugins"
  for p in cpu thermal memory disk nixconfig service network; do
    install -m 0755 "$BUILD/plugins/$p.so" "$T/plugins/"
  done
  cat >"$T/healerd.conf" <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$T/plugins"; state_dir = "$T/state"; log_level = "error"; };
http = { listen = ""; };
plugins = {
  cpu = { isolation = "$iso"; };  thermal = { isolation = "$iso"; };  memory = { isolation = "$iso"; };
  disk = { isolation = "$iso"; };  nixconfig = { isolation = "$iso"; };  service = { isolation = "$iso"; };
  network = { isolation = "$iso"; };
};
CONF
  # nixconfig makes its scratch directory under $TMPDIR, and a confined child may write only
  # under state_dir/plugins/<name>/: point TMPDIR there, or it fails its init in a child.
  mkdir -p -m 0700 "$T/state/plugins/nixconfig"
  TMPDIR="$T/state/plugins/nixconfig" \
  HEALERD_PLUGIN_RUNNER="$BUILD/bin/healerd-plugin" "$BUILD/bin/healerd" -c "$T/healerd.conf" 2>"$T/log" &
  pid=$!
  sleep "$SETTLE"
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "isolation=$iso: the agent exited:"; tail -5 "$T/log"; pid=; continue
  fi
  total=$(kib Pss "$pid")
  agent_priv=$(( $(kib Private_Clean "$pid") + $(kib Private_Dirty "$pid") ))
  printf 'isolation=%s: agent pid %d: Pss %.2f MiB, private %.2f MiB, RSS %.2f MiB\n' "$iso" "$pid" \
    "$(bc -l <<<"$total/1024")" "$(bc -l <<<"$agent_priv/1024")" "$(bc -l <<<"$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)/1024")"
  n=0; max=0
  for c in $(cat "/proc/$pid/task/"*/children 2>/dev/null | tr ' ' '\n' | sort -u); do
    [ "$(readlink "/proc/$c/exe" 2>/dev/null)" = "$BUILD/bin/healerd-plugin" ] || continue
    priv=$(( $(kib Private_Clean "$c") + $(kib Private_Dirty "$c") ))
    pss=$(kib Pss "$c")
    total=$(( total + pss ))
    name=$(grep -o "$T/plugins/[a-z]*\.so" "/proc/$c/maps" 2>/dev/null | head -1 | xargs -r basename || true)
    printf '  child %-7d %-14s private %.2f MiB, Pss %.2f MiB, RSS %.2f MiB\n' "$c" "${name:-?}" \
      "$(bc -l <<<"$priv/1024")" "$(bc -l <<<"$pss/1024")" "$(bc -l <<<"$(awk '/^VmRSS/ {print $2}' /proc/$c/status)/1024")"
    n=$((n + 1)); [ "$priv" -gt "$max" ] && max=$priv
  done
  printf 'isolation=%s: %d children, largest private %.2f MiB; agent + children Pss %.2f MiB\n' "$iso" "$n" \
    "$(bc -l <<<"$max/1024")" "$(bc -l <<<"$total/1024")"
  # A built-in whose init fails on this host (say nixconfig without nix) has no child: say why.
  [ "$iso" = process ] && [ "$n" -lt 7 ] && grep -E 'error|fail' "$T/log" | head -7 | sed 's/^/  not running: /'
  true
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
done
