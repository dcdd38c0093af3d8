#!/usr/bin/env bash
# Lint: functions banned in project C code (the house style, after curl's
# checksrc): strcpy strcat sprintf vsprintf gets strtok atoi.
# Matches whole words outside comments, string and character literals.
# Prints each use as file:line and fails if there is any.
# Usage: banned_functions.sh [SOURCE_ROOT]
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)}

exec python3 - "$root" <<'PY'
import os, re, sys

root = sys.argv[1]
# every top-level folder with C in it (a fixed list had missed p11wire/
# and demo/), build trees and hidden folders aside
DIRS = sorted(d for d in os.listdir(root)
              if os.path.isdir(os.path.join(root, d)) and
              not d.startswith(".") and not d.startswith("build"))
BANNED = re.compile(r"\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi)\b")
# comments and literals, blanked out (newlines kept, so line numbers hold)
NOISE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                   re.S)

def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))

bad = 0
for d in DIRS:
    top = os.path.join(root, d)
    if not os.path.isdir(top):
        continue
    for dirpath, dirnames, files in os.walk(top):
        dirnames.sort()
        for fn in sorted(files):
            if not fn.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, root)
            with open(path, errors="replace") as fh:
                code = NOISE.sub(blank, fh.read())
            for n, line in enumerate(code.split("\n"), 1):
                for m in BANNED.finditer(line):
                    print(f"{rel}:{n}: banned function {m.group(1)}()")
                    bad += 1
if bad:
    print(f"{bad} use(s) of banned functions")
    sys.exit(1)
print("banned functions: none")
PY
