#!/usr/bin/env bash
# Formats the C++ sources with clang-format (.clang-format: Google base, 100 columns).
#   scripts/format.sh          # rewrite files in place
#   scripts/format.sh --check  # change nothing; list unformatted files and fail if any
set -euo pipefail
cd "$(dirname "$0")/.."
mode=fix
[ "${1:-}" = "--check" ] && mode=check
cf=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$cf" ]; then
  echo "format: clang-format is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
  '*.h' '*.cc' '*.cpp' '*.hpp' | grep -v '^build' | sort -u)
[ ${#files[@]} -eq 0 ] && exit 0
if [ "$mode" = fix ]; then
  "$cf" -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$cf" --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format: ${#bad[@]} file(s) need scripts/format.sh:"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "format: ${#files[@]} file(s) formatted"
