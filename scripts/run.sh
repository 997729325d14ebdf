#!/usr/bin/env bash
# Builds if needed and starts a broker on 127.0.0.1:9092 with its data in ./data.
# Extra arguments go to the broker (see build/bin/runnel --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
if [ ! -x build/bin/runnel ]; then
  echo "run: build/bin/runnel is not part of this build yet (the broker binary lands with the" >&2
  echo "run: broker issue); build/bin/runnel-sim is available: build/bin/runnel-sim --help" >&2
  exit 1
fi
exec build/bin/runnel --listen 127.0.0.1:9092 --data-dir ./data "$@"
