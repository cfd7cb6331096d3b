#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Tests the Rust binding against a CMake build tree (for ctest):
#
#   lib/rust/run_tests.sh BUILD_DIR
#
# Installs BUILD_DIR into a temporary prefix, points PKG_CONFIG_PATH at it
# (so the build script's pkg-config path is what is tested; GENMODEL_LIB_DIR
# is unset), sets GENMODEL_C_EXAMPLES=BUILD_DIR/examples for the test that
# compares examples/ring_gan.rs with the C gan_ring, and with
# CARGO_TARGET_DIR=BUILD_DIR/rust-target runs
#   cargo test --offline          (no test may print "skipped:": here every
#                                  test has what it needs)
#   cargo clippy --all-targets --offline -- -D warnings
#                                 (if clippy is installed; else says so)
#   cargo doc --no-deps --offline (RUSTDOCFLAGS=-D warnings)
#   cargo fmt --check             (if rustfmt is installed; rustfmt.toml)
#   downstream_test.sh PREFIX     (a new cargo project using the crate; its
#                                  binary runs without LD_LIBRARY_PATH)
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

unset GENMODEL_LIB_DIR GENMODEL_LINK  # the default: pkg-config, static libgenmodel
export PATH=$(dirname "$cargo"):$PATH  # for downstream_test.sh and cargo's subcommands
pc_dir=$(dirname "$pc")
export PKG_CONFIG_PATH=$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export GENMODEL_C_EXAMPLES=$build/examples
export CARGO_TARGET_DIR=$build/rust-target
echo "cargo: $cargo ($("$cargo" --version)); PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
cd "$here"
rc=0
"$cargo" test --offline 2>&1 | tee "$tmp/test.log" || rc=$?
[ "$rc" -eq 0 ] || { echo "FAIL: cargo test (status $rc)" >&2; exit 1; }
if grep '^skipped:' "$tmp/test.log" >&2; then
    echo "FAIL: cargo test skipped tests (above) that must run here" >&2
    exit 1
fi
if "$cargo" clippy --version >/dev/null 2>&1; then
    "$cargo" clippy --all-targets --offline -- -D warnings || { echo "FAIL: cargo clippy" >&2; exit 1; }
else
    echo "clippy not installed, skipped (rustup component add clippy)"
fi
RUSTDOCFLAGS="-D warnings" "$cargo" doc --no-deps --offline || { echo "FAIL: cargo doc" >&2; exit 1; }
if "$cargo" fmt --version >/dev/null 2>&1; then
    "$cargo" fmt --check || { echo "FAIL: cargo fmt --check (run cargo fmt in lib/rust)" >&2; exit 1; }
else
    echo "rustfmt not installed, skipped (rustup component add rustfmt)"
fi
bash "$here/downstream_test.sh" "$tmp/prefix" || exit 1
