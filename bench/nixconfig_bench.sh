#!/usr/bin/env bash
# bench/nixconfig_bench.sh [BUILD] [FILES] [IDLE_SECONDS] — numbers for the nixconfig plugin with
# the real agent (dry-run) and the real nix-instantiate:
#  1. validation time per configuration file: a configuration importing FILES-1 modules is
#     validated again and again (each round touches one file), the plugin's own gauge
#     nixconfig_validation_seconds / files, over 10 rounds;
#  2. idle cost of the detect loop when nothing changed: CPU time of the plugin's worker thread
#     (hd-nixconfig) over IDLE_SECONDS at interval 0.1 s, per cycle.
# Prints numbers; asserts nothing.
set -euo pipefail
BUILD=${1:-build}
FILES=${2:-20}
IDLE=${3:-20}
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
export BUILD SRC
. "$SRC/tests/lib/agent.sh"
PDIR=$(plugin_dir "$BUILD/plugins/nixconfig.so")
ETC="$T/etc"
mkdir -p "$ETC"
{
  echo "{ config, pkgs, ... }:"
  echo "{"
  echo -n "  imports = ["
  for i in $(seq 2 "$FILES"); do echo -n " ./mod$i.nix"; done
  echo " ];"
  for k in $(seq 40); do echo "  services.svc$k = { enable = true; port = $((8000 + k)); extra = [ \"a\" \"b\" ]; };"; done
  echo "}"
} >"$ETC/configuration.nix"
for i in $(seq 2 "$FILES"); do
  {
    echo "{ config, lib, pkgs, ... }:"
    echo "{"
    for k in $(seq 40); do echo "  options.m$i.o$k = lib.mkOption { default = \"v$k\"; description = \"option $k of module $i\"; };"; done
    echo "}"
  } >"$ETC/mod$i.nix"
done
BYTES=$(cat "$ETC"/*.nix | wc -c)
INTERVAL=0.1 write_config "$T/b.conf" "$PDIR" "nixconfig = { config_file = \"$ETC/configuration.nix\";
  backup_dir = \"$T/nc/backups\"; state_file = \"$T/nc/generations\"; profile = \"$T/profile\";
  status_file = \"$T/status\"; };"
start_agent "$T/b.conf"
gauge() { get /metrics | sed -n "s/^luminous_nix_$1 //p"; }
count() { get /metrics | sed -n 's/^luminous_nix_nixconfig_validations_total //p'; }
for _ in $(seq 100); do [ -n "$(count)" ] && break; sleep 0.1; done
sum=0
for r in $(seq 10); do
  before=$(count)
  touch "$ETC/mod$(( (r % (FILES - 1)) + 2 )).nix"
  for _ in $(seq 200); do [ "$(count)" != "$before" ] && break; sleep 0.05; done
  sum=$(echo "$sum + $(gauge nixconfig_validation_seconds)" | bc -l)
done
files=$(gauge nixconfig_files_checked)
printf 'validation: %s files (%s bytes), %.1f ms per full validation, %.2f ms per file (nix-instantiate --parse through probe_run), 10 rounds\n' \
  "$files" "$BYTES" "$(echo "$sum * 100" | bc -l)" "$(echo "$sum * 100 / $files" | bc -l)"

# Idle: nothing changes; the worker thread's CPU time over IDLE seconds.
tid=""
for t in /proc/$AGENT_PID/task/*; do
  [ "$(cat "$t/comm")" = "hd-nixconfig" ] && tid=${t##*/}
done
[ -n "$tid" ] || { echo "no hd-nixconfig thread"; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$AGENT_PID/task/$tid/stat"; }
v0=$(count); c0=$(ticks); sleep "$IDLE"; c1=$(ticks); v1=$(count)
hz=$(getconf CLK_TCK)
cycles=$(echo "$IDLE / 0.1" | bc -l)
printf 'idle: %s s at interval 0.1 s (~%.0f detect cycles): %d ticks (%.1f ms) of CPU on hd-nixconfig, %.1f us per cycle, %d re-validations\n' \
  "$IDLE" "$cycles" "$((c1 - c0))" "$(echo "($c1 - $c0) * 1000 / $hz" | bc -l)" \
  "$(echo "($c1 - $c0) * 1000000 / $hz / $cycles" | bc -l)" "$((v1 - v0))"
stop_agent
