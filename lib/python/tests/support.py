"""Shared by the tests: paths, the genmodel import, subprocess helpers."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]        # lib/python
REPO = PYTHON_DIR.parents[1]                            # the source tree
INCLUDE = REPO / "include"
sys.path.insert(0, str(PYTHON_DIR))

import genmodel as gm  # noqa: E402


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
    """The environment for a subprocess: the same library as this process."""
    e = dict(os.environ, **dict({"GENMODEL_LIBRARY": str(gm.library_path)}, **extra))
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), e.get("PYTHONPATH")]))
    return e


def run_python(code, timeout=120, **extra_env):
    """Runs code in a fresh /usr/bin/python3-like interpreter (sys.executable)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env(**extra_env),
                          capture_output=True, text=True, timeout=timeout)
