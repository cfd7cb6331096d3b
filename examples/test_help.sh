#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every example's command line: `--help` prints the usage and each option
# with its default to stdout and exits 0; an unknown option, a missing value
# and a bad number each print what is wrong and the usage to stderr, nothing
# to stdout, and exit 2 (before any data is read).
#
#   examples/test_help.sh EXAMPLES_DIR PROGRAM...
#
# Exit status: 0 all as described, 1 otherwise, 2 usage.
set -uo pipefail

if [ $# -lt 2 ] || [ ! -d "$1" ]; then
    echo "usage: $0 EXAMPLES_DIR PROGRAM..." >&2
    exit 2
fi
dir=$1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-help.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAIL: $*" >&2; status=1; }

for prog in "$@"; do
    bin=$dir/$prog
    before=$status
    status=0
    [ -x "$bin" ] || { fail "$bin is not an executable"; continue; }
    rc=0
    "$bin" --help >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ $rc -eq 0 ] || fail "$prog --help exited $rc"
    [ -s "$tmp/err" ] && fail "$prog --help wrote to stderr: $(head -n 2 "$tmp/err")"
    grep -q "^usage: $prog \[options\]" "$tmp/out" || fail "$prog --help: no usage line"
    grep -q -- "--help *print this help" "$tmp/out" || fail "$prog --help: --help not listed"
    # every option line ends its text with its default
    n_opts=$(grep -c '^  --' "$tmp/out")
    n_defaults=$(sed -n '/^options:/,$p' "$tmp/out" | grep -ow 'default' | wc -l)
    if [ "$n_opts" -lt 2 ] || [ "$n_defaults" -ne $((n_opts - 1)) ]; then
        fail "$prog --help: $n_opts options but $n_defaults defaults"
    fi
    # the first option that takes a number, to give it a bad one
    num_opt=$(grep -o '^  --[a-z-]* [NX] ' "$tmp/out" | head -n 1 | awk '{print $1}')
    for args in "--no-such-option" "$num_opt" "$num_opt abc" "$num_opt=-1" "$num_opt 1e999x"; do
        rc=0
        # shellcheck disable=SC2086 # the words of $args are separate arguments
        "$bin" $args >"$tmp/out" 2>"$tmp/err" || rc=$?
        [ $rc -eq 2 ] || fail "$prog $args exited $rc, not 2"
        [ -s "$tmp/out" ] && fail "$prog $args wrote to stdout: $(head -n 1 "$tmp/out")"
        grep -q "^usage: $prog" "$tmp/err" || fail "$prog $args: no usage on stderr"
    done
    [ $status -eq 0 ] && echo "ok: $prog ($((n_opts - 1)) options)"
    [ "$before" -eq 0 ] || status=$before
done
[ $status -eq 0 ] && echo "PASS: $# programs"
exit $status
