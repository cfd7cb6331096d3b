#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# --save / --resume of the two Fashion-MNIST training examples: a run of
# 1 epoch saved and resumed up to epoch 2 must go on at the saved step
# (the step count continues, the CSV files gain epoch 2's rows after epoch
# 1's) and end with the samples of a straight 2-epoch run, byte for byte
# (one BLAS thread, so the GEMMs are deterministic); a checkpoint that does
# not fit the flags must be refused with exit 1 and a message naming them.
#
#   examples/test_resume.sh EXAMPLES_DIR [DATA_DIR]
#
# DATA_DIR holds Fashion-MNIST (default /usr/share/datasets/fashion-mnist).
# Exit status: 0 as described, 1 otherwise, 2 usage, 77 skipped (no data).
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -d "$1" ]; then
    echo "usage: $0 EXAMPLES_DIR [DATA_DIR]" >&2
    exit 2
fi
dir=$1 data=${2:-/usr/share/datasets/fashion-mnist}
if [ ! -r "$data/train-images-idx3-ubyte.gz" ] || [ ! -r "$data/t10k-images-idx3-ubyte.gz" ]; then
    echo "SKIP: no Fashion-MNIST in $data"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-resume.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export OPENBLAS_NUM_THREADS=1
status=0
fail() { echo "FAIL: $*" >&2; status=1; }
# run LOG PROGRAM ARGS...: runs it, its output in $tmp/LOG; fails the test
# unless it exits 0
run() {
    local log=$1 prog=$2
    shift 2
    if ! "$dir/$prog" --data "$data" "$@" >"$tmp/$log" 2>&1; then
        fail "$prog $* exited non-zero:"
        cat "$tmp/$log" >&2
    fi
}
# check_resume PROGRAM STEPS_PER_EPOCH SAMPLES ARGS...: straight 2 epochs
# in $tmp/PROGRAM.a, 1 epoch + resume in $tmp/PROGRAM.b; SAMPLES is the
# file (in the out folder, or $tmp) that must be equal
check_resume() {
    local prog=$1 spe=$2 samples=$3
    shift 3
    local a=$tmp/$prog.a b=$tmp/$prog.b ck=$tmp/$prog.gmck raw_a=() raw_b=()
    if [ "$prog" = vae_fashion ]; then # also the final samples, of the VAE's own generator
        raw_a=(--samples-out "$tmp/a.raw")
        raw_b=(--samples-out "$tmp/b.raw")
    fi
    run "$prog.a.log" "$prog" --epochs 2 --out "$a" "${raw_a[@]}" "$@"
    run "$prog.b1.log" "$prog" --epochs 1 --out "$b" --save "$ck" "$@"
    run "$prog.b2.log" "$prog" --epochs 2 --out "$b" --resume "$ck" "${raw_b[@]}" "$@"
    if [ ${#raw_a[@]} -gt 0 ]; then
        cmp "$tmp/a.raw" "$tmp/b.raw" || fail "$prog: resumed run's final samples differ"
    fi
    grep -q "^resumed from $ck: epoch 1, step $spe\$" "$tmp/$prog.b2.log" ||
        fail "$prog: no 'resumed from $ck: epoch 1, step $spe' line"
    cmp "$a/$samples" "$b/$samples" || fail "$prog: resumed run's $samples differs from straight"
    for csv in "$a"/*_epochs.csv; do
        local name
        name=$(basename "$csv")
        # step and epoch columns: "$spe,1" then "$((2 * spe)),2" in both
        local want
        want=$(printf 'step,epoch\n%s,1\n%s,2' "$spe" $((2 * spe)))
        [ "$(cut -d, -f1-2 "$b/$name")" = "$want" ] ||
            fail "$prog: resumed $name's steps and epochs are not $spe,1 / $((2 * spe)),2: $(cut -d, -f1-2 "$b/$name" | tr '\n' ' ')"
        # the losses (not the seconds) equal the straight run's
        local cols
        cols=$(head -n 1 "$csv" | tr ',' '\n' | grep -vn seconds | cut -d: -f1 | paste -sd,)
        [ "$(cut -d, -f"$cols" "$csv")" = "$(cut -d, -f"$cols" "$b/$name")" ] ||
            fail "$prog: resumed $name's losses differ from the straight run's"
    done
    # a flag that does not fit the checkpoint: refused, named
    local rc=0
    "$dir/$prog" --data "$data" --epochs 2 --out "$tmp/$prog.c" --resume "$ck" --latent 7 "$@" \
        >"$tmp/$prog.c.log" 2>&1 || rc=$?
    [ $rc -eq 1 ] || fail "$prog --resume with --latent 7 exited $rc, not 1"
    grep -q "trained with --latent [0-9]* .*not --latent 7" "$tmp/$prog.c.log" ||
        fail "$prog --resume with --latent 7: no message naming --latent: $(tail -n 1 "$tmp/$prog.c.log")"
    [ $status -eq 0 ] && echo "ok: $prog resumed at step $spe, same samples as straight"
}

check_resume vae_fashion 10 vae_samples_epoch002.png --train-limit 1280
# DCGAN: 20 steps an epoch of 16 images (the default recipe: its moving-average
# generator on, lazy R1 every 16th D update, so the resume falls mid-cycle)
check_resume dcgan_fashion 20 dcgan_samples.png --train-limit 320 --log-every 2
[ $status -eq 0 ] && echo "PASS: vae_fashion and dcgan_fashion resume exactly"
exit $status
