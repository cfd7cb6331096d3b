# SPDX-License-Identifier: MIT
"""Gradient penalties on a critic net (gm_net_penalty_r1 / _gp)."""
import math
import unittest

from support import gm

import numpy as np


def critic(rng):
    return gm.Net([gm.dense(3, 8, "he", rng), gm.tanh(), gm.dense(8, 1, "he", rng)])


class PenaltyTest(unittest.TestCase):
    def setUp(self):
        self.rng = gm.Rng(4)
        self.net = critic(self.rng)
        self.x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)

    def tearDown(self):
        self.net.close()
        self.rng.close()

    def test_r1_matches_input_gradient(self):
        self.net.zero_grad()
        p = self.net.penalty_r1(self.x, 2.0)
        g = self.net.grads()
        self.assertTrue(np.any(g != 0))
        self.net.forward(self.x)
        self.net.zero_grad()
        dx = self.net.backward(np.ones((5, 1), np.float32), dx=True)
        want = 2.0 / 2 * float(np.mean(np.sum(dx.astype(np.float64) ** 2, axis=1)))
        self.assertLess(abs(p - want), 1e-5 * want + 1e-7)

    def test_gp_and_errors(self):
        fake = np.zeros_like(self.x)
        p = self.net.penalty_gp(self.x, fake, 10.0, self.rng)
        self.assertTrue(math.isfinite(p) and p >= 0)
        with self.assertRaises(gm.InvalidArgument):
            self.net.penalty_r1(self.x, float("nan"))
        with self.assertRaises(gm.ShapeError):
            self.net.penalty_gp(self.x, fake[:3], 10.0, self.rng)
        bn = gm.Net([gm.dense(3, 4, "he", self.rng), gm.batchnorm(4), gm.dense(4, 1, "he", self.rng)])
        with self.assertRaises(gm.Unsupported) as cm:
            bn.penalty_r1(self.x, 1.0)
        self.assertIn("layer 1 (batchnorm)", str(cm.exception))
        bn.close()


if __name__ == "__main__":
    unittest.main()
