#!/usr/bin/env bash
# The library's main job on real data: trains the reference VAE on
# Fashion-MNIST (/usr/share/datasets/fashion-mnist, Debian package
# dataset-fashion-mnist), prints per-epoch metrics and writes PNG sample
# grids.
#
#   scripts/demo.sh [vae_fashion options...]
#       e.g. scripts/demo.sh --seed 7 --epochs 3
#
# Installs missing packages (scripts/deps.sh), builds build/ and runs
# build/examples/vae_fashion --out $GM_OUT_DIR (default out/) with the
# given options; the output is also kept in $GM_OUT_DIR/vae_fashion.log.
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
echo "--- build vae_fashion"
cmake --build build --parallel "$jobs" --target example_vae_fashion

mkdir -p "$out_dir"
log=$out_dir/vae_fashion.log
echo "--- run build/examples/vae_fashion --out $out_dir $*"
start=$(date +%s)
build/examples/vae_fashion --out "$out_dir" "$@" 2>&1 | tee "$log"
echo "--- done in $(($(date +%s) - start))s"
echo "pictures: $out_dir/samples.png (new samples), $out_dir/reconstructions.png"
echo "          (test images over their reconstructions), $out_dir/interpolation.png"
echo "          (latent interpolation), $out_dir/inpainting.png (originals, damaged, repaired)"
echo "log:      $log"
