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


def gan(rng, d=None, **options):
    g = gm.Net([gm.dense(2, 8, "he", rng), gm.relu(), gm.dense(8, 3, "he", rng)])
    return gm.GAN(g, d if d is not None else critic(rng), latent=2, seed=7, **options)


class GanPenaltyOptionTest(unittest.TestCase):
    """The GAN options penalty, penalty_weight, penalty_every (gan.h)."""

    def test_lazy_r1_option(self):
        rng = gm.Rng(4)
        x = np.random.default_rng(1).standard_normal((8, 3)).astype(np.float32)
        with gan(rng, penalty="R1", penalty_weight=0.5, penalty_every=2) as m:
            o = m.options()
            self.assertEqual((o.penalty, o.penalty_weight, o.penalty_every),
                             (gm.GanPenalty.R1, 0.5, 2))
            pens = [m.train_step(x).penalty for _ in range(4)]
            self.assertTrue(pens[0] > 0 and pens[2] > 0, pens)
            self.assertEqual((pens[1], pens[3]), (0.0, 0.0))
        with gan(rng, penalty=gm.GanPenalty.GP, penalty_weight=10.0) as m:
            self.assertGreater(m.train_step(x).penalty, 0.0)
        rng.close()

    def test_bad_options(self):
        rng = gm.Rng(4)
        for bad in (dict(penalty="R1", penalty_weight=float("nan")),
                    dict(penalty="R1", penalty_weight=-1.0),
                    dict(penalty="R1", penalty_every=0),
                    dict(penalty="GP", penalty_every=2)):
            with self.assertRaises(gm.InvalidArgument) as cm:
                gan(rng, **bad)
            self.assertIn("penalty", str(cm.exception))
        bn = gm.Net([gm.dense(3, 4, "he", rng), gm.batchnorm(4), gm.dense(4, 1, "he", rng)])
        with self.assertRaises(gm.Unsupported) as cm:
            gan(rng, d=bn, penalty="R1", penalty_weight=1.0)
        self.assertIn("gm_gan_create", str(cm.exception))
        bn.close()
        rng.close()


if __name__ == "__main__":
    unittest.main()
