#!/usr/bin/env bash
# Feeds scripts/check-determinism.sh known-good and known-bad samples: the clean sample must pass,
# every bad_* sample must fail and name the line marked expect-violation. Then checks the real engine/ and broker/.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
check="$root/scripts/check-determinism.sh"
samples="$root/tests/scripts/determinism"
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

if out=$("$check" "$samples/clean.cc" 2>&1); then ok; else fail "clean sample rejected: $out"; fi
count=0
for bad in "$samples"/bad_*.cc; do
  count=$((count + 1))
  line=$(grep -n "expect-violation" "$bad" | head -1 | cut -d: -f1 || true)
  if [ -z "$line" ]; then
    fail "$(basename "$bad") has no line marked expect-violation"
  elif out=$("$check" "$bad" 2>&1); then
    fail "$(basename "$bad") was not caught"
  elif ! grep -q "$(basename "$bad"):$line:" <<<"$out"; then
    fail "$(basename "$bad") caught without naming line $line: $out"
  else
    ok
  fi
done
[ "$count" -ge 10 ] || fail "expected at least 10 bad samples, found $count"
if out=$(cd "$root" && "$check" 2>&1); then ok; else fail "engine/ or broker/ violate the I/O boundary:"; echo "$out"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
