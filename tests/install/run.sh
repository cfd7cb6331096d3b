#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install test (ctest: install_consumer).
#
#   run.sh <build-dir> <this-dir>
#
# Installs the build tree into a temporary prefix with `cmake --install`,
# checks the installed layout, then builds tests/install/app.c outside the
# tree these ways and runs each program:
#   (a) cc app.c $(pkg-config --cflags --libs genmodel), run with
#       LD_LIBRARY_PATH=<libdir>
#   (r) README.md's two link lines (the block after the comment
#       "tests/install/run.sh ... runs these two lines"), run as written
#       (`cc` being GM_CC with -std=c11 -Wall -Wextra -Werror -pedantic):
#       shared with -rpath, run with no LD_LIBRARY_PATH; and
#       genmodel-static.pc, which must link libgenmodel.a (no NEEDED
#       libgenmodel.so.*)
#   (c) a CMake project: find_package(genmodel 1.0 CONFIG REQUIRED) and
#       genmodel::genmodel (plus genmodel::genmodel_static), run from its
#       build tree and from its install prefix with no LD_LIBRARY_PATH
# Environment (set by CMakeLists.txt): GM_CMAKE, GM_CC, GM_CMAKE_GENERATOR,
# GM_SANITIZE (consumers are then built with the same -fsanitize=...).
# Exit status: 0 passed, 1 failed, 77 skipped (a needed tool is absent).
# GM_KEEP_TMP=1 keeps the temporary directory.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 <build-dir> <tests/install dir>" >&2
    exit 2
fi
build_dir=$(cd "$1" && pwd)
here=$(cd "$2" && pwd)
src_include=$(cd "$here/../../include" && pwd)
readme=$(cd "$here/../.." && pwd)/README.md

cmake=${GM_CMAKE:-cmake}
cc=${GM_CC:-cc}
generator=${GM_CMAKE_GENERATOR:-}
sanitize=${GM_SANITIZE:-}

for tool in "$cmake" "$cc" pkg-config readelf; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: '$tool' not found"
        exit 77
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-install-test.XXXXXX")
prefix=$tmp/prefix
status=1
cleanup() {
    if [ "$status" -eq 0 ] && [ "${GM_KEEP_TMP:-0}" != 1 ]; then
        rm -rf "$tmp"
    else
        echo "(temporary files kept in $tmp)"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# run <label> <command...>: runs quietly into a log ($last_log), shows it
# on failure.
log_n=0
last_log=
run() {
    local label=$1
    shift
    log_n=$((log_n + 1))
    last_log=$tmp/log.$log_n
    local log=$last_log
    if "$@" >"$log" 2>&1; then
        echo "ok   $label"
    else
        local rc=$?
        echo "FAIL $label (exit $rc): $*" >&2
        sed 's/^/    /' "$log" >&2
        exit 1
    fi
}

extra_cflags=()
if [ -n "$sanitize" ]; then
    extra_cflags=("-fsanitize=$sanitize" -fno-omit-frame-pointer)
fi
strict=(-std=c11 -Wall -Wextra -Werror -pedantic)

# --- install ---------------------------------------------------------------
run "cmake --install into a temporary prefix" \
    "$cmake" --install "$build_dir" --prefix "$prefix"

pc=$(find "$prefix" -name genmodel.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || fail "genmodel.pc not installed under $prefix"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
echo "     libdir: ${libdir#"$prefix"/}"

# headers: exactly the public ones
diff -u <(cd "$src_include/genmodel" && ls -1 ./*.h) \
        <(cd "$prefix/include/genmodel" && ls -1 ./*.h) \
    || fail "installed headers differ from include/genmodel/"
# libraries: libgenmodel.so -> .so.1 -> .so.1.3.0, and the archive
version=$(sed -n 's/^#define GM_VERSION_STRING "\(.*\)"$/\1/p' "$src_include/genmodel/core.h")
major=${version%%.*}
[ -f "$libdir/libgenmodel.so.$version" ] || fail "no libgenmodel.so.$version in $libdir"
[ "$(readlink "$libdir/libgenmodel.so.$major")" = "libgenmodel.so.$version" ] \
    || fail "libgenmodel.so.$major is not a link to libgenmodel.so.$version"
[ "$(readlink "$libdir/libgenmodel.so")" = "libgenmodel.so.$major" ] \
    || fail "libgenmodel.so is not a link to libgenmodel.so.$major"
[ -f "$libdir/libgenmodel.a" ] || fail "no libgenmodel.a in $libdir"
[ -f "$pcdir/genmodel-static.pc" ] || fail "no genmodel-static.pc in $pcdir"
for f in genmodelConfig.cmake genmodelConfigVersion.cmake \
         genmodelTargets.cmake genmodelStaticTargets.cmake; do
    [ -f "$libdir/cmake/genmodel/$f" ] || fail "no $libdir/cmake/genmodel/$f"
done
echo "ok   installed layout (headers, libgenmodel.so.$version + links, .a, .pc, CMake package)"

export PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
pcver=$(pkg-config --modversion genmodel)
[ "$pcver" = "$version" ] || fail "pkg-config says version $pcver, headers $version"
if pkg-config --help 2>&1 | grep -q -- --validate; then
    run "pkg-config --validate genmodel" pkg-config --validate genmodel
    run "pkg-config --validate genmodel-static" pkg-config --validate genmodel-static
fi

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# --- (a) pkg-config, shared ------------------------------------------------
read -r -a pc_cflags <<<"$(pkg-config --cflags genmodel)"
read -r -a pc_libs <<<"$(pkg-config --libs genmodel)"
run "(a) cc app.c \$(pkg-config --cflags --libs genmodel)" \
    "$cc" "${strict[@]}" "${extra_cflags[@]}" "${pc_cflags[@]}" \
    "$here/app.c" -o "$tmp/app_shared" "${pc_libs[@]}" -lm
needed "$tmp/app_shared" | grep -qx "libgenmodel.so.$major" \
    || fail "app_shared does not need libgenmodel.so.$major: $(needed "$tmp/app_shared" | tr '\n' ' ')"
run "(a) run app_shared (LD_LIBRARY_PATH=<prefix>/lib)" \
    env LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$tmp/app_shared"
sed 's/^/     | /' "$last_log"

# --- (r) README.md's link lines, as written -----------------------------------
# The fenced block after the marker comment; each line is run by bash in a
# directory holding app.c, with `cc` a function adding the strict flags.
mapfile -t readme_lines < <(awk '
    /<!-- tests\/install\/run.sh/ { marked = 1; next }
    marked && /^```/ { if (inside) exit; inside = 1; next }
    marked && inside { print }' "$readme")
shared_line= static_line=
for line in "${readme_lines[@]}"; do
    case $line in
        *'--libs genmodel-static)'*) static_line=$line ;;
        *'--libs genmodel)'*'-rpath'*) shared_line=$line ;;
        *) fail "unexpected line in README.md's link block: $line" ;;
    esac
done
[ -n "$shared_line" ] || fail "README.md: no shared link line (with -rpath) after the marker"
[ -n "$static_line" ] || fail "README.md: no genmodel-static link line after the marker"
mkdir "$tmp/readme"
cp "$here/app.c" "$tmp/readme/app.c"
readme_cc_flags=("${strict[@]}" "${extra_cflags[@]}")
# in_readme_dir <line>: runs the line in $tmp/readme (in a subshell)
in_readme_dir() (
    cc() { "$GM_CC_BIN" "${readme_cc_flags[@]}" "$@"; }
    cd "$tmp/readme" && eval "$1"
)
GM_CC_BIN=$cc
run "(r) README: $shared_line" in_readme_dir "$shared_line"
[ -x "$tmp/readme/app" ] || fail "the README's shared line did not write ./app"
needed "$tmp/readme/app" | grep -qx "libgenmodel.so.$major" \
    || fail "README app does not need libgenmodel.so.$major: $(needed "$tmp/readme/app" | tr '\n' ' ')"
run "(r) run ./app (no LD_LIBRARY_PATH)" env -u LD_LIBRARY_PATH "$tmp/readme/app"

run "(r) README: $static_line" in_readme_dir "$static_line"
[ -x "$tmp/readme/app_static" ] || fail "the README's static line did not write ./app_static"
if needed "$tmp/readme/app_static" | grep -q '^libgenmodel'; then
    fail "README app_static needs the shared library: $(needed "$tmp/readme/app_static" | tr '\n' ' ')"
fi
echo "     app_static NEEDED: $(needed "$tmp/readme/app_static" | tr '\n' ' ')"
run "(r) run ./app_static (no LD_LIBRARY_PATH)" env -u LD_LIBRARY_PATH "$tmp/readme/app_static"

# --- (c) CMake find_package -------------------------------------------------
cmake_args=(-S "$here/cmake_app" -B "$tmp/cmake_app"
            -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc"
            -DCMAKE_BUILD_TYPE=Release)
if [ -n "$generator" ]; then cmake_args+=(-G "$generator"); fi
if [ -n "$sanitize" ]; then
    cmake_args+=("-DCMAKE_C_FLAGS=${extra_cflags[*]}"
                 "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$sanitize")
fi
run "(c) configure a project using find_package(genmodel 1.0 CONFIG REQUIRED)" \
    "$cmake" "${cmake_args[@]}"
run "(c) build it" "$cmake" --build "$tmp/cmake_app"
[ -x "$tmp/cmake_app/app_static" ] \
    || fail "genmodel::genmodel_static was not provided by the CMake package"
# Built with the imported location as RPATH: runs without LD_LIBRARY_PATH.
run "(c) run app (genmodel::genmodel)" env -u LD_LIBRARY_PATH "$tmp/cmake_app/app"
needed "$tmp/cmake_app/app" | grep -qx "libgenmodel.so.$major" \
    || fail "cmake app does not need libgenmodel.so.$major"
run "(c) run app_static (genmodel::genmodel_static)" env -u LD_LIBRARY_PATH "$tmp/cmake_app/app_static"
# Installed, it keeps the path to libgenmodel (INSTALL_RPATH_USE_LINK_PATH).
run "(c) cmake --install the project" "$cmake" --install "$tmp/cmake_app" --prefix "$tmp/app_prefix"
run "(c) run the installed app (no LD_LIBRARY_PATH)" env -u LD_LIBRARY_PATH "$tmp/app_prefix/bin/app"

# --- the headers are usable from C++ as well --------------------------------
if command -v c++ >/dev/null 2>&1; then
    printf '#include <genmodel/genmodel.h>\nint main() { return gm_version() ? 0 : 1; }\n' >"$tmp/hdr.cpp"
    run "headers compile as C++ (extern \"C\", -Wall -Wextra -Werror -pedantic)" \
        c++ -std=c++11 -Wall -Wextra -Werror -pedantic "${pc_cflags[@]}" -c "$tmp/hdr.cpp" -o "$tmp/hdr.o"
fi

status=0
echo "install_consumer: all passed"
