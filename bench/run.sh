#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs each benchmark at 1 and 2 threads and its PyTorch twin (bench/ref/)
# at its best, and prints: speeds, the ratio library / best PyTorch, the
# twin's untuned default for comparison, the fraction of the machine's
# FLOP peak each reaches, the fraction of the sgemm bound the library's
# step reaches, peak RSS of every run, allocations per steady-state step,
# and the issue's targets against them.
#
#   bench/run.sh [--quick] [BUILD_DIR]      (BUILD_DIR default: build)
#
# BUILD_DIR is a CMake build of this tree with GM_BUILD_BENCH=ON (the
# default), e.g. after `cmake -S . -B build && cmake --build build`.
# --quick runs few steps (a smoke run of a minute or two; noisy numbers).
# A full run takes about 10 minutes on 2 cores.
# Environment: GM_FASHION_DIR (Fashion-MNIST IDX files, default
# /usr/share/datasets/fashion-mnist), PYTHON (default /usr/bin/python3, with
# Debian's python3-torch), GM_BENCH_THREADS (the library's thread counts,
# default "1 2"), GM_BENCH_SPLITS (PyTorch's settings tried, torch threads
# x OpenBLAS threads, default "1x1 1x2 2x1 2x2"), GM_JEMALLOC (default
# /usr/lib/x86_64-linux-gnu/libjemalloc.so.2, Debian's libjemalloc2).
#
# The library: --threads T (gm_set_num_threads: OpenBLAS's threads; the
# rest of a step runs on the calling thread) and OPENBLAS_NUM_THREADS=T.
#
# PyTorch at its best: Debian's torch calls OpenBLAS for matrix products
# (BLAS_INFO=generic; its threads: OPENBLAS_NUM_THREADS) and runs its own
# OpenMP pool for the rest, oneDNN convolutions included
# (torch.set_num_threads; it does not change OpenBLAS's count, see
# bench/ref/benchenv.py). So the twin runs at every split "tt x bb" of
# torch.set_num_threads(tt) and OPENBLAS_NUM_THREADS=bb, each under two
# allocators: glibc with its mmap threshold raised
# (MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=134217728: a
# step's tensors above 128 KB otherwise go through mmap/munmap and page
# faults on every step) and jemalloc (LD_PRELOAD). A twin's training and
# its sampling stop early after 10 s (3 s with --quick): the oversubscribed
# settings run 10-50 times slower on 2 cores. The fastest run is
# "best" (training and sampling chosen separately), and ratios are against
# it, for each of the library's thread counts. "default" is the twin with
# nothing set (glibc malloc, torch's own thread default, OpenBLAS's
# default of one thread per CPU), shown beside it.
# Both sides get OPENBLAS_CORETYPE from scripts/blas_env.sh.
#
# FLOP peak: one 1024^3 sgemm through OpenBLAS, best of 10, at each thread
# count (bench/sgemm_bound). A workload's FLOPs are its dense and conv
# layers' multiply-adds from the architecture (bench_common.h); "of peak"
# = FLOPs x speed / peak at the same thread count (for PyTorch's best: at
# the larger of its two counts). "CPU rat": the ratio by process CPU time
# per step (steadier when other jobs share the machine).
# Needs Debian's python3-torch and libjemalloc2: scripts/deps.sh --bench.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
quick=0
build=build
for a in "$@"; do
    case "$a" in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,50p' "$0"; exit 0 ;;
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
splits=${GM_BENCH_SPLITS:-1x1 1x2 2x1 2x2}
jemalloc=${GM_JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
# shellcheck source=../scripts/blas_env.sh
. "$root/scripts/blas_env.sh"
unset OMP_NUM_THREADS OPENBLAS_NUM_THREADS

if [ $quick = 1 ]; then
    args_vae_mlp=(--steps 40 --warmup 5 --sample-reps 20)
    args_dcgan28=(--steps 4 --warmup 1 --sample-reps 2)
    args_gan_ring=(--steps 300 --warmup 20 --sample-reps 20)
    cap=3
else
    args_vae_mlp=(--steps 400 --warmup 20 --sample-reps 200)
    args_dcgan28=(--steps 30 --warmup 3 --sample-reps 10)
    args_gan_ring=(--steps 2000 --warmup 100 --sample-reps 200)
    cap=10
fi
workloads="vae_mlp dcgan28 gan_ring"

kv() { # kv "line" key -> value, or "-"
    local w
    for w in $1; do
        case "$w" in "$2="*) echo "${w#*=}"; return ;; esac
    done
    echo "-"
}
calc() { # calc 'awk expression of a and b' a b -> value, "-" if a or b is "-" or b is 0
    awk -v a="$2" -v b="$3" "BEGIN { if (a == \"-\" || b == \"-\" || b + 0 == 0) print \"-\"; else printf $1 }"
}
ratio() { calc '"%.2f", a / b' "$1" "$2"; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b) ? a : b }'; }

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg);" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "# torch: $("$PYTHON" -c 'import re, torch; print(torch.__version__, re.search("BLAS_INFO=[^,]*", torch.__config__.show()).group(0))' 2>/dev/null || echo missing)"
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "run.sh: $PYTHON cannot import torch: install Debian's python3-torch (scripts/deps.sh --bench)" >&2
    exit 2
fi
[ -r "$jemalloc" ] || echo "# no $jemalloc (Debian's libjemalloc2): PyTorch runs under glibc only"
echo "# $bin at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?'), $( [ $quick = 1 ] && echo quick || echo full) run, $(date -u '+%Y-%m-%d %H:%M UTC')"

declare -A peak lib tor
first=1
for t in $threads; do
    b=$(OPENBLAS_NUM_THREADS=$t "$bin/sgemm_bound" --threads "$t" --seconds "$([ $quick = 1 ] && echo 0.3 || echo 2)")
    [ $first = 1 ] && echo "$b" | grep '^# openblas' || true
    first=0
    bl=$(echo "$b" | tail -n 1)
    peak[$t]=$(kv "$bl" peak_gflops)
    echo "# threads=$t: FLOP peak (sgemm 1024^3) ${peak[$t]} GFLOP/s; sgemm bound: vae $(kv "$bl" vae_bound_steps_per_second) steps/s" \
         "($(kv "$bl" vae_gflops) GFLOP/s), dcgan $(kv "$bl" dcgan_bound_steps_per_second) steps/s ($(kv "$bl" dcgan_gflops) GFLOP/s)"
done

# torch_run workload label env... : one run of the twin, stored as tor[w|label]
torch_run() {
    local w=$1 label=$2 tt=$3
    shift 3
    local -n args=args_$w
    local dataarg=()
    [ "$w" = gan_ring ] || dataarg=(--data "$data")
    local targ=()
    [ "$tt" = - ] || targ=(--threads "$tt")
    tor[$w|$label]=$(env "$@" "$PYTHON" "$here/ref/$w.py" "${targ[@]}" "${dataarg[@]}" "${args[@]}" \
        --max-seconds $cap | tail -n 1)
}

for w in $workloads; do
    declare -n args=args_$w
    dataarg=()
    [ "$w" = gan_ring ] || dataarg=(--data "$data")
    for t in $threads; do
        lib[$w|$t]=$(OPENBLAS_NUM_THREADS=$t "$bin/$w" --threads "$t" "${dataarg[@]}" "${args[@]}" | tail -n 1)
    done
    unset -n args
    torch_run "$w" default -
    for s in $splits; do
        tt=${s%x*} bb=${s#*x}
        torch_run "$w" "${s} glibc-tuned" "$tt" OPENBLAS_NUM_THREADS="$bb" \
            MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=134217728
        [ -r "$jemalloc" ] && torch_run "$w" "${s} jemalloc" "$tt" OPENBLAS_NUM_THREADS="$bb" LD_PRELOAD="$jemalloc"
    done
done

# Every PyTorch run; the best per workload, for training and for sampling.
declare -A best
echo
echo "PyTorch twins (setting: torch threads x OpenBLAS threads, allocator):"
printf '| %-8s | %-20s | %13s | %12s | %8s | %9s |\n' workload setting "train steps/s" "sample img/s" "train MB" "sample MB"
printf '|%s|\n' "----------|----------------------|---------------|--------------|----------|-----------"
faster() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "-" && a + 0 > b + 0) }'; }
settings=(default)
for s in $splits; do
    settings+=("$s glibc-tuned")
    [ -r "$jemalloc" ] && settings+=("$s jemalloc")
done
for w in $workloads; do
    bt=0 bs=0
    for label in "${settings[@]}"; do
        key="$w|$label" r=${tor[$w|$label]}
        if [ "$label" = default ]; then
            label="default ($(kv "$r" torch_threads)x$(kv "$r" blas_threads) $(kv "$r" malloc))"
        else
            if faster "$(kv "$r" steps_per_second)" "$bt"; then bt=$(kv "$r" steps_per_second) best[$w|train]=$key; fi
            if faster "$(kv "$r" images_per_second)" "$bs"; then bs=$(kv "$r" images_per_second) best[$w|sample]=$key; fi
        fi
        printf '| %-8s | %-20s | %13s | %12s | %8s | %9s |\n' "$w" "$label" "$(kv "$r" steps_per_second)" \
            "$(kv "$r" images_per_second)" "$(kv "$r" peak_rss_mb)" "$(kv "$r" sample_peak_rss_mb)"
    done
done

# The library against PyTorch's best, and its default.
echo
echo "The library (genmodel) against PyTorch's best run above (ratio) and its default (vs default):"
printf '| %-15s | %3s | %9s | %10s | %5s | %7s | %-20s | %10s | %10s | %-7s | %7s | %7s | %8s | %7s | %8s | %8s | %6s |\n' \
    workload thr genmodel "torch best" ratio "CPU rat" "best setting" "torch dflt" "vs default" unit \
    "GFLOP/s" "of peak" "torch pk" "of bnd" "RSS MB" "torch MB" "allocs"
printf '|%s|\n' "-----------------|-----|-----------|------------|-------|---------|----------------------|------------|------------|---------|---------|---------|----------|---------|----------|----------|--------"
declare -A ratios
for w in $workloads; do
    for kind in train sample; do
        bk=${best[$w|$kind]:-} br=${tor[${best[$w|$kind]:-x}]:-} dr=${tor[$w|default]}
        setting=${bk#*|}
        if [ $kind = train ]; then
            key=steps_per_second unit=steps/s fl=$(kv "${lib[$w|1]}" model_gflop_per_step) rsskey=peak_rss_mb
        else
            key=images_per_second unit=img/s fl=$(calc '"%.6f", a * b' "$(kv "${lib[$w|1]}" model_mflop_per_image)" 0.001)
            rsskey=sample_peak_rss_mb
        fi
        tb=$(kv "$br" $key)
        tcores=$(max "$(kv "$br" torch_threads)" "$(kv "$br" blas_threads)")
        tpk=$(calc '"%.3f", a / b' "$(calc '"%.3f", a * b' "$tb" "$fl")" "${peak[$tcores]:-${peak[${threads##* }]}}")
        for t in $threads; do
            l=${lib[$w|$t]} v=$(kv "${lib[$w|$t]}" $key)
            gf=$(calc '"%.1f", a * b' "$v" "$fl")
            ratios[$w $kind|$t]=$(ratio "$v" "$tb")
            bnd=-
            [ $kind = train ] && bnd=$(kv "$l" bound_fraction)
            cr=-
            [ $kind = train ] && cr=$(ratio "$(kv "$l" cpu_steps_per_second)" "$(kv "$br" cpu_steps_per_second)")
            printf '| %-15s | %3s | %9s | %10s | %5s | %7s | %-20s | %10s | %10s | %-7s | %7s | %7s | %8s | %7s | %8s | %8s | %6s |\n' \
                "$w $kind" "$t" "$v" "$tb" "${ratios[$w $kind|$t]}" "$cr" "$setting" "$(kv "$dr" $key)" \
                "$(ratio "$v" "$(kv "$dr" $key)")" $unit "$gf" "$(calc '"%.3f", a / b' "$gf" "${peak[$t]}")" "$tpk" "$bnd" \
                "$(kv "$l" $rsskey)" "$(kv "$br" $rsskey)" "$([ $kind = train ] && kv "$l" allocs_per_step || echo -)"
        done
    done
done

# The issue's targets.
echo
echo "Targets (issue 16), at each of the library's thread counts:"
for tg in "vae_mlp train:1.8" "dcgan28 train:1.3" "gan_ring train:2.5" "vae_mlp sample:1.5" "dcgan28 sample:1.5"; do
    w=${tg%:*} goal=${tg#*:} line="" met=yes
    for t in $threads; do
        r=${ratios[$w|$t]}
        line+=" $t thr: ${r}x"
        awk -v r="$r" -v g="$goal" 'BEGIN { exit !(r != "-" && r + 0 >= g + 0) }' || met=no
    done
    printf "%-15s >= %sx PyTorch's best:%s  %s\n" "$w" "$goal" "$line" "$met"
done
for tg in "vae_mlp:100" "dcgan28:150"; do
    w=${tg%:*} goal=${tg#*:} line="" met=yes
    for t in $threads; do
        r=$(kv "${lib[$w|$t]}" peak_rss_mb)
        line+=" $t thr: $r MB"
        awk -v r="$r" -v g="$goal" 'BEGIN { exit !(r != "-" && r + 0 <= g + 0) }' || met=no
    done
    printf '%-15s peak RSS <= %s MB (training, dataset included):%s  %s\n' "$w" "$goal" "$line" "$met"
done
line="" met=yes
for w in $workloads; do
    for t in $threads; do
        a=$(kv "${lib[$w|$t]}" allocs_per_step)
        line+=" $w/$t: $a"
        [ "$a" = 0.000 ] || met=no
    done
done
echo "allocations per steady-state step = 0:$line  $met"
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
