#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Draws the training curves the Fashion-MNIST examples log as CSV, with
# gnuplot (Debian gnuplot-nox; scripts/deps.sh installs it), as PNG:
#
#   scripts/plot_curves.sh [OUT_DIR]        (default out/, as scripts/demo.sh)
#
#   OUT_DIR/vae_curves.png    from vae_fashion's vae_epochs.csv and
#                             vae_steps.csv: the training -ELBO (every
#                             --log-every steps and the epoch's mean) and the
#                             test -ELBO after each epoch; beside it the test
#                             -ELBO's two terms, reconstruction and KL
#   OUT_DIR/dcgan_curves.png  from dcgan_fashion's dcgan_steps.csv (or
#                             dcgan_epochs.csv without it): D's and G's
#                             losses; beside them D(x) and D(G(z)), the mean
#                             probability D gives real and generated images
#
# A plot whose CSV files are missing is skipped with a note. Exit status:
# 0, 1 if gnuplot is missing or fails, 2 usage.
set -euo pipefail

if [ $# -gt 1 ] || [ "${1:-}" = --help ] || [ "${1:-}" = -h ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ $# -le 1 ] && exit 0
    exit 2
fi
dir=${1:-out}
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot_curves: no gnuplot; install gnuplot-nox (scripts/deps.sh does)" >&2
    exit 1
fi

# Common look: 1200 x 480 pixels, two panels side by side, a grid.
preamble='
set terminal pngcairo size 1200,480 font "DejaVu Sans,10" noenhanced
set datafile separator ","
set datafile columnheaders
set grid lc rgb "#dddddd"
set key below
'

if [ -f "$dir/vae_epochs.csv" ]; then
    steps_plot= # the per-step line, if there are step rows
    if [ -f "$dir/vae_steps.csv" ]; then
        steps_plot="\"$dir/vae_steps.csv\" using (\$1 / SPE_min):3 with lines lw 1 \
            lc rgb \"#9ecae1\" title \"train, mean of each --log-every steps\","
    fi
    gnuplot <<EOF
$preamble
epochs = "$dir/vae_epochs.csv"
set output "$dir/vae_curves.png"
set multiplot layout 1,2
# steps per epoch (step / epoch of any row), and a y range that shows the
# epochs' values: from below the lowest test -ELBO to above the first
# epoch's training mean (the first steps' far higher values are cut)
stats epochs using (\$1 / \$2) name "SPE" nooutput
stats epochs using 3 name "TRAIN" nooutput
stats epochs using 6 name "TEST" nooutput
stats epochs using 8 name "KL" nooutput
lo = (TRAIN_min < TEST_min ? TRAIN_min : TEST_min)
hi = (TRAIN_max > TEST_max ? TRAIN_max : TEST_max)
pad = (hi - lo) * 0.15 + 2
set yrange [lo - pad : hi + 2 * pad]
set title "VAE on Fashion-MNIST: negative ELBO (lower is better)"
set xlabel "epoch"
set ylabel "-ELBO (nats per image)"
plot $steps_plot \
     epochs using 2:3 with linespoints lw 2 pt 7 lc rgb "#1f77b4" title "train, mean over the epoch", \
     epochs using 2:6 with linespoints lw 2 pt 5 lc rgb "#d62728" title "test, after the epoch"
unset yrange
set title "VAE: the test -ELBO's two terms"
set ylabel "reconstruction -log p(x|z) (nats per image)"
set y2label "KL(q(z|x) || p(z)) (nats per image)"
set ytics nomirror
set y2tics
set y2range [0 : KL_max * 1.6]
plot epochs using 2:7 axes x1y1 with linespoints lw 2 pt 5 lc rgb "#2ca02c" \
         title "reconstruction (left axis)", \
     epochs using 2:8 axes x1y2 with linespoints lw 2 pt 7 lc rgb "#9467bd" \
         title "KL (right axis)"
unset multiplot
EOF
    echo "plot_curves: wrote $dir/vae_curves.png"
else
    echo "plot_curves: no $dir/vae_epochs.csv (run examples/vae_fashion): no VAE plot"
fi

if [ -f "$dir/dcgan_steps.csv" ] || [ -f "$dir/dcgan_epochs.csv" ]; then
    csv=$dir/dcgan_steps.csv
    what="mean of each --log-every steps"
    if [ ! -f "$csv" ]; then
        csv=$dir/dcgan_epochs.csv
        what="epoch mean"
    fi
    gnuplot <<EOF
$preamble
csv = "$csv"
set output "$dir/dcgan_curves.png"
set multiplot layout 1,2
set xrange [0:*]
set xlabel "training step"
set title "DCGAN on Fashion-MNIST: losses ($what)"
set ylabel "loss (binary cross-entropy)"
plot csv using 1:3 with lines lw 2 lc rgb "#1f77b4" title "D loss", \
     csv using 1:4 with lines lw 2 lc rgb "#ff7f0e" title "G loss (non-saturating)"
set title "DCGAN: what D says ($what)"
set ylabel "mean D output (probability of 'real')"
set yrange [0:1]
plot csv using 1:5 with lines lw 2 lc rgb "#2ca02c" title "D(x), real images", \
     csv using 1:6 with lines lw 2 lc rgb "#d62728" title "D(G(z)), generated images"
unset multiplot
EOF
    echo "plot_curves: wrote $dir/dcgan_curves.png"
else
    echo "plot_curves: no $dir/dcgan_steps.csv (run examples/dcgan_fashion): no DCGAN plot"
fi
