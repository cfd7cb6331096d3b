# SPDX-License-Identifier: MIT
"""Shared by the tests: paths, the genmodel import, subprocess helpers.

Two modes. In the source tree (run_tests.sh): lib/python goes first on
sys.path, so the tests use the package next to them. Against an installed
copy (run_installed_tests.sh sets GENMODEL_TEST_INSTALLED to the directory
the package was installed under): nothing is added to sys.path, the
imported genmodel must come from that directory, no sys.path entry may lie
in the source tree (GENMODEL_TEST_SOURCE_TREE), and REPO is a directory of
copies of the few source-tree files the tests read (GENMODEL_TEST_FILES).
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]        # lib/python
INSTALLED = os.environ.get("GENMODEL_TEST_INSTALLED")
if INSTALLED:
    REPO = Path(os.environ["GENMODEL_TEST_FILES"])      # tests/data, examples/python, include
else:
    REPO = PYTHON_DIR.parents[1]                        # the source tree
    sys.path.insert(0, str(PYTHON_DIR))
INCLUDE = REPO / "include"

import genmodel as gm  # noqa: E402


def _under(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


def _check_installed():
    """Raises unless genmodel and sys.path are what the installed mode says."""
    if not _under(gm.__file__, INSTALLED):
        raise ImportError(f"genmodel was imported from {gm.__file__}, not from the installed "
                          f"copy under {INSTALLED}")
    tree = os.environ.get("GENMODEL_TEST_SOURCE_TREE")
    if tree:
        inside = [p for p in sys.path if _under(p or os.curdir, tree)]
        if inside:
            raise ImportError(f"sys.path has entries in the source tree {tree}: {inside}")
        if os.sep in gm.library_path and _under(gm.library_path, tree):
            raise ImportError(f"the library {gm.library_path} is in the source tree {tree}")
    expect = os.environ.get("GENMODEL_TEST_LIBRARY")
    if expect and os.path.realpath(gm.library_path) != os.path.realpath(expect):
        raise ImportError(f"genmodel loaded {gm.library_path}, expected {expect}")


if INSTALLED:
    _check_installed()


def build_dirs():
    """Build directories to look in for the C examples, most specific first."""
    dirs = [Path(gm.library_path).resolve().parent]
    if os.environ.get("GENMODEL_BUILD_DIR"):
        dirs.append(Path(os.environ["GENMODEL_BUILD_DIR"]))
    return dirs + [REPO / "build"]


def c_examples_dir():
    """$GENMODEL_C_EXAMPLES, else the examples dir of the build tree the
    loaded library comes from (or of the other build dirs); None if none."""
    env = os.environ.get("GENMODEL_C_EXAMPLES")
    if env:
        return Path(env)
    for d in build_dirs():
        if (d / "examples" / "vae_fashion").exists():
            return d / "examples"
    return None


def env(**extra):
    """The environment for a subprocess: in the source tree, the same
    library and package as this process; installed, the same lookup as
    this process (neither GENMODEL_LIBRARY nor PYTHONPATH is added)."""
    if INSTALLED:
        return dict(os.environ, **extra)
    e = dict(os.environ, **dict({"GENMODEL_LIBRARY": str(gm.library_path)}, **extra))
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), e.get("PYTHONPATH")]))
    return e


def run_python(code, timeout=120, **extra_env):
    """Runs code in a fresh /usr/bin/python3-like interpreter (sys.executable)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env(**extra_env),
                          capture_output=True, text=True, timeout=timeout)
