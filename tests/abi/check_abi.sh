#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ABI test (ctest: abi_abidiff): the built libgenmodel.so against the
# committed ABI baseline tests/abi/libgenmodel.abi, with libabigail's
# abidiff (Debian: abigail-tools).
#
#   check_abi.sh [<libgenmodel.so> [<include dir>]]
#   check_abi.sh --update [<libgenmodel.so> [<include dir>]]
#
# Defaults: build/libgenmodel.so and include/ of this checkout. Only types
# reachable from the public headers (include/genmodel) count.
#
# Passes when the library's ABI equals the baseline or only adds to it
# (new functions or variables, or members appended to a struct that
# appended.abignore lists because the library writes only the fields
# within its caller's size). Fails on anything else abidiff reports: a
# function or variable removed, a changed signature, a changed public type
# (a struct field inserted, resized or moved, an enum value changed, ...),
# a changed soname. abidiff's exit status is a bit field (abidiff(1)):
#   1 error, 2 usage error, 4 ABI change, 8 incompatible ABI change.
# Added symbols set bit 4 too, so the comparison runs with --no-added-syms
# (which leaves them out of the verdict) and the additions are listed
# separately, for information.
#
# --update rewrites the baseline from the given library (abidw
# --headers-dir include/genmodel --drop-private-types --no-corpus-path
# --type-id-style hash) and
# shows what changed against the old one. Do it when a release is made
# (the baseline is the ABI programs may depend on), not to silence a
# failure: an incompatible change needs a new soname (GM_VERSION_MAJOR).
#
# Exit status: 0 passed, 1 failed, 2 usage, 77 skipped (no abidiff/abidw).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
baseline=$here/libgenmodel.abi
suppressions=$here/appended.abignore

update=0
if [ "${1:-}" = --update ]; then
    update=1
    shift
fi
case "${1:-}" in -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -le 2 ] || { echo "usage: $0 [--update] [<libgenmodel.so> [<include dir>]]" >&2; exit 2; }
lib=${1:-$root/build/libgenmodel.so}
include=${2:-$root/include}
headers=$include/genmodel

for tool in abidw abidiff; do
    command -v "$tool" >/dev/null 2>&1 \
        || { echo "SKIP: '$tool' not found (Debian package abigail-tools)"; exit 77; }
done
[ -e "$lib" ] || { echo "FAIL: no library at $lib (build first)" >&2; exit 1; }
[ -d "$headers" ] || { echo "FAIL: no public headers in $headers" >&2; exit 1; }
real=$(readlink -f "$lib")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-abidiff.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The library's ABI as abidw sees it: public types only (private ones, such
# as the layouts behind the opaque handles, are dropped), no build path.
# Both sides of the comparison are made this way.
abidw --headers-dir "$headers" --drop-private-types --no-corpus-path \
    --type-id-style hash --out-file "$tmp/lib.abi" "$real"
# The path of the headers is recorded in each location; make it relative
# to the checkout so that the baseline does not depend on where it was made.
sed -i "s|$root/||g" "$tmp/lib.abi"

if [ "$update" = 1 ]; then
    if [ -f "$baseline" ]; then
        rc=0
        abidiff --no-show-locs "$baseline" "$tmp/lib.abi" >"$tmp/diff" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ]; then
            echo "changes against the previous baseline (abidiff exit $rc):"
            cat "$tmp/diff"
        fi
    fi
    cp "$tmp/lib.abi" "$baseline"
    echo "updated $baseline ($(grep -c '<elf-symbol ' "$baseline") ELF symbols)"
    exit 0
fi

[ -f "$baseline" ] || { echo "FAIL: no baseline $baseline; create it with: $0 --update $lib" >&2; exit 1; }

# 1. everything but additions
rc=0
abidiff --no-added-syms --no-show-locs --suppressions "$suppressions" "$baseline" "$tmp/lib.abi" \
    >"$tmp/diff" 2>&1 || rc=$?
if [ $((rc & 3)) -ne 0 ]; then
    echo "FAIL: abidiff could not compare (exit $rc):" >&2
    cat "$tmp/diff" >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    if [ $((rc & 8)) -ne 0 ]; then
        echo "FAIL: incompatible ABI change against tests/abi/libgenmodel.abi (abidiff exit $rc):" >&2
    else
        echo "FAIL: ABI change other than an addition against tests/abi/libgenmodel.abi (abidiff exit $rc):" >&2
    fi
    cat "$tmp/diff" >&2
    echo "Programs built against the baseline may break. If the change is intended and" >&2
    echo "allowed (before a release), regenerate: $0 --update $lib" >&2
    exit 1
fi
echo "ok   no ABI change but additions against tests/abi/libgenmodel.abi"

# 2. the additions, for information
abidiff --no-show-locs --suppressions "$suppressions" "$baseline" "$tmp/lib.abi" >"$tmp/added" 2>&1 \
    || true
added=$(grep -cE "^\s+\[A\]" "$tmp/added" || true)
if [ "${added:-0}" -gt 0 ]; then
    echo "info $added function(s)/variable(s) added since the baseline:"
    grep -E "^\s+\[A\]" "$tmp/added" | sed 's/^\s*/       /'
fi
echo "abi_abidiff: passed"
