#!/usr/bin/env bash
# The library's main job on real data: trains the reference VAE on
# Fashion-MNIST (/usr/share/datasets/fashion-mnist, Debian package
# dataset-fashion-mnist), the ring GAN and one epoch of the DCGAN, prints
# their metrics and writes PNG sample grids; then evaluates the VAE and the
# DCGAN against the test set (Frechet distance, precision/recall,
# memorization check, IWAE) next to reference rows.
#
#   scripts/demo.sh [vae_fashion options...]
#       e.g. scripts/demo.sh --seed 7 --epochs 3
#
# Installs missing packages (scripts/deps.sh), builds build/ and runs, with
# --out $GM_OUT_DIR (default out/):
#   build/examples/vae_fashion [options]   ~3 minutes on 2 cores
#   build/examples/gan_ring                ~20 seconds
#   build/examples/dcgan_fashion           one epoch, ~4 minutes
#   build/examples/train_features          the evaluation's feature classifier,
#                                          once (kept in $GM_OUT_DIR/features.gmck), ~4 minutes
#   build/examples/evaluate                the evaluation table, ~1 minute
# Each one's output is also kept in $GM_OUT_DIR/<name>.log.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/blas_env.sh
. scripts/blas_env.sh

out_dir=${GM_OUT_DIR:-out}
jobs=${GM_JOBS:-$(nproc 2>/dev/null || echo 2)}

bash scripts/deps.sh

# Same options as scripts/test.sh, so the two share build/ without
# reconfiguring.
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DGM_BUILD_TESTS=ON -DGM_BUILD_EXAMPLES=ON
            -DGM_SANITIZE=)
if [ "${CI:-}" = true ] || [ ! -t 1 ]; then
    cmake_args+=(-DCMAKE_COLOR_MAKEFILE=OFF)
fi
echo "--- configure build/"
cmake -S . -B build "${cmake_args[@]}" >/dev/null
echo "--- build the examples"
cmake --build build --parallel "$jobs" --target example_vae_fashion example_gan_ring \
    example_dcgan_fashion example_train_features example_evaluate

mkdir -p "$out_dir"
# run NAME ARGS...: runs build/examples/NAME, its output also in $out_dir/NAME.log
run() {
    local name=$1
    shift
    echo "--- run build/examples/$name $*"
    local start
    start=$(date +%s)
    "build/examples/$name" "$@" 2>&1 | tee "$out_dir/$name.log"
    echo "--- $name done in $(($(date +%s) - start))s"
}
run vae_fashion --out "$out_dir" --save "$out_dir/vae.gmck" "$@"
run gan_ring --out "$out_dir/gan_ring.png"
run dcgan_fashion --epochs 1 --out "$out_dir" --save "$out_dir/dcgan.gmck"
# evaluation: the feature classifier is trained once, then reused
if [ ! -f "$out_dir/features.gmck" ]; then
    run train_features --out "$out_dir/features.gmck"
else
    echo "--- $out_dir/features.gmck exists: not retraining the feature classifier"
fi
run evaluate --features "$out_dir/features.gmck" --vae "$out_dir/vae.gmck" \
    --gan "$out_dir/dcgan.gmck"
echo "pictures: $out_dir/samples.png (VAE samples), $out_dir/reconstructions.png"
echo "          (test images over their reconstructions), $out_dir/interpolation.png"
echo "          (latent interpolation), $out_dir/inpainting.png (originals, damaged, repaired),"
echo "          $out_dir/gan_ring.png (ring GAN samples in black, the 8 modes in red),"
echo "          $out_dir/dcgan_samples.png (DCGAN samples after one epoch, fixed noise)"
echo "checkpoints: $out_dir/vae.gmck, $out_dir/dcgan.gmck, $out_dir/features.gmck (evaluation)"
echo "logs:     $out_dir/{vae_fashion,gan_ring,dcgan_fashion,train_features,evaluate}.log"
