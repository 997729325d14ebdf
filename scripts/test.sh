#!/usr/bin/env bash
# The one test command: installs what is missing, builds, runs the static checks, a bounded fuzz
# run (when clang is present), then every ctest. Exits non-zero on any failure.
#   RUNNEL_FUZZ_SECONDS=N  seconds per fuzz target (default 60; 0 skips fuzzing)
#   CTEST_ARGS="-L io"     extra ctest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache: hash paths relative to the checkout so a fresh clone elsewhere (CI) reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
start=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - start ))s)"; }

step setup
scripts/setup.sh
step build
scripts/build.sh
step check-determinism
scripts/check-determinism.sh
step format
scripts/format.sh --check

fuzz_seconds=${RUNNEL_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" -gt 0 ] && command -v clang++ >/dev/null && [ -x scripts/fuzz.sh ]; then
  for target in $(scripts/fuzz.sh --list); do
    step "fuzz $target for ${fuzz_seconds}s"
    scripts/fuzz.sh "$fuzz_seconds" "$target"
  done
fi

step ctest
ctest --test-dir build --output-on-failure -j "$(nproc)" ${CTEST_ARGS:-}
