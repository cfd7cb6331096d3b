#!/bin/bash
# Runs each benchmark and its PyTorch reference one after the other, at 1
# and 2 threads, and prints a table: speed of each (wall clock), the
# ratio, the ratio by process CPU time (steadier on a machine shared with
# other jobs, and at 1 thread the same thing when the machine is idle),
# peak RSS, the fraction of the sgemm bound the library's step reaches (by
# wall clock and by CPU time), allocations per steady-state step.
#
#   bench/run.sh [--quick] [BUILD_DIR]      (BUILD_DIR default: build)
#
# BUILD_DIR is a CMake build of this tree with GM_BUILD_BENCH=ON (the
# default), e.g. after `cmake -S . -B build && cmake --build build`.
# --quick runs few steps (a smoke run; the numbers are noisy).
# Environment: GM_FASHION_DIR (Fashion-MNIST IDX files, default
# /usr/share/datasets/fashion-mnist), PYTHON (default /usr/bin/python3, with
# Debian's python3-torch), GM_BENCH_THREADS (default "1 2").
#
# Thread counts: each program gets --threads T, and OPENBLAS_NUM_THREADS=T
# is set for both, so "T threads" means T in total for the library
# (gm_set_num_threads) and for PyTorch (torch.set_num_threads for its
# OpenMP pool, OPENBLAS_NUM_THREADS for the OpenBLAS it calls).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
quick=0
build=build
for a in "$@"; do
    case "$a" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) build=$a ;;
    esac
done
if [ ! -d "$build/bench" ] && [ -d "$root/$build/bench" ]; then build=$root/$build; fi
bin=$build/bench
for p in vae_mlp dcgan28 gan_ring sgemm_bound; do
    if [ ! -x "$bin/$p" ]; then
        echo "run.sh: $bin/$p not found: build the tree first (cmake --build $build)" >&2
        exit 2
    fi
done
PYTHON=${PYTHON:-/usr/bin/python3}
data=${GM_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
threads=${GM_BENCH_THREADS:-1 2}
# shellcheck source=../scripts/blas_env.sh
. "$root/scripts/blas_env.sh"

if [ $quick = 1 ]; then
    vae=(--steps 40 --warmup 5 --sample-reps 20)
    dcgan=(--steps 4 --warmup 1 --sample-reps 2)
    ring=(--steps 300 --warmup 20 --sample-reps 20)
    bound_secs=0.3
else
    vae=(--steps 400 --warmup 20 --sample-reps 200)
    dcgan=(--steps 40 --warmup 3 --sample-reps 10)
    ring=(--steps 3000 --warmup 100 --sample-reps 200)
    bound_secs=2
fi

kv() { # kv "line" key -> value
    local w
    for w in $1; do
        case "$w" in "$2="*) echo "${w#*=}"; return ;; esac
    done
    echo "-"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
last() { tail -n 1; }

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "# torch: $("$PYTHON" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo missing)"
rows=()
for t in $threads; do
    export OPENBLAS_NUM_THREADS=$t
    b=$("$bin/sgemm_bound" --threads "$t" --seconds $bound_secs)
    [ "$t" = "$(echo "$threads" | cut -d' ' -f1)" ] && echo "$b" | grep '^# openblas' || true
    bl=$(echo "$b" | last)
    echo "# threads=$t sgemm_bound: vae $(kv "$bl" vae_bound_steps_per_second) steps/s" \
         "($(kv "$bl" vae_gflops) GFLOP/s), dcgan $(kv "$bl" dcgan_bound_steps_per_second) steps/s" \
         "($(kv "$bl" dcgan_gflops) GFLOP/s)"

    l=$("$bin/vae_mlp" --threads "$t" --data "$data" "${vae[@]}" | last)
    r=$("$PYTHON" "$here/ref/vae_mlp.py" --threads "$t" --data "$data" "${vae[@]}" | last)
    rows+=("vae_mlp train|$t|$(kv "$l" steps_per_second)|$(kv "$r" steps_per_second)|steps/s|$(ratio "$(kv "$l" cpu_steps_per_second)" "$(kv "$r" cpu_steps_per_second)")|$(kv "$l" peak_rss_mb)|$(kv "$r" peak_rss_mb)|$(kv "$l" bound_fraction)|$(kv "$l" cpu_bound_fraction)|$(kv "$l" allocs_per_step)")
    rows+=("vae_mlp sample|$t|$(kv "$l" images_per_second)|$(kv "$r" images_per_second)|img/s|-|-|-|-|-|-")

    l=$("$bin/dcgan28" --threads "$t" --data "$data" "${dcgan[@]}" | last)
    r=$("$PYTHON" "$here/ref/dcgan28.py" --threads "$t" --data "$data" "${dcgan[@]}" | last)
    rows+=("dcgan28 train|$t|$(kv "$l" steps_per_second)|$(kv "$r" steps_per_second)|steps/s|$(ratio "$(kv "$l" cpu_steps_per_second)" "$(kv "$r" cpu_steps_per_second)")|$(kv "$l" peak_rss_mb)|$(kv "$r" peak_rss_mb)|$(kv "$l" bound_fraction)|$(kv "$l" cpu_bound_fraction)|$(kv "$l" allocs_per_step)")
    rows+=("dcgan28 sample|$t|$(kv "$l" images_per_second)|$(kv "$r" images_per_second)|img/s|-|-|-|-|-|-")

    l=$("$bin/gan_ring" --threads "$t" "${ring[@]}" | last)
    r=$("$PYTHON" "$here/ref/gan_ring.py" --threads "$t" "${ring[@]}" | last)
    rows+=("gan_ring train|$t|$(kv "$l" steps_per_second)|$(kv "$r" steps_per_second)|steps/s|$(ratio "$(kv "$l" cpu_steps_per_second)" "$(kv "$r" cpu_steps_per_second)")|$(kv "$l" peak_rss_mb)|$(kv "$r" peak_rss_mb)|$(kv "$l" bound_fraction)|$(kv "$l" cpu_bound_fraction)|$(kv "$l" allocs_per_step)")
    rows+=("gan_ring sample|$t|$(kv "$l" images_per_second)|$(kv "$r" images_per_second)|img/s|-|-|-|-|-|-")
done

echo
printf '| %-15s | %3s | %10s | %10s | %7s | %-7s | %9s | %7s | %8s | %8s | %8s | %11s |\n' workload thr genmodel torch ratio unit \
    "CPU ratio" "RSS MB" "torch MB" "of bound" "CPU bnd" "allocs/step"
printf '|%s|\n' "-----------------|-----|------------|------------|---------|---------|-----------|---------|----------|----------|----------|-------------"
for row in "${rows[@]}"; do
    IFS='|' read -r w t lib ref unit cratio lrss rrss frac cfrac allocs <<<"$row"
    printf '| %-15s | %3s | %10s | %10s | %7s | %-7s | %9s | %7s | %8s | %8s | %8s | %11s |\n' "$w" "$t" "$lib" "$ref" \
        "$(ratio "$lib" "$ref")" "$unit" "$cratio" "$lrss" "$rrss" "$frac" "$cfrac" "$allocs"
done

# Against each side's best thread setting (the issue's targets).
echo
for w in "vae_mlp train" "vae_mlp sample" "dcgan28 train" "dcgan28 sample" "gan_ring train" "gan_ring sample"; do
    bl=0 br=0
    for row in "${rows[@]}"; do
        IFS='|' read -r rw _ lib ref _ <<<"$row"
        [ "$rw" = "$w" ] || continue
        bl=$(awk -v a="$bl" -v b="$lib" 'BEGIN { print (b != "-" && b + 0 > a + 0) ? b : a }')
        br=$(awk -v a="$br" -v b="$ref" 'BEGIN { print (b != "-" && b + 0 > a + 0) ? b : a }')
    done
    printf '%-15s best genmodel %10s  best torch %10s  ratio %s\n' "$w" "$bl" "$br" "$(ratio "$bl" "$br")"
done
