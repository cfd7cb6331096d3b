#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The colour examples on a real folder of images (the emoji "faces and
# people" set that scripts/emoji_dataset.sh extracts from Debian's
# fonts-noto-color-emoji), short:
#   smoke    vae_colour, dcgan_colour (320 files, 1-2 epochs; the GAN with
#            --ema, --d-lr, --lr-decay, and a short --r1 run) write their
#            grids and key=value lines; evaluate_colour trains a 1-epoch
#            feature net and prints the table with the models' rows; bad
#            flags and a missing folder exit non-zero with a message
#   inpaint  vae_colour --check-inpaint on the whole set: after a few
#            epochs the VAE must fill the missing pixels of held-out images
#            with a lower MSE than the mean training image does (exit 1 if
#            not; a 1-epoch run does not, so the check can fail)
#   portraits  emoji_dataset.sh --portraits: the 379 heads (104 yellow
#            faces, 275 people's heads), a subset of --faces, with heads in
#            every skin tone and hair colour in and professions, gestures,
#            bodies and families out
#
#   examples/test_colour.sh MODE EXAMPLES_DIR SCRIPTS_DIR
#
# Exit status: 0 passed, 1 failed, 2 usage, 77 skipped (no emoji font or
# python3-fonttools: scripts/deps.sh installs them).
set -uo pipefail

if [ $# -ne 3 ] || [ ! -d "$2" ] || [ ! -d "$3" ]; then
    echo "usage: $0 smoke|inpaint|portraits EXAMPLES_DIR SCRIPTS_DIR" >&2
    exit 2
fi
mode=$1 dir=$2 scripts=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-colour.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$scripts/emoji_dataset.sh" "$tmp/faces" --faces > "$tmp/emoji.log" 2>&1
case $? in
0) ;;
3) echo "SKIP: $(cat "$tmp/emoji.log")"; exit 77 ;;
*) cat "$tmp/emoji.log" >&2; echo "FAIL: emoji_dataset.sh" >&2; exit 1 ;;
esac
status=0
fail() { echo "FAIL: $*" >&2; status=1; }
# run LOG PROGRAM ARGS...: runs it, its output in $tmp/LOG; fails on a non-zero exit
run() {
    local log=$1
    shift
    if ! "$@" > "$tmp/$log" 2>&1; then
        cat "$tmp/$log" >&2
        fail "$* exited non-zero"
        return 1
    fi
    tail -n 1 "$tmp/$log"
}

case $mode in
smoke)
    run vae.log "$dir/vae_colour" --data "$tmp/faces" --max-files 320 --epochs 1 \
        --inpaint-iters 10 --out "$tmp/vae" --save "$tmp/vae.gmck"
    run gan.log "$dir/dcgan_colour" --data "$tmp/faces" --max-files 320 --epochs 2 --width 16 \
        --ema 0.99 --d-lr 1e-4 --lr-decay 0.5 --out "$tmp/gan" --save "$tmp/gan.gmck"
    # the R1 penalty's own training step (D without batchnorm)
    run r1.log "$dir/dcgan_colour" --data "$tmp/faces" --max-files 64 --epochs 1 --width 8 \
        --batch-size 16 --r1 1 --out "$tmp/r1"
    grep -q '^images=64 .*losses_finite=1' "$tmp/r1.log" || fail "dcgan_colour --r1's last line"
    for f in vae/vae_colour_samples.png vae/vae_colour_reconstructions.png \
             vae/vae_colour_interpolation.png vae/vae_colour_inpainting.png \
             vae/vae_colour_epochs.csv gan/dcgan_colour_samples.png \
             gan/dcgan_colour_interpolation.png gan/dcgan_colour_epochs.csv vae.gmck gan.gmck; do
        [ -s "$tmp/$f" ] || fail "no $f"
    done
    grep -q '^images=320 held_out=32 side=32 .*inpaint_mse=' "$tmp/vae.log" ||
        fail "vae_colour's last line"
    grep -q '^images=320 .*losses_finite=1' "$tmp/gan.log" || fail "dcgan_colour's last line"
    # PNG header: 8-bit RGB (colour type 2)
    od -An -tu1 -j24 -N2 "$tmp/vae/vae_colour_samples.png" | grep -q '^ *8 *2$' ||
        fail "vae_colour_samples.png is not 8-bit RGB"
    run eval.log "$dir/evaluate_colour" --data "$tmp/faces" --feature-epochs 1 --nearest 50 \
        --features "$tmp/features.gmck" --vae "$tmp/vae.gmck" --gan "$tmp/gan.gmck"
    for r in 'train images' 'train, classes 0-0' VAE DCGAN 'mean image' 'uniform noise'; do
        grep -q "^| $r " "$tmp/eval.log" || fail "no '$r' row in evaluate_colour's table"
    done
    grep -q 'vae_fd=.*dcgan_fd=.*noise_fd=' "$tmp/eval.log" || fail "evaluate_colour's keys"
    # mistakes: a message naming the problem and a non-zero exit
    for args in "--data $tmp/none" "--data $tmp/faces --side 48" "--epochs 1"; do
        if "$dir/vae_colour" $args --out "$tmp/bad" > "$tmp/bad.log" 2>&1; then
            fail "vae_colour $args succeeded"
        fi
        grep -q 'vae_colour: ' "$tmp/bad.log" || fail "vae_colour $args: no message"
    done
    ;;
inpaint)
    run vae.log "$dir/vae_colour" --data "$tmp/faces" --epochs 6 --check-inpaint \
        --out "$tmp/vae"
    ;;
portraits)
    if ! "$scripts/emoji_dataset.sh" "$tmp/portraits" --portraits > "$tmp/portraits.log" 2>&1; then
        cat "$tmp/portraits.log" >&2
        fail "emoji_dataset.sh --portraits"
    fi
    cat "$tmp/portraits.log"
    # the counts (Debian's fonts-noto-color-emoji 2.047; a newer font may
    # add heads: then update them here and in the README)
    grep -q '^people  *275$' "$tmp/portraits.log" || fail "not 275 people's heads"
    grep -q '^smileys_emotion  *104$' "$tmp/portraits.log" || fail "not 104 yellow faces"
    [ "$(find "$tmp/portraits" -name '*.png' | wc -l)" = 379 ] || fail "not 379 files"
    [ "$(ls "$tmp/portraits")" = "$(printf 'people\nsmileys_emotion')" ] ||
        fail "groups other than people and smileys_emotion: $(ls "$tmp/portraits" | tr '\n' ' ')"
    # a subset of --faces, byte for byte
    (cd "$tmp/portraits" && find . -name '*.png') | while read -r f; do
        cmp -s "$tmp/portraits/$f" "$tmp/faces/$f" || echo "$f"
    done > "$tmp/not_in_faces"
    [ -s "$tmp/not_in_faces" ] && fail "not in --faces: $(head -3 "$tmp/not_in_faces")"
    # in: grinning face, man (medium skin), woman red hair (dark skin), police
    # officer woman, person with beard; out: cook, thumbs up, family, runner
    for f in smileys_emotion/1f600 people/1f468_1f3fd people/1f469_1f3ff_200d_1f9b0 \
             people/2640_200d_1f46e people/1f9d4; do
        [ -f "$tmp/portraits/$f.png" ] || fail "$f.png missing"
    done
    for f in 1f373_200d_1f9d1 1f44d 1f466_200d_1f466_200d_1f468 1f3c3; do
        [ -z "$(find "$tmp/portraits" -name "$f.png")" ] || fail "$f.png is not a head"
        [ -n "$(find "$tmp/faces" -name "$f.png")" ] || fail "$f.png not in --faces either"
    done
    # the loader reads them all
    run load.log "$dir/vae_colour" --data "$tmp/portraits" --epochs 1 --batch-size 64 \
        --inpaint-iters 1 --out "$tmp/vae"
    grep -q '^loaded 379 images .*(0 bad files skipped)' "$tmp/load.log" ||
        fail "the folder loader did not read 379 images"
    ;;
*)
    echo "usage: $0 smoke|inpaint|portraits EXAMPLES_DIR SCRIPTS_DIR" >&2
    exit 2
    ;;
esac
exit $status
