#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian packages, built, installed and used the way users do it.
#
#   tests/deb/run.sh BUILD_DIR
#
# Configures the source tree into BUILD_DIR for Debian's layout
# (CMAKE_INSTALL_PREFIX=/usr, so the libdir is /usr/lib/<multiarch>), builds
# the library, makes libgenmodel1, libgenmodel-dev and python3-genmodel
# with `cpack -G DEB`,
# checks their contents and control fields, installs them with `dpkg -i`,
# then builds tests/install/app.c against the installed files with the plain
# lines a user types (no PKG_CONFIG_PATH, no rpath, no LD_LIBRARY_PATH) and
# runs each program:
#   cc app.c $(pkg-config --cflags --libs genmodel)         (shared)
#   cc app.c $(pkg-config --cflags --libs genmodel-static)  (libgenmodel.a)
#   tests/install/cmake_app with find_package(genmodel) and no prefix path
#   /usr/bin/python3 -c 'import genmodel'  (no PYTHONPATH)
# and finally removes the packages again (dpkg --purge), also when a step
# fails midway (trap), and checks that no file of theirs is left.
#
# Needs root (dpkg -i) and a machine where neither package is installed
# (else it refuses: removing them afterwards would change the machine).
# While it runs (a few seconds) libgenmodel is installed in /usr.
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or no dpkg).
# GM_KEEP_TMP=1 keeps the temporary directory.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mkdir -p "$1" && cd "$1" && pwd)

for tool in cmake cpack dpkg dpkg-deb dpkg-shlibdeps file pkg-config readelf cc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: '$tool' not found"
        exit 77
    fi
done
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: dpkg -i needs root"
    exit 77
fi

packages=(python3-genmodel libgenmodel-dev libgenmodel1) # removal order: dependents first
pkg_state() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true; }
for p in "${packages[@]}"; do
    state=$(pkg_state "$p")
    if [ -n "$state" ] && [ "$state" != not-installed ]; then
        echo "FAIL: $p is already on this machine (state '$state'); this test installs" >&2
        echo "      and removes it. Remove it first: dpkg --purge ${packages[*]}" >&2
        exit 1
    fi
done

# libgenmodel libraries in the ld.so cache before (e.g. one in /usr/local)
ld_cache_before=$(ldconfig -p | grep -c 'libgenmodel\.so' || true)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gm-deb-test.XXXXXX")
status=1
installed=0
cleanup() {
    if [ "$installed" -eq 1 ]; then
        echo "removing: dpkg --purge ${packages[*]}"
        if ! dpkg --purge "${packages[@]}" >"$tmp/purge.log" 2>&1; then
            sed 's/^/    /' "$tmp/purge.log" >&2
            echo "FAIL: dpkg --purge failed: the packages may still be installed" >&2
            status=1
        fi
    fi
    if [ "$status" -eq 0 ] && [ "${GM_KEEP_TMP:-0}" != 1 ]; then
        rm -rf "$tmp"
    else
        echo "(temporary files kept in $tmp)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# run <label> <command...>: quietly into a log ($last_log), shown on failure
log_n=0
last_log=
run() {
    local label=$1
    shift
    log_n=$((log_n + 1))
    last_log=$tmp/log.$log_n
    if "$@" >"$last_log" 2>&1; then
        echo "ok   $label"
    else
        local rc=$?
        echo "FAIL $label (exit $rc): $*" >&2
        sed 's/^/    /' "$last_log" >&2
        exit 1
    fi
}

version=$(sed -n 's/^#define GM_VERSION_STRING "\(.*\)"$/\1/p' "$src/include/genmodel/core.h")
major=${version%%.*}
arch=$(dpkg --print-architecture)
multiarch=$(cc -print-multiarch 2>/dev/null || true)
if command -v dpkg-architecture >/dev/null 2>&1; then
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo "$multiarch")
fi
[ -n "$multiarch" ] || fail "cannot tell the multiarch triplet"
libdir=/usr/lib/$multiarch

# --- build the packages ------------------------------------------------------
run "configure $build for /usr (libdir lib/$multiarch)" \
    cmake -S "$src" -B "$build" -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGM_WERROR=ON \
    -DGM_INSTALL_PYTHON=ON -DGM_PYTHON_INSTALL_DIR=lib/python3/dist-packages \
    -DGM_BUILD_TESTS=OFF -DGM_BUILD_EXAMPLES=OFF -DGM_BUILD_BENCH=OFF
grep -qx "CMAKE_INSTALL_LIBDIR:PATH=lib/$multiarch" "$build/CMakeCache.txt" \
    || fail "$build: CMAKE_INSTALL_LIBDIR is not lib/$multiarch: $(grep CMAKE_INSTALL_LIBDIR: "$build/CMakeCache.txt")"
run "build" cmake --build "$build" --parallel 2
rm -f "$build"/*.deb
run "cpack -G DEB" bash -c "cd '$build' && cpack -G DEB"
rt_deb=$build/libgenmodel${major}_${version}-1_${arch}.deb
dev_deb=$build/libgenmodel-dev_${version}-1_${arch}.deb
[ -f "$rt_deb" ] || fail "no $rt_deb; made: $(ls "$build"/*.deb 2>/dev/null | tr '\n' ' ')"
[ -f "$dev_deb" ] || fail "no $dev_deb; made: $(ls "$build"/*.deb 2>/dev/null | tr '\n' ' ')"
py_deb=$build/python3-genmodel_${version}-1_${arch}.deb
[ -f "$py_deb" ] || fail "no $py_deb; made: $(ls "$build"/*.deb 2>/dev/null | tr '\n' ' ')"
echo "     $(basename "$rt_deb") $(stat -c %s "$rt_deb") bytes, $(basename "$dev_deb") $(stat -c %s "$dev_deb") bytes"

# --- their contents and control fields --------------------------------------
files() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\./|/|' | grep -v '/$'; }
files "$rt_deb" >"$tmp/rt.files"
files "$dev_deb" >"$tmp/dev.files"
sed 's/^/     libgenmodel1:    /' "$tmp/rt.files"
sed 's/^/     libgenmodel-dev: /' "$tmp/dev.files"
files "$py_deb" >"$tmp/py.files"
sed 's/^/     python3-genmodel: /' "$tmp/py.files"
expect_rt=("$libdir/libgenmodel.so.$major" "$libdir/libgenmodel.so.$version"
           "/usr/share/doc/libgenmodel$major/copyright")
[ "$(sort "$tmp/rt.files")" = "$(printf '%s\n' "${expect_rt[@]}" | sort)" ] \
    || fail "libgenmodel$major holds other files than ${expect_rt[*]}"
expect_dev=("$libdir/libgenmodel.so" "$libdir/libgenmodel.a"
            "$libdir/pkgconfig/genmodel.pc" "$libdir/pkgconfig/genmodel-static.pc"
            "$libdir/cmake/genmodel/genmodelConfig.cmake"
            "$libdir/cmake/genmodel/genmodelConfigVersion.cmake"
            "$libdir/cmake/genmodel/genmodelTargets.cmake"
            "$libdir/cmake/genmodel/genmodelStaticTargets.cmake"
            "/usr/share/doc/libgenmodel-dev/copyright")
for h in "$src"/include/genmodel/*.h; do expect_dev+=("/usr/include/genmodel/$(basename "$h")"); done
for f in "${expect_dev[@]}"; do
    grep -qx "$f" "$tmp/dev.files" || fail "libgenmodel-dev lacks $f"
done
if grep -v -e "^$libdir/cmake/genmodel/genmodel.*Targets-.*\.cmake$" "$tmp/dev.files" \
        | grep -vxF -f <(printf '%s\n' "${expect_dev[@]}") >"$tmp/dev.extra"; then
    fail "libgenmodel-dev holds unexpected files: $(tr '\n' ' ' <"$tmp/dev.extra")"
fi
grep -q '^/usr/lib/python3/dist-packages/genmodel/__init__\.py$' "$tmp/py.files" \
    || fail "python3-genmodel does not put the package in /usr/lib/python3/dist-packages"
grep -q '^/usr/lib/python3/dist-packages/genmodel/_config\.py$' "$tmp/py.files" \
    || fail "python3-genmodel lacks genmodel/_config.py (the installed library's path)"
if grep -v -e '^/usr/lib/python3/dist-packages/genmodel/[a-z_]*\.py$' \
        -e '^/usr/share/doc/python3-genmodel/copyright$' "$tmp/py.files" >"$tmp/py.extra"; then
    fail "python3-genmodel holds unexpected files: $(tr '\n' ' ' <"$tmp/py.extra")"
fi
field() { dpkg-deb -f "$1" "$2"; }
[ "$(field "$rt_deb" Section)" = libs ] || fail "libgenmodel$major: Section is not libs"
[ "$(field "$dev_deb" Section)" = libdevel ] || fail "libgenmodel-dev: Section is not libdevel"
[ -n "$(field "$rt_deb" Maintainer)" ] || fail "libgenmodel$major: no Maintainer"
rt_depends=$(field "$rt_deb" Depends)
for d in libc6 libopenblas zlib1g libpng16; do
    case $rt_depends in *"$d"*) ;; *) fail "libgenmodel$major Depends lacks $d: $rt_depends" ;; esac
done
case $(field "$dev_deb" Depends) in
    *"libgenmodel$major (= $version-1)"*) ;;
    *) fail "libgenmodel-dev does not depend on libgenmodel$major (= $version-1)" ;;
esac
dpkg-deb --fsys-tarfile "$rt_deb" | tar -xO "./usr/share/doc/libgenmodel$major/copyright" \
    | grep -qx 'License: MIT' || fail "libgenmodel$major: copyright does not say License: MIT"
echo "ok   contents: libgenmodel$major = the soname + copyright; libgenmodel-dev = headers, .so link, .a, .pc, CMake package"
echo "     libgenmodel$major Depends: $rt_depends"
echo "     libgenmodel-dev Depends: $(field "$dev_deb" Depends)"

# --- install ----------------------------------------------------------------
installed=1 # from here on, the trap removes them (also when dpkg -i fails)
run "dpkg -i $(basename "$rt_deb") $(basename "$dev_deb") $(basename "$py_deb")" \
    dpkg -i "$rt_deb" "$dev_deb" "$py_deb"
for p in "${packages[@]}"; do
    [ "$(pkg_state "$p")" = installed ] || fail "$p is '$(pkg_state "$p")' after dpkg -i"
done
# (the cache read first: grep -q closing the pipe early would fail ldconfig
# with SIGPIPE under pipefail, a flaky "not in the cache")
ld_cache=$(ldconfig -p)
grep -q "libgenmodel.so.$major " <<<"$ld_cache" || fail "libgenmodel.so.$major is not in the ld.so cache"

# --- use them, as a user does -----------------------------------------------
# No PKG_CONFIG_PATH, CMAKE_PREFIX_PATH or LD_LIBRARY_PATH from the caller.
plain_env=(env -u PKG_CONFIG_PATH -u LD_LIBRARY_PATH -u CMAKE_PREFIX_PATH -u LIBRARY_PATH -u CPATH)
cp "$src/tests/install/app.c" "$tmp/app.c"
[ "$("${plain_env[@]}" pkg-config --modversion genmodel)" = "$version" ] \
    || fail "pkg-config genmodel is not version $version"
pc_libdir=$("${plain_env[@]}" pkg-config --variable=libdir genmodel)
[ "$pc_libdir" = "$libdir" ] \
    || fail "pkg-config finds genmodel in $pc_libdir, not $libdir (another install, e.g. in /usr/local, comes first)"
run "cc app.c \$(pkg-config --cflags --libs genmodel)" \
    "${plain_env[@]}" bash -c 'cd "$1" && cc app.c $(pkg-config --cflags --libs genmodel) -o app' _ "$tmp"
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
needed "$tmp/app" | grep -qx "libgenmodel.so.$major" || fail "app does not need libgenmodel.so.$major"
if readelf -d "$tmp/app" | grep -q 'R\(UN\)\?PATH'; then fail "app has an rpath"; fi
run "run ./app" "${plain_env[@]}" "$tmp/app"
sed 's/^/     | /' "$last_log"

run "cc app.c \$(pkg-config --cflags --libs genmodel-static)" \
    "${plain_env[@]}" bash -c 'cd "$1" && cc app.c $(pkg-config --cflags --libs genmodel-static) -o app_static' _ "$tmp"
if needed "$tmp/app_static" | grep -q '^libgenmodel'; then fail "app_static needs the shared library"; fi
run "run ./app_static" "${plain_env[@]}" "$tmp/app_static"

run "CMake project: find_package(genmodel 1.0 CONFIG REQUIRED), no prefix path" \
    "${plain_env[@]}" cmake -S "$src/tests/install/cmake_app" -B "$tmp/cmake_app" -DCMAKE_BUILD_TYPE=Release
grep -q "genmodel $version from $libdir/cmake/genmodel" "$last_log" \
    || fail "find_package did not find the package in $libdir/cmake/genmodel: $(grep 'genmodel' "$last_log" | head -n 3)"
run "  build it" cmake --build "$tmp/cmake_app"
run "  run app (genmodel::genmodel)" "${plain_env[@]}" "$tmp/cmake_app/app"
run "  run app_static (genmodel::genmodel_static)" "${plain_env[@]}" "$tmp/cmake_app/app_static"

# --- Python ------------------------------------------------------------------
# The Debian interpreter, from a directory outside the source tree, with no
# PYTHONPATH or GENMODEL_LIBRARY: the installed module and library.
run "python3 -c 'import genmodel' (no PYTHONPATH)" \
    "${plain_env[@]}" -u PYTHONPATH -u GENMODEL_LIBRARY -u GENMODEL_BUILD_DIR \
    bash -c 'cd "$1" && /usr/bin/python3 -c "import genmodel as g; print(g.__file__, g.library_path, g.version())"' _ "$tmp"
read -r py_file py_lib py_version <"$last_log"
[ "$py_file" = /usr/lib/python3/dist-packages/genmodel/__init__.py ] || fail "python3 imported $py_file"
[ "$py_lib" = "$libdir/libgenmodel.so.$major" ] || fail "genmodel loaded $py_lib"
[ "$py_version" = "$version" ] || fail "genmodel.version() is $py_version"
echo "     | $py_file loads $py_lib"

# --- remove them, and check that nothing is left ----------------------------
run "dpkg --purge ${packages[*]}" dpkg --purge "${packages[@]}"
installed=0
for p in "${packages[@]}"; do
    state=$(pkg_state "$p")
    [ -z "$state" ] || [ "$state" = not-installed ] || fail "$p is '$state' after dpkg --purge"
done
for f in $(cat "$tmp/rt.files" "$tmp/dev.files" "$tmp/py.files"); do
    [ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is still there after dpkg --purge"
done
ld_cache_after=$(ldconfig -p | grep -c 'libgenmodel\.so' || true)
[ "$ld_cache_after" = "$ld_cache_before" ] \
    || fail "the ld.so cache lists $ld_cache_after libgenmodel entries, $ld_cache_before before"
echo "ok   removed; no file of the packages is left, ld.so cache clean"

status=0
echo "deb: all passed"
