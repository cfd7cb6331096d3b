#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The colour part of the demo (scripts/demo.sh colour runs this): colour
# models on a real folder of images, the emoji of Debian's
# fonts-noto-color-emoji (scripts/emoji_dataset.sh extracts them; the
# images are made here, never committed):
#   1. $GM_OUT_DIR/emoji           3,926 emoji in 9 group sub-folders
#      $GM_OUT_DIR/emoji_portraits the 379 heads of --portraits (104 yellow
#                                  faces, 275 people's heads, 2 groups)
#   2. build/examples/vae_colour   conv VAE on the portraits, 32 x 32 RGB
#   3. build/examples/dcgan_colour DCGAN on the portraits, 32 x 32 RGB
#   4. build/examples/evaluate_colour  the table: a feature net trained on
#      the 9 groups of the whole set (once; $GM_OUT_DIR/features_colour.gmck
#      is reused), the models' samples against the portraits' held-out
#      images next to the reference rows
# and prints the metrics table, the load times and where the grids are.
#
#   scripts/demo.sh colour [--help]
#
# The output folder is $GM_OUT_DIR (default out/colour). Each program's
# output is also kept in $GM_OUT_DIR/<name>.log. For other settings run the
# programs yourself (build/examples/PROGRAM --help lists the options), e.g.
# on your own photos: build/examples/vae_colour --data ~/Pictures --side 64.
# Installs missing packages (scripts/deps.sh), builds build/ and runs on 2
# cores; its times are printed at the end (the README has them).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi
if [ $# -gt 0 ]; then
    echo "demo colour: no options but --help (got '$1'); see scripts/demo.sh colour --help" >&2
    exit 2
fi

# shellcheck source=scripts/blas_env.sh
. scripts/blas_env.sh

out_dir=${GM_OUT_DIR:-out/colour}
jobs=${GM_JOBS:-$(nproc 2>/dev/null || echo 2)}
demo_start=$(date +%s)

bash scripts/deps.sh
echo "--- configure build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGM_BUILD_TESTS=ON -DGM_BUILD_EXAMPLES=ON \
    -DGM_SANITIZE= >/dev/null
echo "--- build the colour examples"
cmake --build build --parallel "$jobs" --target example_vae_colour example_dcgan_colour \
    example_evaluate_colour
mkdir -p "$out_dir"

summary=()
# step NAME COMMAND...: runs it, output also in $out_dir/NAME.log, timed
step() {
    local name=$1
    shift
    echo "--- $name: $*"
    local start
    start=$(date +%s)
    "$@" 2>&1 | tee "$out_dir/$name.log"
    local secs=$(($(date +%s) - start))
    echo "--- $name done in ${secs}s"
    summary+=("$(printf '%-16s %5ds' "$name" "$secs")")
}
faces=$out_dir/emoji_portraits
step emoji_dataset bash -c "scripts/emoji_dataset.sh '$out_dir/emoji' &&
                            scripts/emoji_dataset.sh '$faces' --portraits"
step vae_colour build/examples/vae_colour --data "$faces" --epochs 300 --latent 16 \
    --out "$out_dir" --save "$out_dir/vae_colour.gmck"
step dcgan_colour build/examples/dcgan_colour --data "$faces" --width 32 --batch-size 32 \
    --epochs 600 --ema 0.999 --lr-decay 0.5 --d-lr 1e-4 \
    --out "$out_dir" --save "$out_dir/dcgan_colour.gmck"
step evaluate_colour build/examples/evaluate_colour --data "$faces" \
    --feature-data "$out_dir/emoji" --features "$out_dir/features_colour.gmck" \
    --vae "$out_dir/vae_colour.gmck" --gan "$out_dir/dcgan_colour.gmck" --iwae-k 50

echo "--- loads (gm_image_folder_load, 32 x 32 RGB)"
grep -h '^loaded ' "$out_dir"/{vae_colour,evaluate_colour}.log | sort -u
echo "--- the table"
grep -E '^\||^\(Frechet|lies between' "$out_dir/evaluate_colour.log"
grep -h '^images=' "$out_dir/vae_colour.log" | grep -o 'inpaint_mse=[^ ]* meanfill_mse=[^ ]*'
echo "--- times (on $(nproc 2>/dev/null || echo '?') cores)"
printf '  %s\n' "${summary[@]}"
printf '  %-16s %5ds\n' "in all" $(($(date +%s) - demo_start))
echo "pictures: $out_dir/vae_colour_{samples,reconstructions,interpolation,inpainting}.png,"
echo "          $out_dir/dcgan_colour_{samples,interpolation}.png"
echo "logs:     $out_dir/{emoji_dataset,vae_colour,dcgan_colour,evaluate_colour}.log"
