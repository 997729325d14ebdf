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

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
