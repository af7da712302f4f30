# fuzz_lib.sh — what the fuzz scripts share: argument checks and the clang lookup (fuzz_setup),
# and one bounded libFuzzer run judged the same way everywhere (fuzz_target): a non-zero exit or
# any crash/leak/timeout/oom artifact left in BUILD_DIR fails the script. Sourced, not run.

# fuzz_setup "$@": sets build (absolute), seconds, src and CC, or exits with the usage.
fuzz_setup() {
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
}

# fuzz_target NAME SECONDS TAIL_LINES [LIBFUZZER ARGS...]: runs $build/NAME for SECONDS in
# $build (artifacts there), log in $build/NAME.log; exits the script on any finding.
fuzz_target() {
    local name=$1 secs=$2 lines=$3 rc found
    shift 3
    (cd "$build" && rm -f crash-* leak-* timeout-* oom-* slow-unit-*)
    echo "fuzz: running $name for ${secs}s"
    set +e
    (cd "$build" && ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0} \
        LSAN_OPTIONS=suppressions="$src/tests/fuzz/lsan.supp" \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$build/$name" -max_total_time="$secs" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/" "$@" >"$build/$name.log" 2>&1)
    rc=$?
    set -e
    tail -n "$lines" "$build/$name.log"
    found=$(cd "$build" && ls crash-* leak-* timeout-* oom-* 2>/dev/null || true)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        echo "fuzz: $name FAILED (exit $rc); inputs: ${found:-none written} in $build;" \
             "full log: $build/$name.log" >&2
        exit 1
    fi
    echo "fuzz: $name: no crash in ${secs}s"
}
