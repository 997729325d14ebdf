#!/usr/bin/env bash
# Fails if code in engine/ or broker/ reaches the OS, a clock, a thread or unseeded randomness
# other than through io/ (see DESIGN.md, "The I/O boundary").
#
#   scripts/check-determinism.sh            # checks engine/ and broker/
#   scripts/check-determinism.sh FILE|DIR…  # checks those instead (used by its own test)
#
# Comments and string literals are ignored. A line that truly needs an exception carries
# `NOLINT(determinism): <reason>`; the reason is mandatory.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  set -- engine broker
fi
exec python3 - "$@" <<'PY'
import os, re, sys

FORBIDDEN = [
    (r"\b(steady_clock|system_clock|high_resolution_clock|utc_clock|file_clock|tai_clock|gps_clock)\s*::\s*now\b", "reads a clock: use io.clock()"),
    (r"\bchrono\s*::\s*\w+\s*::\s*now\b", "reads a clock: use io.clock()"),
    (r"(?<![\w.>:])(std\s*::\s*|::\s*)?time\s*\(", "time(): use io.clock().Wall()"),
    (r"\bgettimeofday\b|\bclock_gettime\b|(?<![\w.>:])clock\s*\(\s*\)|\blocaltime\b|\bgmtime\b", "reads a clock: use io.clock()"),
    (r"(?<![\w.>:])s?rand\s*\(|\brandom\s*\(\s*\)|\bdrand48\b|\bstd\s*::\s*random_device\b|\bgetrandom\b|/dev/u?random", "unseeded randomness: use io.rng()"),
    (r"\bstd\s*::\s*(thread|jthread|async)\b|\bpthread_create\b|\bfork\s*\(", "makes a thread or process: shards come from io/"),
    (r"(?<![\w.>:])(::\s*)?(open|openat|creat|fopen|opendir)\s*\(|\bstd\s*::\s*[io]?fstream\b", "opens a file: use io.fs()"),
    (r"::\s*(read|write|pread|pwrite|readv|writev|fsync|fdatasync|close|unlink|rename)\s*\(", "raw syscall: use io.fs() / io.net()"),
    (r"(?<![\w.>:])(socket|accept|connect|bind|listen|send|recv|sendfile|splice)\s*\(", "raw socket call: use io.net()"),
    (r"(?<![\w.>:])(sleep|usleep|nanosleep)\s*\(|\bsleep_for\b|\bsleep_until\b", "sleeps the thread: use co_await io.Sleep()"),
    (r"\bunordered_(map|set|multimap|multiset)\s*<\s*(const\s+)?[\w:]+\s*\*", "hash container keyed by pointer: iteration order is not deterministic"),
    (r"\bgetenv\b", "reads the environment: pass configuration in"),
]
PATTERNS = [(re.compile(p), why) for p, why in FORBIDDEN]
EXTS = (".h", ".hh", ".hpp", ".cc", ".cpp", ".cxx", ".c", ".ipp", ".inc")

def strip(text):
    """Blanks comments and string/char literals, keeping line structure and NOLINT markers."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            comment = text[i:j]
            out.append("//NOLINT(determinism)" if "NOLINT(determinism):" in comment else "")
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == 'R' and text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if m:
                end = text.find(")" + m.group(1) + '"', i)
                end = n if end < 0 else end + len(m.group(1)) + 2
                out.append('""' + "\n" * text.count("\n", i, end))
                i = end
            else:
                out.append(c); i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)

def files(args):
    for a in args:
        if os.path.isfile(a):
            yield a
        elif os.path.isdir(a):
            for root, dirs, names in os.walk(a):
                dirs.sort()
                for name in sorted(names):
                    if name.endswith(EXTS):
                        yield os.path.join(root, name)

bad = 0
checked = 0
for path in files(sys.argv[1:]):
    checked += 1
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = strip(f.read()).split("\n")
    for number, line in enumerate(lines, 1):
        if "NOLINT(determinism)" in line:
            continue
        for pattern, why in PATTERNS:
            m = pattern.search(line)
            if m:
                print(f"{path}:{number}: '{m.group(0).strip()}' {why}")
                bad += 1
                break
if bad:
    print(f"check-determinism: {bad} violation(s) in {checked} file(s); engine/ and broker/ must go through io/")
    sys.exit(1)
print(f"check-determinism: {checked} file(s) clean")
PY
