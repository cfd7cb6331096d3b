#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs the Python binding's tests against INSTALLED copies of the package,
# the two ways users install it (used by ctest as python_installed):
#
#   lib/python/run_installed_tests.sh BUILD_DIR
#
# 1. cmake: `cmake --install BUILD_DIR --prefix T/prefix` (the C library)
#    and `--component python` (the package, with the library's path recorded
#    in genmodel/_config.py); run by /usr/bin/python3 with only the package's
#    site directory on PYTHONPATH. The package must load
#    T/prefix/<libdir>/libgenmodel.so.1 on its own.
# 2. pip: `pip install --no-index --no-build-isolation` of a copy of
#    lib/python into a venv made with --system-site-packages (Debian's numpy,
#    setuptools and wheel); the package must find the same library through
#    `pkg-config --variable=libdir genmodel` (PKG_CONFIG_PATH=T/prefix/...).
#
# Each time, from a directory T/run outside the source tree, with a copy of
# lib/python/tests and of the few source files they read, without
# GENMODEL_LIBRARY, GENMODEL_BUILD_DIR, GENMODEL_C_EXAMPLES or LD_LIBRARY_PATH
# (the tests comparing with the C examples skip): the test suite
# (tests/support.py checks that genmodel is the installed copy and that
# nothing of the source tree is on sys.path), then
# examples/python/quickstart.py, short. GM_CMAKE names cmake; PYTHON the
# interpreter (default /usr/bin/python3). Exits 77 (skip) without the venv
# module or pip.
set -euo pipefail
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
cmake=${GM_CMAKE:-cmake}
python=${PYTHON:-/usr/bin/python3}
data=${GM_FASHION_DIR:-/usr/share/datasets/fashion-mnist}

if ! "$python" -c "import venv, ensurepip, setuptools, wheel" 2>/dev/null ||
   ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "SKIP: $python lacks venv/ensurepip, pip, setuptools or wheel" \
         "(Debian: python3-venv python3-pip python3-setuptools python3-wheel)"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/genmodel-python-installed.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
case "$(cd "$tmp" && pwd -P)/" in
    "$(cd "$src" && pwd -P)"/*) echo "error: $tmp is inside the source tree $src" >&2; exit 1 ;;
esac
unset GENMODEL_LIBRARY GENMODEL_BUILD_DIR GENMODEL_C_EXAMPLES LD_LIBRARY_PATH PYTHONPATH \
      PKG_CONFIG_PATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE
# pip as on a fresh machine: no user or site configuration, no network
for v in $(compgen -e | grep '^PIP_' || true); do unset "$v"; done
export PYTHONNOUSERSITE=1 PIP_CONFIG_FILE=/dev/null PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# --- the C library and the package, by cmake ---------------------------------
prefix=$tmp/prefix
echo "== cmake --install $build --prefix $prefix (and --component python)"
"$cmake" --install "$build" --prefix "$prefix" >"$tmp/install.log"
"$cmake" --install "$build" --prefix "$prefix" --component python >>"$tmp/install.log"
lib=$(find "$prefix" -name 'libgenmodel.so.1' | head -n1)
pcdir=$(dirname "$(find "$prefix" -name genmodel.pc | head -n1)")
pkg=$(find "$prefix" -type d -name genmodel -path '*-packages/genmodel' | head -n1)
if [ -z "$lib" ] || [ -z "$pkg" ] || [ ! -f "$pcdir/genmodel.pc" ]; then
    echo "error: the install lacks libgenmodel.so.1, genmodel.pc or the package:" >&2
    cat "$tmp/install.log" >&2
    exit 1
fi
echo "installed: $lib, $pkg"
echo "  $pkg/_config.py: $(grep '^LIBRARY' "$pkg/_config.py")"

# --- the files the tests read, copied out of the source tree -------------------
run=$tmp/run
files=$tmp/files
mkdir -p "$run" "$files/tests/data" "$files/lib/python" "$files/examples"
cp -r "$here/tests" "$run/tests"
rm -rf "$run/tests/__pycache__"
cp "$src/tests/data/reference_frechet.txt" "$files/tests/data/"
cp -r "$src/tests/data/reference_folder.txt" "$src/tests/data/folder_ref" "$files/tests/data/"
cp "$here/pyproject.toml" "$files/lib/python/"
cp "$src/README.md" "$files/"
cp -r "$src/examples/python" "$files/examples/python"
ln -s "$prefix/include" "$files/include" # the installed headers (struct layout test)

# run_suite NAME PYTHON EXPECTED_PACKAGE_ROOT [VAR=VALUE ...]
run_suite() {
    local name=$1 py=$2 root=$3
    shift 3
    echo "== $name: the tests from $run with $py"
    (
        cd "$run"
        export GENMODEL_TEST_INSTALLED=$root GENMODEL_TEST_FILES=$files \
               GENMODEL_TEST_SOURCE_TREE=$src GENMODEL_TEST_LIBRARY=$lib "$@"
        "$py" -c 'import genmodel, sys; print("genmodel.__file__ =", genmodel.__file__);
print("genmodel.library_path =", genmodel.library_path)'
        "$py" - "$root" "$lib" <<'PY'
import os, sys, genmodel
root, lib = (os.path.realpath(p) for p in sys.argv[1:])
here = os.path.realpath(genmodel.__file__)
assert os.path.commonpath([here, root]) == root, f"{here} is not under {root}"
assert os.path.realpath(genmodel.library_path) == lib, f"{genmodel.library_path} != {lib}"
PY
        "$py" -m unittest discover -s tests 2>&1 | tee "$tmp/$name.log"
        mkdir -p "$tmp/out-$name"
        "$py" "$files/examples/python/quickstart.py" --epochs 1 --train-limit 3200 \
            --data "$data" --out "$tmp/out-$name"
        test -s "$tmp/out-$name/samples.png"
    )
    echo "== $name: $(grep -E '^(Ran|OK|FAILED)' "$tmp/$name.log" | tr '\n' ' ')"
}

# 1. cmake-installed: the site directory on PYTHONPATH, as for any prefix
#    that is not the interpreter's own
run_suite cmake "$python" "$pkg" PYTHONPATH="$(dirname "$pkg")"

# 2. pip-installed into a venv; lib/python is copied first because a local
#    build writes build/ and genmodel.egg-info next to pyproject.toml
venv=$tmp/venv
echo "== $python -m venv --system-site-packages $venv"
"$python" -m venv --system-site-packages "$venv"
cp -r "$here" "$tmp/python-src"
rm -rf "$tmp/python-src/tests/__pycache__" "$tmp/python-src/genmodel/__pycache__"
echo "== $venv/bin/pip install --no-index --no-build-isolation $tmp/python-src"
"$venv/bin/pip" install --no-index --no-cache-dir --no-build-isolation "$tmp/python-src"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
run_suite pip "$venv/bin/python" "$site/genmodel" PKG_CONFIG_PATH="$pcdir"
echo "python_installed: both routes passed"
