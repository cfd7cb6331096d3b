#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The library's main job on real data: trains the reference VAE on
# Fashion-MNIST (/usr/share/datasets/fashion-mnist, Debian package
# dataset-fashion-mnist), the ring GAN and the DCGAN, prints their metrics,
# writes PNG sample grids (one per epoch, too) and the losses as CSV, draws
# the loss curves (scripts/plot_curves.sh, gnuplot); then evaluates the VAE
# and the DCGAN against the test set (Frechet distance, precision/recall,
# memorization check, IWAE) next to reference rows.
#
#   scripts/demo.sh [--help] [--MODEL-OPTION [VALUE] ...]
#   scripts/demo.sh colour     (colour models on the emoji: scripts/demo_colour.sh)
#
# Options go to one program each, named by their prefix:
#   --vae-X       build/examples/vae_fashion --X      (the VAE)
#   --ring-X      build/examples/gan_ring --X         (the ring GAN)
#   --dcgan-X     build/examples/dcgan_fashion --X    (the DCGAN)
#   --features-X  build/examples/train_features --X   (the evaluation's features)
#   --eval-X      build/examples/evaluate --X         (the evaluation table)
# and the words after one that do not start with -- are its values, e.g.
#   scripts/demo.sh --vae-epochs 20 --vae-seed 7 --dcgan-epochs 3
# (build/examples/PROGRAM --help lists each program's options and defaults).
# They are checked before anything is trained. The output folder is
# $GM_OUT_DIR (default out/), given to every program by the demo. The
# feature classifier is trained when $GM_OUT_DIR/features.gmck is missing
# or --features-* options are given, else reused.
#
# Installs missing packages (scripts/deps.sh), builds build/ and runs, with
# the defaults, on 2 cores. Times from `time scripts/demo.sh` in a fresh
# clone (packages installed; each step's as the demo prints it at the end;
# the README has the same table, and a run at load 8-22 beside it):
#   build/examples/vae_fashion      10 epochs                  19 s
#   build/examples/gan_ring         6000 steps                  7 s
#   build/examples/dcgan_fashion    5 epochs of batch 16      313 s
#     (lazy R1, a moving-average generator, grids at |z| <= 1.2: the
#     recipe README's "The DCGAN recipe" chose)
#   build/examples/train_features   5 epochs, once             31 s
#   build/examples/evaluate         5000 images per row        10 s
#   scripts/plot_curves.sh          the loss curves            ~1 s
#   in all, with the build: 6 min 31 s wall (2026-12-05, oneDNN)
# Each one's output is also kept in $GM_OUT_DIR/<name>.log.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# `scripts/demo.sh colour`: the colour models on the emoji (scripts/demo_colour.sh)
if [ "${1:-}" = colour ]; then
    shift
    exec bash scripts/demo_colour.sh "$@"
fi

if [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi

# The options, sorted to their programs.
vae_args=() ring_args=() dcgan_args=() features_args=() eval_args=()
target=
for arg in "$@"; do
    case $arg in
    --vae-?*) target=vae_args arg=--${arg#--vae-} ;;
    --ring-?*) target=ring_args arg=--${arg#--ring-} ;;
    --dcgan-?*) target=dcgan_args arg=--${arg#--dcgan-} ;;
    --features-?*) target=features_args arg=--${arg#--features-} ;;
    --eval-?*) target=eval_args arg=--${arg#--eval-} ;;
    --*)
        echo "demo: $arg names no program: use --vae-, --ring-, --dcgan-, --features- or" \
            "--eval- before the option's name (scripts/demo.sh --help)" >&2
        exit 2
        ;;
    *)
        if [ -z "$target" ]; then
            echo "demo: '$arg' follows no option (scripts/demo.sh --help)" >&2
            exit 2
        fi
        ;;
    esac
    eval "$target+=(\"\$arg\")"
done

# shellcheck source=scripts/blas_env.sh
. scripts/blas_env.sh

out_dir=${GM_OUT_DIR:-out}
jobs=${GM_JOBS:-$(nproc 2>/dev/null || echo 2)}
demo_start=$(date +%s)

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

# check NAME ARGS...: whether build/examples/NAME takes ARGS. A program
# whose --help exits 0 stops there after checking what comes before it;
# one without --help is not checked here.
check() {
    local name=$1
    shift
    [ $# -gt 0 ] || return 0
    "build/examples/$name" --help >/dev/null 2>&1 || return 0
    if ! "build/examples/$name" "$@" --help >/dev/null 2>"$out_dir/$name.log"; then
        echo "demo: build/examples/$name does not take: $*" >&2
        head -n 1 "$out_dir/$name.log" >&2
        echo "(build/examples/$name --help lists its options)" >&2
        exit 2
    fi
}
mkdir -p "$out_dir"
check vae_fashion "${vae_args[@]}"
check gan_ring "${ring_args[@]}"
check dcgan_fashion "${dcgan_args[@]}"
check train_features "${features_args[@]}"
check evaluate "${eval_args[@]}"

# run NAME ARGS...: runs build/examples/NAME, its output also in
# $out_dir/NAME.log, its time added to the summary
summary=()
run() {
    local name=$1
    shift
    echo "--- run build/examples/$name $*"
    local start
    start=$(date +%s)
    "build/examples/$name" "$@" 2>&1 | tee "$out_dir/$name.log"
    local secs=$(($(date +%s) - start))
    echo "--- $name done in ${secs}s"
    summary+=("$(printf '%-16s %5ds' "$name" "$secs")")
}
run vae_fashion --out "$out_dir" --save "$out_dir/vae.gmck" "${vae_args[@]}"
run gan_ring --out "$out_dir/gan_ring.png" "${ring_args[@]}"
run dcgan_fashion --out "$out_dir" --save "$out_dir/dcgan.gmck" "${dcgan_args[@]}"
echo "--- draw the loss curves"
bash scripts/plot_curves.sh "$out_dir"
# evaluation: the feature classifier is trained once, then reused
if [ ! -f "$out_dir/features.gmck" ] || [ ${#features_args[@]} -gt 0 ]; then
    run train_features --out "$out_dir/features.gmck" "${features_args[@]}"
else
    echo "--- $out_dir/features.gmck exists: not retraining the feature classifier"
fi
run evaluate --features "$out_dir/features.gmck" --vae "$out_dir/vae.gmck" \
    --gan "$out_dir/dcgan.gmck" "${eval_args[@]}"

echo "--- times (on $(nproc 2>/dev/null || echo '?') cores)"
printf '  %s\n' "${summary[@]}"
printf '  %-16s %5ds\n' "in all" $(($(date +%s) - demo_start))
echo "plots:    $out_dir/vae_curves.png (VAE: train and test -ELBO per epoch; the test"
echo "          -ELBO's reconstruction and KL terms), $out_dir/dcgan_curves.png (DCGAN:"
echo "          D and G losses; D(x) and D(G(z)) per step); their data: $out_dir/*.csv"
echo "pictures: $out_dir/samples.png (VAE samples), $out_dir/reconstructions.png"
echo "          (test images over their reconstructions), $out_dir/interpolation.png"
echo "          (latent interpolation), $out_dir/inpainting.png (originals, damaged, repaired),"
echo "          $out_dir/gan_ring.png (ring GAN samples in black, the 8 modes in red),"
echo "          $out_dir/dcgan_samples.png (DCGAN samples after the last epoch, fixed noise"
echo "          cut to |z| <= 1.2, from the moving average of the generator's weights);"
echo "          one grid per epoch: $out_dir/vae_samples_epoch*.png, $out_dir/dcgan_samples_epoch*.png"
echo "checkpoints: $out_dir/vae.gmck, $out_dir/dcgan.gmck (--vae-resume / --dcgan-resume go on"
echo "          from them), $out_dir/features.gmck (evaluation)"
echo "logs:     $out_dir/{vae_fashion,gan_ring,dcgan_fashion,train_features,evaluate}.log"
