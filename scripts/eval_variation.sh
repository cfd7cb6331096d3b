#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# How much the evaluation table varies between runs: trains ctest's small
# models (feature classifier 1 epoch on 2560 images, VAE 1 epoch on 1280,
# DCGAN 10 steps) once per seed, runs examples/evaluate on N images per row
# for each, and prints every metric's value per seed with its range.
#
#   scripts/eval_variation.sh [OUT_DIR]      default OUT_DIR: out/variation
#
# Environment: SEEDS (default "1 2 3"), N (images per row, default 1000),
# GM_FASHION_DIR (default /usr/share/datasets/fashion-mnist). The BLAS
# settings pass through, so the same seeds with other threads or kernels
# show what those change, e.g.
#   OPENBLAS_NUM_THREADS=1 scripts/eval_variation.sh out/variation-t1
#   OPENBLAS_CORETYPE=Haswell scripts/eval_variation.sh out/variation-avx2
# Needs the examples built in build/ (cmake --build build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/blas_env.sh

out=${1:-out/variation}
data=${GM_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
n=${N:-1000}
bin=build/examples
for b in train_features vae_fashion dcgan_fashion evaluate; do
    [ -x "$bin/$b" ] || { echo "eval_variation: $bin/$b not built (cmake --build build)" >&2; exit 1; }
done

mkdir -p "$out"
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-} N=$n"
for seed in ${SEEDS:-1 2 3}; do
    d=$out/seed$seed
    mkdir -p "$d"
    "$bin/train_features" --epochs 1 --train-limit 2560 --test-limit 1000 --min-accuracy 0.6 \
        --seed "$seed" --data "$data" --out "$d/features.gmck" >"$d/train_features.log" 2>&1
    "$bin/vae_fashion" --epochs 1 --train-limit 1280 --seed "$seed" --data "$data" --out "$d" \
        --save "$d/vae.gmck" >"$d/vae_fashion.log" 2>&1
    # the recipe of the README's variation table (10 steps, no EMA), not
    # dcgan_fashion's later defaults
    "$bin/dcgan_fashion" --train-limit 640 --seed "$seed" --data "$data" --out "$d" \
        --epochs 1 --batch-size 64 --ema 0 --penalty none --truncation 0 \
        --save "$d/dcgan.gmck" >"$d/dcgan_fashion.log" 2>&1
    "$bin/evaluate" --n "$n" --nearest 100 --iwae-n 100 --iwae-k 5 --seed "$seed" --truncation 0 \
        --data "$data" --features "$d/features.gmck" --vae "$d/vae.gmck" \
        --gan "$d/dcgan.gmck" >"$d/evaluate.log" 2>&1
    echo "seed $seed: $(tail -n 1 "$d/evaluate.log")"
done | tee "$out/runs.txt"

# one line per metric: its value for each seed, then min .. max
awk '{
    for (i = 3; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] ~ /^(n|k|seconds)$/) continue
        if (!(kv[1] in seen)) { seen[kv[1]] = 1; order[++nk] = kv[1] }
        v[kv[1]] = v[kv[1]] sprintf(" %9s", kv[2])
        if (!(kv[1] in lo) || kv[2] + 0 < lo[kv[1]]) lo[kv[1]] = kv[2] + 0
        if (!(kv[1] in hi) || kv[2] + 0 > hi[kv[1]]) hi[kv[1]] = kv[2] + 0
    }
} END {
    for (i = 1; i <= nk; i++)
        printf "%-18s%s   range %g .. %g\n", order[i], v[order[i]], lo[order[i]], hi[order[i]]
}' "$out/runs.txt"
