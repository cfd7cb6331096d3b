#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs the Python binding's tests against a build tree (used by ctest):
#   lib/python/run_tests.sh BUILD_DIR
# BUILD_DIR holds libgenmodel.so and examples/vae_fashion. Exits non-zero
# if a test fails. PYTHON overrides the interpreter (default /usr/bin/python3).
set -eu
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
GENMODEL_LIBRARY="$build/libgenmodel.so"
GENMODEL_C_EXAMPLES="$build/examples"
export GENMODEL_LIBRARY GENMODEL_C_EXAMPLES
exec "${PYTHON:-/usr/bin/python3}" -m unittest discover -s "$here/tests" -v
