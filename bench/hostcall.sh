#!/usr/bin/env bash
# Host-call round trip: the rtt plugin times proc_allowed() and metric() (detect) and dry-run
# act_signal(pid, start, 0) (execute) with the plugin in an agent thread and in a healerd-plugin
# child, in one run (the machine may be loaded: compare side by side). Numbers only; bounded.
set -euo pipefail
BUILD=${1:-build}
CALLS=${2:-20000}
BUILD=$(cd "$BUILD" && pwd)
T=$(mktemp -d "$BUILD/bench/run.XXXXXX") # not under /tmp: the loader refuses a world-writable parent
chmod 755 "$T"
sleep 600 &
target=$!
trap 'kill $target 2>/dev/null; wait $target 2>/dev/null; rm -rf "$T"' EXIT
for iso in thread process; do
  rm -rf "$T/plugins" "$T/state"
  mkdir -p "$T/plugins"
  install -m 0755 "$BUILD/bench/plugins/rtt.so" "$T/plugins/"
  cat >"$T/healerd.conf" <<CONF
agent = { mode = "dry-run"; interval = 1.0; plugin_dir = "$T/plugins"; state_dir = "$T/state"; log_level = "warn"; };
limits = { cooldown_minutes = 0; min_health_for_auto = 0; };
http = { listen = ""; };
plugins = { rtt = { isolation = "$iso"; calls = $CALLS; target_pid = $target; }; };
CONF
  HEALERD_PLUGIN_RUNNER="$BUILD/bin/healerd-plugin" timeout 300 "$BUILD/bin/healerd" -c "$T/healerd.conf" --once \
    >"$T/out" 2>"$T/log" || true
  lines=$(grep -o 'rtt [a-z_]*: .*' "$T/log" || true)
  if [ -z "$lines" ]; then
    echo "host call ($iso): no result; the agent said:"; tail -5 "$T/log"
  else
    sed "s/^/host call ($iso): /" <<<"$lines"
  fi
done
