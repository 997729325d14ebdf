#!/usr/bin/env bash
# Builds a libFuzzer target with clang, ASan and UBSan in build-fuzz/ and runs it for a
# bounded time over its seed corpus (fuzz/<name>/corpus/, copied into a working corpus so the
# committed seeds are not touched).
#   scripts/fuzz.sh [SECONDS] [TARGET]   defaults: 60 request_decode
#   scripts/fuzz.sh --list               the fuzz targets (folders of fuzz/ with a CMakeLists.txt)
# TARGET is a folder name (request_decode) or its executable (request_decode_fuzz).
# Exits non-zero on a crash, a leak, a timeout or a failed build, and prints the reproducer:
#   build-fuzz/bin/<target>_fuzz <reproducer>
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--list" ]; then
  for d in fuzz/*/; do
    [ -f "$d/CMakeLists.txt" ] && basename "$d"
  done
  exit 0
fi

seconds=${1:-60}
name=${2:-request_decode}
name=${name%_fuzz}
exe=${name}_fuzz
build_dir=${RUNNEL_FUZZ_BUILD_DIR:-build-fuzz}
jobs=${RUNNEL_BUILD_JOBS:-2}

if [ ! -f "fuzz/$name/CMakeLists.txt" ]; then
  echo "fuzz: no target '$name' (scripts/fuzz.sh --list)" >&2
  exit 2
fi
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is needed (scripts/setup.sh installs it)" >&2
  exit 2
fi

# ASan and coverage everywhere. UBSan is added per target by the fuzz targets' CMakeLists
# (clang 14 cannot combine UBSan with coverage instrumentation on the coroutine code in io/:
# "Cannot represent a difference across sections").
sanitize="-fsanitize=address -fno-omit-frame-pointer"
if [ ! -f "$build_dir/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DRUNNEL_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="$sanitize -fsanitize=fuzzer-no-link" \
    -DCMAKE_CXX_FLAGS="$sanitize -fsanitize=fuzzer-no-link" \
    -DCMAKE_EXE_LINKER_FLAGS="$sanitize" >/dev/null
fi
cmake --build "$build_dir" --target "$exe" -j "$jobs"

work="$build_dir/corpus/$name"
artifacts="$build_dir/artifacts/$name/"
mkdir -p "$work" "$artifacts"
seeds=()
[ -d "fuzz/$name/corpus" ] && seeds=("fuzz/$name/corpus")

echo "fuzz: $exe for ${seconds}s (corpus $work ${seeds[*]:-})"
set +e
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
  "$build_dir/bin/$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=4096 -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "${seeds[@]}" \
  2>"$build_dir/$name.log"
rc=$?
set -e
grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)' \
  "$build_dir/$name.log" || true
if [ $rc -ne 0 ]; then
  tail -40 "$build_dir/$name.log" >&2
  repro=$(ls -t "$artifacts" 2>/dev/null | head -1)
  echo "fuzz: $exe FAILED (exit $rc); log $build_dir/$name.log" >&2
  if [ -n "$repro" ]; then
    echo "fuzz: reproducer: $artifacts$repro" >&2
    echo "fuzz: replay with: $build_dir/bin/$exe $artifacts$repro" >&2
  fi
  exit 1
fi
echo "fuzz: $exe found nothing in ${seconds}s"
