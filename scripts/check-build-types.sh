#!/usr/bin/env bash
# check-build-types.sh — builds the tree (tests included) in each build type a packager or user
# may pick, each in its own build-check-<name> directory: gcc's deeper analysis at -O3/-Os and
# under _FORTIFY_SOURCE=3 finds warnings (errors, -Werror) that the default -O2 build does not.
# Usage: scripts/check-build-types.sh [JOBS]   (default 1). Exits nonzero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-1}

check() {
  local name=$1; shift
  echo "== $name: $*"
  cmake -S . -B "build-check-$name" "$@" >/dev/null
  # -Werror fails the build on any warning, unless a file lowers one back to a plain warning
  # (#pragma GCC diagnostic warning): the log is searched so that such a warning fails too.
  if ! cmake --build "build-check-$name" -j "$jobs" >"build-check-$name/build.log" 2>&1 ||
     grep -q 'warning:' "build-check-$name/build.log"; then
    grep -E 'warning:|error:' "build-check-$name/build.log" || tail -n 20 "build-check-$name/build.log"
    echo "== $name: FAILED (build-check-$name/build.log)"
    exit 1
  fi
}

check release -DCMAKE_BUILD_TYPE=Release
check minsizerel -DCMAKE_BUILD_TYPE=MinSizeRel
check fortify3 -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS=-D_FORTIFY_SOURCE=3
echo "== all build types clean"
