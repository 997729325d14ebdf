#!/usr/bin/env bash
# Configures (Ninja, ccache when present) and builds. Extra arguments go to cmake configure,
# e.g. scripts/build.sh -DRUNNEL_SANITIZE=address. BUILD_DIR picks the tree (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache: hash paths relative to the checkout so a fresh clone elsewhere (CI) reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
build_dir=${BUILD_DIR:-build}
if [ ! -f "$build_dir/build.ninja" ] || [ $# -gt 0 ]; then
  cmake -S . -B "$build_dir" -G Ninja "$@" >/dev/null
fi
jobs=${RUNNEL_BUILD_JOBS:-$(nproc)}
cmake --build "$build_dir" -j "$jobs"
