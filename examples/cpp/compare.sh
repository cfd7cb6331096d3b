#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The C++ VAE example against the C one: both run one short epoch with the
# same flags and OPENBLAS_NUM_THREADS=1, and their --samples-out files (the
# 64 samples' raw float32 values) must be byte-identical; so must their PNGs
# and their metrics (the last line, without the timings).
#
#   compare.sh CPP_BIN C_BIN [DATA_DIR]
#
# DATA_DIR holds Fashion-MNIST (default /usr/share/datasets/fashion-mnist).
# Exit status: 0 identical, 1 different or a run failed, 2 usage,
# 77 skipped (no data set).
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 CPP_BIN C_BIN [DATA_DIR]" >&2
    exit 2
fi
cpp=$1 c=$2 data=${3:-/usr/share/datasets/fashion-mnist}
for bin in "$cpp" "$c"; do
    [ -x "$bin" ] || { echo "FAIL: $bin is not an executable" >&2; exit 1; }
done
if [ ! -r "$data/train-images-idx3-ubyte.gz" ] || [ ! -r "$data/t10k-images-idx3-ubyte.gz" ]; then
    echo "SKIP: no Fashion-MNIST in $data"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-cpp-compare.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1
for side in c cpp; do
    if [ $side = c ]; then bin=$c; else bin=$cpp; fi
    rc=0
    "$bin" --seed 1 --epochs 1 --train-limit 1280 --data "$data" --out "$tmp/$side" \
        --samples-out "$tmp/$side/samples.raw" >"$tmp/$side.log" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL: $bin exited with status $rc:" >&2
        cat "$tmp/$side.log" >&2
        exit 1
    fi
done

status=0
for f in samples.raw samples.png reconstructions.png interpolation.png inpainting.png; do
    cmp "$tmp/c/$f" "$tmp/cpp/$f" || { echo "FAIL: the C++ example's $f differs from the C one's" >&2; status=1; }
done
metrics() { tail -n 1 "$1" | sed 's/ train_seconds=.*//'; }
if [ "$(metrics "$tmp/c.log")" != "$(metrics "$tmp/cpp.log")" ]; then
    printf 'FAIL: metrics differ\n  C:   %s\n  C++: %s\n' "$(metrics "$tmp/c.log")" "$(metrics "$tmp/cpp.log")" >&2
    status=1
fi
[ $status -eq 0 ] && echo "PASS: the C++ and C examples wrote identical samples ($(metrics "$tmp/c.log"))"
exit $status
