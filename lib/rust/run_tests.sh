#!/usr/bin/env bash
# Tests the Rust binding against a CMake build tree (for ctest):
#
#   lib/rust/run_tests.sh BUILD_DIR
#
# Installs BUILD_DIR into a temporary prefix, points PKG_CONFIG_PATH at it
# (so the build script's pkg-config path is what is tested; GENMODEL_LIB_DIR
# is unset), sets GENMODEL_C_EXAMPLES=BUILD_DIR/examples for the test that
# compares examples/ring_gan.rs with the C gan_ring, and runs
# `cargo test --offline` with CARGO_TARGET_DIR=BUILD_DIR/rust-target.
# cargo is taken from PATH, else ~/.cargo/bin; cmake from $GM_CMAKE, else PATH.
# Exit status: 0 passed, 1 failed, 2 usage or a missing tool, 77 skipped (a
# sanitizer build: its library needs the sanitizer runtime preloaded).
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR  (a configured and built CMake build directory)" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmake=${GM_CMAKE:-cmake}

cargo=$(command -v cargo || true)
if [ -z "$cargo" ] && [ -x "$HOME/.cargo/bin/cargo" ]; then
    cargo=$HOME/.cargo/bin/cargo
fi
if [ -z "$cargo" ]; then
    echo "FAIL: cargo not found on PATH nor in $HOME/.cargo/bin (install Rust, e.g. with rustup)" >&2
    exit 2
fi
for tool in "$cmake" pkg-config; do
    command -v "$tool" >/dev/null 2>&1 || { echo "FAIL: '$tool' not found" >&2; exit 2; }
done
if grep -q '^GM_SANITIZE:[A-Z]*=.' "$build/CMakeCache.txt" 2>/dev/null; then
    echo "SKIP: $build is a sanitizer build (GM_SANITIZE); run this on a plain build"
    exit 77
fi
[ -d "$build/examples" ] || { echo "FAIL: no $build/examples (build with GM_BUILD_EXAMPLES=ON)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/genmodel-rust.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log" >&2; echo "FAIL: cmake --install $build" >&2; exit 1; }
pc=$(find "$tmp/prefix" -name genmodel.pc -print -quit)
[ -n "$pc" ] || { echo "FAIL: the install has no genmodel.pc" >&2; exit 1; }

unset GENMODEL_LIB_DIR
pc_dir=$(dirname "$pc")
export PKG_CONFIG_PATH=$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export GENMODEL_C_EXAMPLES=$build/examples
export CARGO_TARGET_DIR=$build/rust-target
echo "cargo: $cargo ($("$cargo" --version)); PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
cd "$here"
"$cargo" test --offline || { echo "FAIL: cargo test (status $?)" >&2; exit 1; }
