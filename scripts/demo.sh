#!/usr/bin/env bash
# Runs the library's main job on real data: for now the fashion_mlp
# example, an MLP classifier trained on Fashion-MNIST
# (/usr/share/datasets/fashion-mnist, Debian package dataset-fashion-mnist).
#
#   scripts/demo.sh [dataset-dir [example args...]]
#
# Installs missing packages (scripts/deps.sh), builds build/, runs
# build/examples/<demo> <dataset-dir> <example args...> (fashion_mlp takes
# the number of epochs) and keeps its output in $GM_OUT_DIR (default out/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

demo=fashion_mlp
data_dir=${1:-/usr/share/datasets/fashion-mnist}
[ $# -eq 0 ] || shift
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
if [ ! -f "examples/$demo.c" ]; then
    shopt -s nullglob
    examples=(examples/*.c)
    echo "demo: examples/$demo.c does not exist; there are: ${examples[*]:-none}" >&2
    exit 1
fi
echo "--- build $demo"
cmake --build build --parallel "$jobs" --target "example_$demo"

mkdir -p "$out_dir"
log=$out_dir/$demo.log
echo "--- run build/examples/$demo $data_dir $*"
start=$(date +%s)
"build/examples/$demo" "$data_dir" "$@" 2>&1 | tee "$log"
echo "--- done in $(($(date +%s) - start))s; output kept in $log"
