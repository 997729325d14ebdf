#!/usr/bin/env bash
# Installs every Debian package Runnel needs to build, test and benchmark.
# Idempotent: when everything is present it prints nothing and touches nothing.
set -euo pipefail

packages=(
  # build
  cmake ninja-build ccache g++ clang clang-format libclang-rt-14-dev python3 pkg-config
  # libraries
  liburing-dev libsnappy-dev liblz4-dev libzstd-dev zlib1g-dev librapidcheck-dev libspdlog-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libtomlplusplus-dev
  # real clients and reference tools used by tests and benchmarks
  kcat librdkafka-dev python3-kafka python3-confluent-kafka fio iperf3
)

# kafkajs interop: Debian's node and npm, only when absent (a node from elsewhere is kept).
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi

# kafkajs, pinned by tests/interop/kafkajs/package-lock.json, into that folder's git-ignored
# node_modules (npm ci: exactly the locked version, from the npm registry).
kafkajs_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/interop/kafkajs"
kafkajs_want=$(sed -n 's/.*"kafkajs": "\(.*\)".*/\1/p' "$kafkajs_dir/package.json")
kafkajs_have=$(node -p "require('$kafkajs_dir/node_modules/kafkajs/package.json').version" \
  2>/dev/null || true)
if [ "$kafkajs_have" != "$kafkajs_want" ]; then
  echo "setup: installing kafkajs $kafkajs_want (npm ci in tests/interop/kafkajs)"
  (cd "$kafkajs_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
