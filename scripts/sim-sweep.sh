#!/usr/bin/env bash
# Long simulator sweeps: runs runnel-sim over seeds FIRST..LAST, split into one slice per core
# (each slice a separate runnel-sim process), and prints every failure with its replay command
# and a total. Exits 1 if any seed failed.
#   scripts/sim-sweep.sh FIRST LAST [WORKLOAD] [runnel-sim options...]
#   scripts/sim-sweep.sh 1 5000 broker            # 5,000 broker seeds, default faults
#   scripts/sim-sweep.sh 1 5000 broker --swarm    # the same with swarm fault mixes
# Environment: BUILD_DIR (default build), SWEEP_JOBS (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,8p' "$0" >&2
  exit 2
fi
first=$1
last=$2
workload=${3:-io}
shift $(($# < 3 ? $# : 3))
bin=${BUILD_DIR:-build}/bin/runnel-sim
[ -x "$bin" ] || { echo "sim-sweep: $bin not built (scripts/build.sh)" >&2; exit 2; }
[ "$first" -le "$last" ] || { echo "sim-sweep: FIRST must not exceed LAST" >&2; exit 2; }
jobs=${SWEEP_JOBS:-$(nproc)}
total=$((last - first + 1))
per=$(((total + jobs - 1) / jobs))
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pids=()
for ((j = 0; j < jobs; j++)); do
  a=$((first + j * per))
  [ "$a" -le "$last" ] || break
  b=$((a + per - 1))
  [ "$b" -le "$last" ] || b=$last
  "$bin" --workload "$workload" --seeds "$a..$b" "$@" >"$out/$j.txt" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
cat "$out"/*.txt | grep -v '^runnel-sim: ' || true
failed=$(cat "$out"/*.txt | grep -c ': FAIL: ' || true)
echo "sim-sweep: $total seeds ($first..$last) of workload $workload, $failed failed"
exit $status
