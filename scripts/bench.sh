#!/usr/bin/env bash
# Builds runnel and runnel-bench, then runs the broker benchmark: runnel next to librdkafka's
# in-memory mock cluster, the same librdkafka load client against both (bench/broker/README.md).
# Arguments go to runnel-bench:
#   scripts/bench.sh              # 1,000,000 x 1 KiB messages per case; about a minute or two
#   scripts/bench.sh --quick      # a few MB per case
#   scripts/bench.sh --help       # sizes, partitions, client settings
# BUILD_DIR picks the build tree (default build/), RUNNEL_BUILD_JOBS the build's parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
scripts/setup.sh
build_dir=${BUILD_DIR:-build}
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja >/dev/null
fi
if ! log=$(cmake --build "$build_dir" --target runnel runnel-bench -j "${RUNNEL_BUILD_JOBS:-$(nproc)}" 2>&1); then
  echo "$log" >&2
  echo "bench: the build failed" >&2
  exit 1
fi
exec "$build_dir/bin/runnel-bench" --runnel "$build_dir/bin/runnel" "$@"
