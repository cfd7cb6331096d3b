#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fails on a function over 60 lines or a file over 600 lines in src/
(docs/ARCHITECTURE.md, "Size rules"), except those listed in EXCEPTIONS
below with their reason. An exception that no longer exceeds its limit is
reported too, so the list only shrinks. A function is counted from the
first line of its signature to its closing brace, the house style: the
body's "{" and "}" alone on a line at column 0.

    tests/rules/check_sizes.py [SRC_DIR]
    tests/rules/check_sizes.py --self-test   (the check fails on a planted
        61-line function and a 601-line file, and passes on 60 and 600)
Exit 0: within the limits; 1: a violation (each printed); 2: usage.
"""
import os
import re
import sys

MAX_FUNCTION, MAX_FILE = 60, 600

# "path" or "path:function" -> why it may exceed the limit (for now).
EXCEPTIONS = {}


def functions(lines):
    """(name, first line, line count) of each function body in lines."""
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            j = i - 1
            while j > 0 and lines[j][:1] in (" ", "\t"):
                j -= 1
            k = i + 1
            while k < len(lines) and lines[k] != "}":
                k += 1
            names = re.findall(r"(\w+)\s*\(", lines[j])
            yield (names[0] if names else "?"), j + 1, k - j + 1
            i = k
        i += 1


def self_test():
    import subprocess
    import tempfile
    ok = True
    for body, nfile, want in ((57, 10, 0), (58, 10, 1), (1, 600, 0), (1, 601, 1)):
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "core"))
            text = ["int gm__f(void)", "{"] + ["    x++;"] * body + ["}"]
            text += ["/* pad */"] * (nfile - len(text))
            with open(os.path.join(tmp, "core", "planted.c"), "w", encoding="utf-8") as f:
                f.write("\n".join(text) + "\n")
            r = subprocess.run([sys.executable, os.path.abspath(__file__), tmp],
                               capture_output=True, text=True)
            got = r.returncode
            print(f"{'ok' if got == want else 'FAIL'}: a {body + 3}-line function in a "
                  f"{max(nfile, body + 3)}-line file: exit {got}, expected {want}: "
                  f"{r.stdout.strip().splitlines()[-1]}")
            ok = ok and got == want
    return 0 if ok else 1


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    src = sys.argv[1] if len(sys.argv) == 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "src")
    bad, used = [], set()
    for mod in sorted(os.listdir(src)):
        mdir = os.path.join(src, mod)
        if not os.path.isdir(mdir):
            continue
        for name in sorted(os.listdir(mdir)):
            if not name.endswith((".c", ".h")):
                continue
            rel = f"{mod}/{name}"
            with open(os.path.join(mdir, name), encoding="utf-8") as f:
                lines = f.read().split("\n")
            nlines = len(lines) - (lines[-1] == "")
            if nlines > MAX_FILE:
                if rel in EXCEPTIONS:
                    used.add(rel)
                else:
                    bad.append(f"src/{rel}: {nlines} lines (limit {MAX_FILE})")
            for fn, first, count in functions(lines):
                key = f"{rel}:{fn}"
                if count > MAX_FUNCTION:
                    if key in EXCEPTIONS:
                        used.add(key)
                    else:
                        bad.append(f"src/{rel}:{first}: {fn} is {count} lines "
                                   f"(limit {MAX_FUNCTION})")
    for key in sorted(set(EXCEPTIONS) - used):
        print(f"note: {key}: listed in EXCEPTIONS but within the limit now (or gone): remove it")
    for b in bad:
        print(b)
    if not bad:
        print(f"check_sizes: every function <= {MAX_FUNCTION} lines and every file <= "
              f"{MAX_FILE} lines in {src} ({len(used)} listed exceptions)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
