#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A user's cargo project that depends on the genmodel crate, against an
# installed libgenmodel (for lib/rust/run_tests.sh, i.e. ctest rust_binding):
#
#   lib/rust/downstream_test.sh PREFIX
#
# PREFIX is a `cmake --install BUILD --prefix PREFIX` tree (not a system
# one). In a temporary directory: `cargo new` a binary, `cargo add` this
# crate by path, give it a main that trains a tiny GAN for a few steps and
# samples from it, build it offline with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig
# and run the binary itself (not `cargo run`, which sets LD_LIBRARY_PATH)
# with LD_LIBRARY_PATH unset, three ways:
#   1. default (static libgenmodel): the binary must not need
#      libgenmodel.so.1 and must run;
#   2. GENMODEL_LINK=dylib, no build script: the binary needs libgenmodel.so.1
#      and must NOT start (the loader cannot find it: the check that the
#      environment hides the library, so that 1 means something);
#   3. GENMODEL_LINK=dylib with the two-line build.rs of README.md (an rpath
#      from DEP_GENMODEL_LIB_DIR): it must run.
# Exit status: 0 passed, 1 failed, 2 usage or a missing tool.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1/lib/pkgconfig" ]; then
    echo "usage: $0 PREFIX  (an install prefix holding lib/pkgconfig/genmodel.pc)" >&2
    exit 2
fi
prefix=$(cd "$1" && pwd)
crate=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in cargo readelf; do # readelf: binutils
    command -v $tool >/dev/null || { echo "FAIL: '$tool' not found on PATH" >&2; exit 2; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/genmodel-downstream.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
unset GENMODEL_LIB_DIR GENMODEL_LINK LD_LIBRARY_PATH
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig CARGO_TARGET_DIR=$tmp/target
fail() { echo "FAIL: downstream: $*" >&2; exit 1; }

cd "$tmp"
cargo new --quiet --vcs none --bin app
cd app
cargo add --quiet --offline --path "$crate"
cat >src/main.rs <<'EOF'
//! Trains a tiny GAN on points near (1, 1) and samples 5 points from it.
use genmodel::{Gan, GanOptions, Init, Layer, Net, Result, Rng, Tensor};

fn mlp(sizes: [usize; 3], rng: &mut Rng) -> Result<Net> {
    let mut net = Net::new()?;
    net.add(Layer::dense(sizes[0], sizes[1], Init::Torch, Some(rng))?)?;
    net.add(Layer::relu()?)?;
    net.add(Layer::dense(sizes[1], sizes[2], Init::Torch, Some(rng))?)?;
    Ok(net)
}

fn main() -> Result<()> {
    let mut rng = Rng::new(1)?;
    let (g, d) = (mlp([2, 16, 2], &mut rng)?, mlp([2, 16, 1], &mut rng)?);
    let mut gan = Gan::new(g, d, &GanOptions { latent: 2, seed: 2, ..Default::default() })?;
    let mut x = Tensor::new(&[32, 2])?;
    for _ in 0..20 {
        x.fill_normal(&mut rng)?;
        x.data_mut().iter_mut().for_each(|v| *v = 0.1 * *v + 1.0);
        gan.train_step(&x, None)?;
    }
    let mut samples = Tensor::new(&[5, 2])?;
    gan.sample(5, None, &mut samples)?;
    assert!(samples.data().iter().all(|v| v.is_finite()), "samples not finite");
    println!("libgenmodel {}: 5 samples {:?}", genmodel::version(), samples.data());
    Ok(())
}
EOF

bin=$CARGO_TARGET_DIR/debug/app
needs_lib() { readelf -d "$bin" | grep -q 'NEEDED.*\[libgenmodel\.so'; }
build() { cargo build --quiet --offline || fail "cargo build ($1)"; }

build static
needs_lib && fail "the default (static) binary needs libgenmodel.so: $(readelf -d "$bin" | grep NEEDED)"
out=$("$bin" 2>&1) || fail "the default (static) binary failed: $out"
echo "static: $out"

export GENMODEL_LINK=dylib
build dylib
needs_lib || fail "GENMODEL_LINK=dylib gave a binary that does not need libgenmodel.so"
if out=$("$bin" 2>&1); then
    fail "a dylib binary without an rpath ran: the loader finds libgenmodel by itself, so this test proves nothing"
fi
case $out in
    *libgenmodel.so*) echo "dylib, no rpath (fails as expected): $out" ;;
    *) fail "the dylib binary without an rpath failed, but not for libgenmodel: $out" ;;
esac

cat >build.rs <<'EOF'
fn main() {
    if let Ok(dir) = std::env::var("DEP_GENMODEL_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
EOF
build "dylib with build.rs"
out=$("$bin" 2>&1) || fail "the dylib binary with the README's build.rs failed: $out"
echo "dylib + build.rs rpath: $out"
echo "downstream: passed"
