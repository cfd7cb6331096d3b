#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ABI test (ctest: abi_exports): what libgenmodel.so exports.
#
#   check_exports.sh [--update] [<libgenmodel.so> [<include dir>]]
#
# Defaults: build/libgenmodel.so and include/ of this checkout. Fails if
#  - the soname is not libgenmodel.so.<GM_VERSION_MAJOR> or the file is not
#    libgenmodel.so.<GM_VERSION_STRING> (both read from core.h);
#  - any exported symbol does not start with gm_, or is not versioned under
#    a GM_<major>.<minor> node of libgenmodel.map;
#  - a function declared GM_API in include/genmodel/*.h is not exported, or
#    an exported symbol is declared in no public header;
#  - the sorted list differs from tests/abi/exports.txt (shown as a diff):
#    the stable functions first, then, after the line "[experimental]",
#    those declared GM_EXPERIMENTAL (not yet frozen: a minor release may
#    change them; core.h), each set sorted.
#
# When you add (or, before 2.0, remove) a public function, regenerate the
# committed list and commit it with the change:
#
#   cmake --build build && tests/abi/check_exports.sh --update build/libgenmodel.so
#
# Exit status: 0 passed, 1 failed, 2 usage, 77 skipped (nm/readelf absent).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
list=$here/exports.txt

update=0
if [ "${1:-}" = --update ]; then
    update=1
    shift
fi
case "${1:-}" in -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -le 2 ] || { echo "usage: $0 [--update] [<libgenmodel.so> [<include dir>]]" >&2; exit 2; }
lib=${1:-$root/build/libgenmodel.so}
include=${2:-$root/include}

for tool in nm readelf perl; do
    command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: '$tool' not found"; exit 77; }
done
[ -e "$lib" ] || { echo "FAIL: no library at $lib (build first)" >&2; exit 1; }
core_h=$include/genmodel/core.h
[ -f "$core_h" ] || { echo "FAIL: no $core_h" >&2; exit 1; }

errors=0
fail() { echo "FAIL: $*" >&2; errors=$((errors + 1)); }

export LC_ALL=C
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-abi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- file name and soname --------------------------------------------------
version=$(sed -n 's/^#define GM_VERSION_STRING "\(.*\)"$/\1/p' "$core_h")
major=$(sed -n 's/^#define GM_VERSION_MAJOR \([0-9]*\)$/\1/p' "$core_h")
if [ -z "$version" ] || [ -z "$major" ]; then
    echo "FAIL: cannot read the version from $core_h" >&2
    exit 1
fi
real=$(readlink -f "$lib")
[ "$(basename "$real")" = "libgenmodel.so.$version" ] \
    || fail "library file is $(basename "$real"), expected libgenmodel.so.$version (GM_VERSION_STRING)"
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" = "libgenmodel.so.$major" ]; then
    echo "ok   soname $soname"
else
    fail "soname is '${soname}', expected libgenmodel.so.$major (GM_VERSION_MAJOR)"
fi

# --- exported symbols --------------------------------------------------------
# nm --format=posix: "name type value size"; versioned names read
# name@@NODE. The version nodes themselves are absolute (A) symbols.
nm -D --defined-only --format=posix "$real" >"$tmp/nm"
awk '$2 == "A" { print $1 }' "$tmp/nm" | sort -u >"$tmp/nodes"
awk '$2 != "A" { print $1 }' "$tmp/nm" | sort -u >"$tmp/versioned"
sed 's/@.*//' "$tmp/versioned" | sort -u >"$tmp/exports"

count=$(wc -l <"$tmp/exports")
[ "$count" -gt 0 ] || fail "the library exports no symbols at all"

if grep -v '^gm_' "$tmp/exports" >"$tmp/foreign"; then
    fail "symbols exported without the gm_ prefix (hide them: static, or no GM_API):"
    sed 's/^/    /' "$tmp/foreign" >&2
else
    echo "ok   all $count exported symbols start with gm_"
fi

if [ -s "$tmp/nodes" ]; then
    if grep -Ev '^GM_[0-9]+\.[0-9]+$' "$tmp/nodes" >"$tmp/badnodes"; then
        fail "unexpected version nodes: $(tr '\n' ' ' <"$tmp/badnodes")"
    fi
    if grep -Ev '@@?GM_[0-9]+\.[0-9]+$' "$tmp/versioned" >"$tmp/unversioned"; then
        fail "exported symbols without a GM_x.y version (libgenmodel.map):"
        sed 's/^/    /' "$tmp/unversioned" >&2
    else
        echo "ok   symbols versioned under $(paste -sd " " "$tmp/nodes")"
    fi
else
    fail "no symbol versions: was libgenmodel.map used at link time?"
fi

# --- against the public headers ------------------------------------------------
# Every GM_API declaration names a function that must be exported, and every
# export must be declared in a public header.
perl -0777 -ne '
    s{/\*.*?\*/}{}gs;                       # comments
    s{//[^\n]*}{}g;
    s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}mg;   # preprocessor lines (#define GM_API ...)
    while (/\b(GM_API|GM_EXPERIMENTAL)\b[^;{}]*?\b(gm_\w+)\s*\(/g) { print "$1 $2\n" }
' "$include"/genmodel/*.h | sort -u >"$tmp/declared_tiers"
awk '{print $2}' "$tmp/declared_tiers" | sort -u >"$tmp/declared"
awk '$1 == "GM_EXPERIMENTAL" {print $2}' "$tmp/declared_tiers" | sort -u >"$tmp/experimental"
awk '$1 == "GM_API" {print $2}' "$tmp/declared_tiers" | sort -u >"$tmp/stable"
if comm -12 "$tmp/stable" "$tmp/experimental" >"$tmp/both" && [ -s "$tmp/both" ]; then
    fail "declared both GM_API and GM_EXPERIMENTAL: $(tr '\n' ' ' <"$tmp/both")"
fi

comm -23 "$tmp/declared" "$tmp/exports" >"$tmp/missing"
comm -13 "$tmp/declared" "$tmp/exports" >"$tmp/undeclared"
if [ -s "$tmp/missing" ]; then
    fail "declared GM_API in include/genmodel/ but not exported (not implemented?):"
    sed 's/^/    /' "$tmp/missing" >&2
fi
if [ -s "$tmp/undeclared" ]; then
    fail "exported but declared in no public header:"
    sed 's/^/    /' "$tmp/undeclared" >&2
fi
if [ ! -s "$tmp/missing" ] && [ ! -s "$tmp/undeclared" ]; then
    echo "ok   exports match the $(wc -l <"$tmp/declared") GM_API functions of include/genmodel/"
fi

# --- against the committed list ------------------------------------------------
{
    echo "# Symbols exported by libgenmodel.so.$major, one per line, sorted (LC_ALL=C)."
    echo "# Checked by tests/abi/check_exports.sh (ctest: abi_exports). After adding a"
    echo "# public function, regenerate with:"
    echo "#   tests/abi/check_exports.sh --update build/libgenmodel.so"
    echo "# After [experimental]: the GM_EXPERIMENTAL functions, exported but not yet"
    echo "# frozen (a minor release may change them; include/genmodel/core.h)."
    comm -23 "$tmp/exports" "$tmp/experimental"
    echo "[experimental]"
    comm -12 "$tmp/exports" "$tmp/experimental"
} >"$tmp/exports.txt"
grep -v '^#' "$tmp/exports.txt" >"$tmp/exports_tiers"

if [ "$update" = 1 ]; then
    if [ -f "$list" ] && cmp -s "$tmp/exports.txt" "$list"; then
        echo "ok   $list is up to date"
    else
        if [ -f "$list" ]; then diff -u "$list" "$tmp/exports.txt" || true; fi
        cp "$tmp/exports.txt" "$list"
        echo "updated $list ($count symbols)"
    fi
elif [ ! -f "$list" ]; then
    fail "no $list; create it with: $0 --update $lib"
elif diff -u --label "exports.txt (committed)" --label "libgenmodel.so (built)" \
        <(grep -v '^#' "$list") "$tmp/exports_tiers" >"$tmp/diff"; then
    echo "ok   exports equal tests/abi/exports.txt ($(wc -l <"$tmp/experimental") experimental)"
else
    fail "exports differ from tests/abi/exports.txt (+ new in the library, - gone):"
    cat "$tmp/diff" >&2
    echo "If the change is intended: $0 --update $lib" >&2
fi

if [ "$errors" -ne 0 ]; then
    echo "abi_exports: $errors check(s) failed" >&2
    exit 1
fi
echo "abi_exports: all passed"
