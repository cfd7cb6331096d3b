#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the libFuzzer targets of libgenmodel (tests/fuzz/) for a while.
#
#   scripts/fuzz.sh [seconds] [target ...]     default: 600 s, all targets
#   scripts/fuzz.sh --seeds                    rewrite the checkpoint seeds
#
# Targets: idx (gm_idx_load_images / _labels, plain and gzip), checkpoint
# (gm_net_load / gm_vae_load / gm_gan_load from memory), roundtrip (what
# loads is saved, loaded and saved again: the same bytes; seeds: the
# checkpoint ones) and png_options (gm_png_write_grid's arguments, the
# options structs).
#
# Builds build-fuzz/ with clang (-DGM_FUZZ=ON: libFuzzer, AddressSanitizer,
# UndefinedBehaviorSanitizer, checkpoint CRCs not compared), then runs the
# targets side by side, each for `seconds`, on one core each (at most
# GM_FUZZ_JOBS at a time, default nproc). Each starts from the committed
# seeds (tests/fuzz/corpus/<target>/, only read) plus the inputs found by
# earlier runs, kept in a scratch directory outside the repository:
# $GM_FUZZ_WORK/<target>/corpus (default GM_FUZZ_WORK=/tmp/genmodel-fuzz).
# Crashes, leaks, timeouts and out-of-memory inputs are written to
# $GM_FUZZ_WORK/<target>/artifacts/ and the script fails; replay one with
#   build-fuzz/tests/fuzz/fuzz_<target> <file>
# and keep the input as a seed (tests/fuzz/corpus/<target>/) once fixed.
# A summary of executions, executions per second, coverage and crashes per
# target is printed at the end (logs: $GM_FUZZ_WORK/<target>/fuzz.log).
#
# --seeds writes tests/fuzz/corpus/checkpoint/ anew with
# tests/fuzz/make_seeds.c (tiny nets, VAEs and GANs): run it after a
# change of the checkpoint format and commit the result.
#
# Environment: GM_FUZZ_BUILD (build dir, default build-fuzz), GM_FUZZ_WORK,
# GM_FUZZ_JOBS, GM_FUZZ_ARGS (extra libFuzzer flags, e.g. "-max_len=8192").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
# shellcheck source=scripts/blas_env.sh
. scripts/blas_env.sh

all_targets=(idx checkpoint roundtrip png_options image)
build=${GM_FUZZ_BUILD:-build-fuzz}
work=${GM_FUZZ_WORK:-/tmp/genmodel-fuzz}
njobs=${GM_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
read -r -a extra <<<"${GM_FUZZ_ARGS:-}"

seeds=0
seconds=600
targets=()
for a in "$@"; do
    case "$a" in
        --seeds) seeds=1 ;;
        -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        ''|*[!0-9]*)
            case " ${all_targets[*]} " in
                *" $a "*) targets+=("$a") ;;
                *) echo "fuzz.sh: unknown target or argument '$a' (targets: ${all_targets[*]})" >&2; exit 2 ;;
            esac ;;
        *) seconds=$a ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

command -v clang >/dev/null 2>&1 \
    || { echo "fuzz.sh: no clang (scripts/deps.sh installs clang and libclang-rt-14-dev)" >&2; exit 1; }

echo "--- configure + build $build (clang, libFuzzer + ASan + UBSan)"
mkdir -p "$build"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGM_FUZZ=ON \
    -DGM_BUILD_TESTS=OFF -DGM_BUILD_EXAMPLES=OFF -DGM_BUILD_BENCH=OFF -DGM_WITH_MPI=OFF \
    -DGM_SANITIZE= -DCMAKE_COLOR_MAKEFILE=OFF >"$build/configure.log" 2>&1 \
    || { cat "$build/configure.log" >&2; exit 1; }
if [ "$seeds" = 1 ]; then
    cmake --build "$build" --parallel "$njobs" --target fuzz_make_seeds
    mkdir -p tests/fuzz/corpus/checkpoint
    rm -f tests/fuzz/corpus/checkpoint/*.ckpt
    "$build/tests/fuzz/fuzz_make_seeds" tests/fuzz/corpus/checkpoint
    ls -l tests/fuzz/corpus/checkpoint
    exit 0
fi
cmake --build "$build" --parallel "$njobs" --target "${targets[@]/#/fuzz_}"
bin=$(cd "$build" && pwd)/tests/fuzz

# ASan/UBSan: stop at the first error, report leaks; libFuzzer's memory
# limit (-rss_limit_mb, 2048 by default) also bounds single allocations.
# A 16 MB quarantine (default 256 MB) keeps freed memory warm: with the
# default, every allocation touched fresh pages and page faults took a
# third of fuzz_idx's time (use-after-free of recent blocks is still
# caught).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:quarantine_size_mb=16:malloc_context_size=10}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export OPENBLAS_NUM_THREADS=1

# seeds of a target (tests/fuzz/CMakeLists.txt maps them the same way)
seed_dir() {
    case "$1" in
        roundtrip) echo "$root/tests/fuzz/corpus/checkpoint" ;;
        *) echo "$root/tests/fuzz/corpus/$1" ;;
    esac
}

run_one() {
    local t=$1 dir=$work/$1
    mkdir -p "$dir/corpus" "$dir/artifacts"
    local dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
    [ "$t" = roundtrip ] && dict=(-dict="$root/tests/fuzz/checkpoint.dict")
    # corpus dirs: the first one receives new inputs; the seeds are only read
    "$bin/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 \
        -timeout=10 -artifact_prefix="$dir/artifacts/" "${dict[@]}" "${extra[@]}" \
        "$dir/corpus" "$(seed_dir "$t")" >"$dir/fuzz.log" 2>&1
}

echo "--- fuzzing ${targets[*]} for ${seconds}s each (work dir $work)"
pids=()
status=0
for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$njobs" ]; do sleep 1; done
    rm -rf "$work/$t/artifacts"
    run_one "$t" &
    pids+=("$!")
done
rcs=()
for p in "${pids[@]}"; do
    rc=0
    wait "$p" || rc=$?
    rcs+=("$rc")
done

echo
printf '%-12s %12s %9s %7s %7s %8s  %s\n' target executions exec/s cov corpus crashes result
i=0
for t in "${targets[@]}"; do
    log=$work/$t/fuzz.log rc=${rcs[$i]}
    i=$((i + 1))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1 || true)
    cov=$({ grep -oE 'cov: [0-9]+' "$log" || true; } | tail -1 | cut -d' ' -f2)
    ncorp=$(find "$work/$t/corpus" -type f | wc -l)
    ncrash=$(find "$work/$t/artifacts" -type f 2>/dev/null | wc -l)
    result=ok
    if [ "$rc" -ne 0 ] || [ "$ncrash" -ne 0 ]; then
        result="FAILED (exit $rc)"
        status=1
    fi
    printf '%-12s %12s %9s %7s %7s %8s  %s\n' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" \
        "$ncorp" "$ncrash" "$result"
done
if [ "$status" -ne 0 ]; then
    for t in "${targets[@]}"; do
        log=$work/$t/fuzz.log
        if grep -qE 'ERROR: |FUZZ_ASSERT|runtime error|Test unit written|SUMMARY' "$log"; then
            echo
            echo "--- $t: $log (end)"
            grep -vE '^#[0-9]+' "$log" | tail -60
            ls -l "$work/$t/artifacts" 2>/dev/null || true
        fi
    done
fi
exit "$status"
