#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS — builds the bus decoder's libFuzzer target (clang, ASan+UBSan) in
# BUILD_DIR, seeds it with valid encoded messages of every kind, and fuzzes for SECONDS.
# Exits non-zero when the fuzzer finds a crash, a leak or a round-trip mismatch; the input that
# did it is left in BUILD_DIR/crash-* (replay: BUILD_DIR/fuzz_message BUILD_DIR/crash-...).
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
fi
mkdir -p "$1"
build=$(cd "$1" && pwd)
seconds=$2
src=$(cd "$(dirname "$0")/../.." && pwd)

CC=${CLANG:-clang}
if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found (apt-get install clang)" >&2
    exit 1
fi
flags=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$src/agent" -I"$src/sdk/include")
read -r -a mp_cflags <<<"$(pkg-config --cflags msgpack jansson)"
read -r -a mp_libs <<<"$(pkg-config --libs msgpack jansson) -lm"

echo "fuzz: building in $build"
"$CC" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${mp_cflags[@]}" "$src/tests/fuzz/fuzz_message.c" "$src/agent/message.c" \
    -o "$build/fuzz_message" "${mp_libs[@]}"
"$CC" "${flags[@]}" "${mp_cflags[@]}" "$src/tests/fuzz/gen_seeds.c" "$src/agent/message.c" \
    -o "$build/gen_seeds" "${mp_libs[@]}"

# Seeds are regenerated each run so they follow the schema; the corpus the fuzzer grows is
# kept in BUILD_DIR between runs (a later run starts where the last one stopped).
mkdir -p "$build/seeds" "$build/corpus"
"$build/gen_seeds" "$build/seeds"

cd "$build"
rm -f crash-* leak-* timeout-* oom-* slow-unit-*
echo "fuzz: running for ${seconds}s"
set +e
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
"$build/fuzz_message" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=256 -print_final_stats=1 \
    -dict="$src/tests/fuzz/message.dict" -artifact_prefix="$build/" \
    "$build/corpus" "$build/seeds" >"$build/fuzz.log" 2>&1
rc=$?
set -e
tail -n 25 "$build/fuzz.log"
found=$(ls crash-* leak-* timeout-* oom-* 2>/dev/null || true)
if [ $rc -ne 0 ] || [ -n "$found" ]; then
    echo "fuzz: FAILED (exit $rc); inputs: ${found:-none written}; full log: $build/fuzz.log" >&2
    exit 1
fi
echo "fuzz: no crash in ${seconds}s"
