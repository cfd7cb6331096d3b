# SPDX-License-Identifier: MIT
"""examples/python/vae_fashion.py gives the C example's samples bit for bit."""
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from support import REPO, c_examples_dir, env

DATA = "/usr/share/datasets/fashion-mnist"
ARGS = ["--epochs", "1", "--train-limit", "1280"]
TIMING = ("train_seconds", "steps_per_second")


def summary(stdout):
    """The last key=value line without the timing keys."""
    last = stdout.strip().splitlines()[-1]
    return [kv for kv in last.split() if kv.split("=")[0] not in TIMING]


class SameSamplesAsC(unittest.TestCase):
    def test_vae_fashion_bit_identical(self):
        examples = c_examples_dir()
        if examples is None:
            self.skipTest("needs the C example vae_fashion: set GENMODEL_C_EXAMPLES to a build "
                          "tree's examples directory")
        if not (examples / "vae_fashion").exists():
            self.fail(f"the C example vae_fashion is not in {examples}")
        run_env = env(OPENBLAS_NUM_THREADS="1")  # same BLAS threads in both processes
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            runs = {
                "C": [str(examples / "vae_fashion")],
                "Python": [sys.executable, str(REPO / "examples/python/vae_fashion.py")],
            }
            out = {}
            for name, cmd in runs.items():
                r = subprocess.run(cmd + ARGS + ["--data", DATA, "--samples-out",
                                                 str(d / f"{name}.raw"), "--out", str(d / name)],
                                   env=run_env, capture_output=True, text=True, timeout=300)
                self.assertEqual(r.returncode, 0, f"{name}: {r.stdout}{r.stderr}")
                out[name] = r.stdout
            c_raw, py_raw = (d / "C.raw").read_bytes(), (d / "Python.raw").read_bytes()
            self.assertEqual(len(c_raw), 64 * 784 * 4)
            self.assertTrue(c_raw == py_raw, "the 64 samples differ between C and Python")
            for png in ("samples", "reconstructions", "interpolation", "inpainting"):
                self.assertEqual((d / "C" / f"{png}.png").read_bytes(),
                                 (d / "Python" / f"{png}.png").read_bytes(), png)
            self.assertEqual(summary(out["C"]), summary(out["Python"]))
            c_lines, py_lines = out["C"].splitlines(), out["Python"].splitlines()
            self.assertEqual(c_lines[0], py_lines[0])  # the header line
            self.assertEqual(c_lines[1].split("nats/image")[0], py_lines[1].split("nats/image")[0])


if __name__ == "__main__":
    unittest.main()
