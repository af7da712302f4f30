#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS — builds the libFuzzer targets (clang, ASan+UBSan) in BUILD_DIR and
# runs them: the bus decoder (seeded with valid encoded messages of every kind) for SECONDS, then
# the configuration loader (seeded with the shipped and fixture configs), the Alertmanager
# webhook parser, the string sanitizer and the fleet's state decoder for FUZZ_OTHER_SECONDS each
# (default 20).
# Exits non-zero when a fuzzer finds a crash, a leak or a broken invariant; the input that did
# it is left in BUILD_DIR/crash-* (replay: BUILD_DIR/fuzz_NAME BUILD_DIR/crash-...).
set -euo pipefail

# shellcheck source=tests/fuzz/fuzz_lib.sh
. "$(dirname "$0")/fuzz_lib.sh"
fuzz_setup "$@"
flags=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$src/agent" -I"$src/sdk/include")
read -r -a mp_cflags <<<"$(pkg-config --cflags msgpack jansson)"
read -r -a mp_libs <<<"$(pkg-config --libs msgpack jansson) -lm"

echo "fuzz: building in $build"
"$CC" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${mp_cflags[@]}" "$src/tests/fuzz/fuzz_message.c" "$src/agent/message.c" "$src/agent/message_decode.c" \
    "$src/agent/jsonbuf.c" "$src/agent/sanitize.c" -o "$build/fuzz_message" "${mp_libs[@]}"
"$CC" "${flags[@]}" "${mp_cflags[@]}" "$src/tests/fuzz/gen_seeds.c" "$src/agent/message.c" "$src/agent/message_decode.c" \
    "$src/agent/jsonbuf.c" "$src/agent/sanitize.c" -o "$build/gen_seeds" "${mp_libs[@]}"
read -r -a lc_cflags <<<"$(pkg-config --cflags libconfig jansson libzmq)"
read -r -a lc_libs <<<"$(pkg-config --libs libconfig jansson libzmq) -lm -lpthread"
# rules.c's long messages are concatenated literals in an array: clang asks about those.
"$CC" "${flags[@]}" -Wno-string-concatenation -DHEALERD_PLUGIN_DIR='"/usr/lib/healerd/plugins"' \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined "${lc_cflags[@]}" \
    "$src/tests/fuzz/fuzz_config.c" "$src/agent/config.c" "$src/agent/config_lex.c" "$src/agent/config_listen.c" \
    "$src/agent/config_plugin.c" "$src/agent/isolation.c" "$src/agent/rules.c" \
    "$src/agent/rules_policy.c" "$src/agent/rules_proc.c" "$src/agent/log.c" "$src/agent/clock.c" \
    "$src/agent/sanitize.c" "$src/agent/config_notify.c" "$src/agent/config_values.c" "$src/agent/config_fleet.c" "$src/agent/config_fleet_alerts.c" \
    "$src/agent/config_fleet_peers.c" "$src/agent/config_fleet_etcd.c" "$src/agent/notify_event.c" \
    -o "$build/fuzz_config" "${lc_libs[@]}"
"$CC" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${mp_cflags[@]}" "$src/tests/fuzz/fuzz_alerts.c" "$src/agent/alerts.c" "$src/agent/sanitize.c" \
    "$src/agent/table.c" -o "$build/fuzz_alerts" "${mp_libs[@]}" -lpthread
"$CC" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${mp_cflags[@]}" "$src/tests/fuzz/fuzz_sanitize.c" "$src/agent/sanitize.c" \
    -o "$build/fuzz_sanitize" "${mp_libs[@]}"

"$CC" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${mp_cflags[@]}" "$src/tests/fuzz/fuzz_fleet.c" "$src/agent/fleet_merge.c" "$src/agent/table.c" \
    -o "$build/fuzz_fleet" "${mp_libs[@]}"

# Seeds are regenerated each run so they follow the schema; the corpus the fuzzer grows is
# kept in BUILD_DIR between runs (a later run starts where the last one stopped).
mkdir -p "$build/seeds" "$build/corpus"
"$build/gen_seeds" "$build/seeds"

fuzz_target fuzz_message "$seconds" 25 -max_len=8192 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -dict="$src/tests/fuzz/message.dict" "$build/corpus" "$build/seeds"

# The configuration loader and the string sanitizer, each in its own corpus.
other=${FUZZ_OTHER_SECONDS:-20}
mkdir -p "$build/corpus_config" "$build/seeds_config" "$build/corpus_sanitize"
cp "$src"/tests/fixtures/config/*.conf "$src/etc/healerd.conf" "$build/seeds_config/"
fuzz_target fuzz_config "$other" 8 -max_len=4096 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    "$build/corpus_config" "$build/seeds_config"
# The Alertmanager webhook parser, seeded with a real payload.
mkdir -p "$build/corpus_alerts" "$build/seeds_alerts"
cp "$src/tests/fuzz/alerts_seed.json" "$build/seeds_alerts/"
fuzz_target fuzz_alerts "$other" 8 -max_len=8192 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    "$build/corpus_alerts" "$build/seeds_alerts"
fuzz_target fuzz_sanitize "$other" 8 -max_len=4096 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    "$build/corpus_sanitize"
# The shared knowledge decoder (fleet.peers), seeded with one valid state.
mkdir -p "$build/corpus_fleet" "$build/seeds_fleet"
printf '\x82\xa4node\xa1b\xa8counters\x92\x94\xa8cpu_high\xa6renice\x0a\x09\x94\xa1t\xa1a\xcd\x01\x00\x00' \
    >"$build/seeds_fleet/state"
fuzz_target fuzz_fleet "$other" 8 -max_len=4096 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    "$build/corpus_fleet" "$build/seeds_fleet"
