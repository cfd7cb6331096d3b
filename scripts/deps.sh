#!/usr/bin/env bash
# Makes sure the Debian packages libgenmodel needs are installed.
#
#   scripts/deps.sh [extra-package ...]
#
# Checks each package with dpkg-query. If some are missing: as root, runs
# `apt-get update` once and installs them; otherwise names them and exits
# non-zero. Extra package names on the command line are checked (and
# installed) too, e.g. `scripts/deps.sh valgrind`.
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
    libdnnl-dev           # oneDNN: Conv2D/ConvTranspose2D kernels (GM_WITH_DNNL)
    check                 # the C test framework (pkg-config: check)
    dataset-fashion-mnist # /usr/share/datasets/fashion-mnist, for the demo
    python3-numpy         # the Python bindings' tests
    python3-scipy         # tests/reference/eval_reference.py (Frechet distance reference)
    libopenmpi-dev        # the MPI data-parallel example (pkg-config: ompi-c)
    openmpi-bin           # mpirun, for its 2-rank test
    clang                 # the fuzz targets (scripts/fuzz.sh, test.sh stage fuzz)
    libclang-rt-14-dev    # libFuzzer and clang's sanitizer runtimes (not pulled
                          # in by clang with --no-install-recommends)
    valgrind              # test.sh stage valgrind (ctest -L valgrind)
    abigail-tools         # abidw/abidiff: ctest abi_abidiff (tests/abi/check_abi.sh)
)
packages+=("$@")

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
