#!/usr/bin/env bash
# run_http.sh BUILD_DIR SECONDS — builds the HTTP server's libFuzzer targets (clang, ASan+UBSan)
# in BUILD_DIR and fuzzes each for SECONDS: fuzz_http_route (percent decoding, routing, plan ids,
# the Host allow-list) and fuzz_http_auth (the bearer-token check against a reference reading).
# Both link only agent/http_parse.c. Exits non-zero on a crash, a leak or a broken property; the
# input is left in BUILD_DIR/crash-* (replay: BUILD_DIR/fuzz_http_route BUILD_DIR/crash-...).
set -euo pipefail

# shellcheck source=tests/fuzz/fuzz_lib.sh
. "$(dirname "$0")/fuzz_lib.sh"
fuzz_setup "$@"
flags=(-std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$src/agent")

# Seeds: every route, ids at the edges, the issue's inputs, Host and Authorization values.
seed() { # seed TARGET NAME BYTES(printf format)
    mkdir -p "$build/seeds_$1"
    printf "$3" >"$build/seeds_$1/$2"
}
for p in / /metrics /healthz /api/v1/status /api/v1/issues /api/v1/heals /api/v1/plugins \
         /api/v1/knowledge /api/v1/pending /api/v1/pause /api/v1/resume /api/v1/holds \
         /api/v1/holds/release /api/v1/restore; do
    seed route "r$(echo "$p" | tr / _)" "$p"
done
seed route confirm "/api/v1/pending/7/confirm"
seed route undo "/api/v1/heals/7/undo"
seed route reject "/api/v1/pending/18446744073709551615/reject"
seed route over "/api/v1/pending/18446744073709551616/reject"
seed route zeros "/api/v1/pending/00000000000000000000000000000000000000000000000002junk/confirm"
seed route space "/api/v1/pending/%%20 1/confirm"
seed route nul "/api/v1/status%%00junk"
seed route host1 "localhost:9191"
seed route host2 "[::1]:80"
seed route host3 "HEALER.example"
seed auth ok '\x05tokenBearer token'
seed auth nul '\x05tokenBearer token\x00junk'
seed auth tabs '\x05token \tbEaReR\t token \t'
seed auth basic '\x05tokenBasic token'

for target in route auth; do
    echo "fuzz: building $build/fuzz_http_$target"
    "$CC" "${flags[@]}" -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        "$src/tests/fuzz/fuzz_http_$target.c" "$src/agent/http_parse.c" -o "$build/fuzz_http_$target"
    mkdir -p "$build/corpus_http_$target"
    fuzz_target "fuzz_http_$target" "$seconds" 8 -max_len=1024 -rss_limit_mb=1024 \
        "$build/corpus_http_$target" "$build/seeds_$target"
done
