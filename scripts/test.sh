#!/usr/bin/env bash
# Builds libgenmodel and runs all its tests: the command CI runs (.ci/run).
#
#   scripts/test.sh [stage ...]        default stages: deps build asan
#
# Stages:
#   deps   scripts/deps.sh: installs missing Debian packages (as root) or
#          names them and stops
#   build  configure + build build/ (RelWithDebInfo, tests and examples),
#          then ctest: the Check suites, abi_exports, install_consumer
#   asan   the same in build-asan/ with -DGM_SANITIZE=address,undefined
# Later stages (the Python and Rust libraries) go in as one more stage_*
# function each, added to default_stages.
#
# Every stage runs even if an earlier test stage failed (deps and build
# failures stop it); the exit status is that of the first failing stage.
# Environment: GM_JOBS (build parallelism, default nproc), GM_CTEST_JOBS
# (default 2), GM_CTEST_ARGS (extra ctest arguments, e.g. "-R test_core").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/blas_env.sh
. scripts/blas_env.sh

default_stages=(deps build asan)
jobs=${GM_JOBS:-$(nproc 2>/dev/null || echo 2)}
ctest_jobs=${GM_CTEST_JOBS:-2}
read -r -a ctest_extra <<<"${GM_CTEST_ARGS:-}"

common_cmake_args=(
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
    -DGM_BUILD_TESTS=ON
    -DGM_BUILD_EXAMPLES=ON
)
if [ "${CI:-}" = true ] || [ ! -t 1 ]; then
    common_cmake_args+=(-DCMAKE_COLOR_MAKEFILE=OFF)
fi

# configure_build_test <build dir> [cmake args...]
configure_build_test() {
    local dir=$1
    shift
    echo "--- configure $dir"
    cmake -S . -B "$dir" "${common_cmake_args[@]}" "$@" || return 2
    echo "--- build $dir (-j$jobs)"
    cmake --build "$dir" --parallel "$jobs" || return 2
    echo "--- ctest $dir (-j$ctest_jobs)"
    (cd "$dir" && ctest --output-on-failure --no-tests=error -j "$ctest_jobs" \
        "${ctest_extra[@]}")
}

stage_deps() {
    bash scripts/deps.sh
}

stage_build() {
    configure_build_test build -DGM_SANITIZE=
}

stage_asan() {
    # GM_SANITIZE also sets ASAN_OPTIONS/UBSAN_OPTIONS (leaks are errors,
    # first error stops) on every test; see CMakeLists.txt.
    configure_build_test build-asan -DGM_SANITIZE=address,undefined
}

run_stage() {
    local name=$1 start rc=0
    start=$(date +%s)
    printf '\n==== %s ====\n' "$name"
    "stage_$name" || rc=$?
    local took=$(($(date +%s) - start))
    if [ "$rc" -eq 0 ]; then
        printf '==== %s: ok (%ss)\n' "$name" "$took"
    else
        printf '==== %s: FAILED, exit %s (%ss)\n' "$name" "$rc" "$took"
    fi
    return "$rc"
}

main() {
    local stages=("$@")
    [ ${#stages[@]} -gt 0 ] || stages=("${default_stages[@]}")
    local s
    for s in "${stages[@]}"; do
        if ! declare -F "stage_$s" >/dev/null; then
            echo "unknown stage '$s' (stages: ${default_stages[*]})" >&2
            return 2
        fi
    done

    local status=0 rc failed=()
    for s in "${stages[@]}"; do
        rc=0
        run_stage "$s" || rc=$?
        if [ "$rc" -ne 0 ]; then
            failed+=("$s")
            [ "$status" -ne 0 ] || status=$rc
            # Without the packages nothing else can work.
            [ "$s" != deps ] || break
        fi
    done

    echo
    if [ "$status" -eq 0 ]; then
        echo "test.sh: all stages passed (${stages[*]})"
    else
        echo "test.sh: FAILED stages: ${failed[*]}"
    fi
    return "$status"
}

main "$@"
