#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Makes sure the Debian packages libgenmodel needs are installed.
#
#   scripts/deps.sh [--bench] [extra-package ...]
#
# Checks each package with dpkg-query. If some are missing: as root, runs
# `apt-get update` once and installs them; otherwise names them and exits
# non-zero. Extra package names on the command line are checked (and
# installed) too, e.g. `scripts/deps.sh valgrind`. --bench adds what
# bench/run.sh needs besides the build (its PyTorch twins).
set -euo pipefail

# What building, testing and the demo need. The PyTorch reference numbers
# used by the tests are committed under tests/data, so python3-torch is only
# needed to regenerate them, not here.
packages=(
    build-essential       # gcc, make, libc headers
    cmake
    pkg-config
    libopenblas-dev       # BLAS (pkg-config: openblas)
    zlib1g-dev            # gzip'd IDX files (pkg-config: zlib)
    libpng-dev            # PNG sample grids (pkg-config: libpng)
    libjpeg62-turbo-dev   # JPEG files of image folders (pkg-config: libjpeg)
    libdnnl-dev           # oneDNN: Conv2D/ConvTranspose2D kernels (GM_WITH_DNNL)
    check                 # the C test framework (pkg-config: check)
    dataset-fashion-mnist # /usr/share/datasets/fashion-mnist, for the demo
    gnuplot-nox           # scripts/plot_curves.sh: the demo's loss curves (not the library)
    python3-numpy         # the Python bindings' tests
    python3-pip           # pip install ./lib/python (ctest python_installed)
    python3-setuptools    # lib/python/pyproject.toml's build backend
    python3-wheel         # setuptools builds the wheel pip installs
    python3-venv          # the venv python_installed pip-installs into
    python3-scipy         # tests/reference/eval_reference.py (Frechet distance reference)
    libopenmpi-dev        # the MPI data-parallel example (pkg-config: ompi-c)
    openmpi-bin           # mpirun, for its 2-rank test
    clang                 # the fuzz targets (scripts/fuzz.sh, test.sh stage fuzz)
    libclang-rt-14-dev    # libFuzzer and clang's sanitizer runtimes (not pulled
                          # in by clang with --no-install-recommends)
    valgrind              # test.sh stage valgrind (ctest -L valgrind)
    abigail-tools         # abidw/abidiff: ctest abi_abidiff (tests/abi/check_abi.sh)
    doxygen               # the API reference: cmake target docs, ctest docs
    python3-pil           # tests/reference/folder_reference.py (image-folder fixture)
    python3-fonttools     # scripts/emoji_dataset.sh (emoji bitmaps out of the font)
    fonts-noto-color-emoji # the colour emoji set of scripts/emoji_dataset.sh, test_folder
    file                  # cpack -G DEB with dpkg-shlibdeps (tests/deb/run.sh)
    gcovr                 # test.sh stage coverage (line and branch coverage of src/)
)
bench_packages=(
    python3-torch         # bench/ref/*.py: the PyTorch twins of the benchmarks
    libjemalloc2          # bench/run.sh also runs the twins under jemalloc (LD_PRELOAD)
    libxsmm-dev           # bench/small_gemm: libxsmm against OpenBLAS on the small products
)
for a in "$@"; do
    if [ "$a" = --bench ]; then packages+=("${bench_packages[@]}"); else packages+=("$a"); fi
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: no dpkg-query (not Debian?): not checking packages." >&2
    echo "deps: needed: ${packages[*]}" >&2
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    state=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    if [ "$state" != installed ]; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all ${#packages[@]} packages installed"
    exit 0
fi

echo "deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: not root; install them with:" >&2
    echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
