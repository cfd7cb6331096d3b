#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The include check must be able to fail: it runs on a copy of src/ with one
# forbidden #include planted at a time (each arrow the rules forbid) and
# must fail naming that file; a clean copy must pass.
#   tests/rules/test_check_includes.sh SRC_DIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=${1:-$here/../../src}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail=0
# "file to plant into|the include"
plants=(
    "engine/net.c|vae/vae_internal.h"
    "engine/engine.h|gan/gan_internal.h"
    "engine/blas.c|io/checkpoint.h"
    "engine/tensor.c|eval/eval_internal.h"
    "engine/layer.c|model/model.h"
    "vae/vae.c|gan/gan_internal.h"
    "gan/gan.c|vae/vae_internal.h"
    "core/error.c|engine/engine.h"
    "core/internal.h|io/atomic.h"
    "model/model.c|vae/vae_internal.h"
    "model/model.c|gan/gan_internal.h"
    "interp/interp.c|io/image.h"
    "vae/elbo.c|../gan/gan_internal.h"
)
for p in "${plants[@]}"; do
    file=${p%%|*} inc=${p#*|}
    rm -rf "$tmp/src" && cp -r "$src" "$tmp/src"
    mkdir -p "$(dirname "$tmp/src/$file")"
    printf '#include "%s"\n' "$inc" >>"$tmp/src/$file"
    set +e
    out=$(bash "$here/check_includes.sh" "$tmp/src")
    rc=$?
    set -e
    if [ "$rc" = 1 ] && grep -q "^src/$file:[0-9]*: #include \"$inc\"" <<<"$out"; then
        echo "ok: planted $inc in $file: $(grep "^src/$file:" <<<"$out")"
    else
        echo "FAIL: planted $inc in $file: exit $rc, output:"
        echo "$out"
        fail=1
    fi
done

rm -rf "$tmp/src" && cp -r "$src" "$tmp/src"
if out=$(bash "$here/check_includes.sh" "$tmp/src"); then
    echo "ok: the unchanged copy passes"
else
    echo "FAIL: the unchanged copy fails:"
    echo "$out"
    fail=1
fi
exit "$fail"
