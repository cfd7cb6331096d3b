# SPDX-License-Identifier: MIT
"""interp.h through the binding: per-dimension KL and active units against
numpy on the encoder's output, traversals against decode/generate, the
shapes set, MIG on cases with a known answer, and bad input."""
import math
import os
import tempfile
import unittest

from support import gm

try:
    import numpy as np
except ImportError:
    np = None

L = D = 4


def linear_vae(a, c, num_classes=0):
    """mu_j = a_j x_j, logvar_j = c_j; decode(z) = z (Gaussian mean); the
    label columns add 10 (k + 1) to output 0."""
    ein, din = D + num_classes, L + num_classes
    we = np.zeros((2 * L, ein), np.float32)
    be = np.zeros(2 * L, np.float32)
    wd = np.zeros((D, din), np.float32)
    for j in range(L):
        we[j, j], be[L + j], wd[j, j] = a[j], c[j], 1.0
    for k in range(num_classes):
        wd[0, L + k] = 10.0 * (k + 1)
    enc, dec = gm.Net([gm.dense(ein, 2 * L, "zeros")]), gm.Net([gm.dense(din, D, "zeros")])
    enc.set_params(np.concatenate([we.ravel(), be]))
    dec.set_params(np.concatenate([wd.ravel(), np.zeros(D, np.float32)]))
    return gm.VAE(enc, dec, latent=L, likelihood="gaussian_fixed", num_classes=num_classes,
                  seed=1)


@unittest.skipIf(np is None, "needs numpy")
class Interp(unittest.TestCase):
    def test_vae_dims_match_numpy(self):
        a, c = [1.0, 0.5, 0.0, 0.05], [-1.0, 0.0, 0.0, -0.5]
        with linear_vae(a, c) as vae:
            x = np.random.default_rng(0).uniform(-1, 1, (50, D)).astype(np.float32)
            kl, act, active = gm.interp.vae_dims(vae, x, batch=7)
            mu, lv = vae.encode(x)
            mu, lv = mu.astype(np.float64), lv.astype(np.float64)
            np.testing.assert_allclose(kl, (0.5 * (mu ** 2 + np.exp(lv) - 1 - lv)).mean(0),
                                       rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(act, mu.var(0), rtol=1e-6, atol=1e-12)
            self.assertEqual(active, 2)
            self.assertEqual(kl.dtype, np.float64)
            order = gm.interp.order_desc(kl)
            self.assertEqual(list(order), list(np.argsort(-kl, kind="stable")))
            table = gm.interp.format_table(kl, act)
            self.assertIn("active units: 2 of 4", table)
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "kl.png")
                gm.interp.bar_chart_png(path, kl[order], act[order], gm.interp.ACTIVE_THRESHOLD)
                with open(path, "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
                with self.assertRaises(gm.InvalidArgument):
                    gm.interp.bar_chart_png(path, [1.0, -1.0])
            with self.assertRaises(gm.InvalidArgument) as e:
                gm.interp.vae_dims(vae, x, batch=0)
            self.assertIn("gm_interp_vae_dims", str(e.exception))
            with self.assertRaises(gm.ShapeError):
                gm.interp.vae_dims(vae, np.zeros((5, D + 1), np.float32))
            with self.assertRaises(TypeError):
                gm.interp.vae_dims(vae, x.astype(np.float64))

    def test_traversals(self):
        with linear_vae([1, 2, 3, 4], [0, 0, 0, 0]) as vae:
            z0 = np.array([0.5, -1.0, 0.25, 2.0], np.float32)
            out = gm.interp.vae_traverse(vae, z0=z0, dims=[3, 0], span=2.0, steps=5)
            self.assertEqual(out.shape, (10, D))
            want = np.tile(z0, (10, 1))
            want[0:5, 3] += np.linspace(-2, 2, 5)
            want[5:10, 0] += np.linspace(-2, 2, 5)
            np.testing.assert_allclose(out, want, atol=1e-6)
            x = np.array([[1.0, 0.5, -0.5, 0.25]], np.float32)
            out = gm.interp.vae_traverse(vae, x=x, steps=3)   # all dims, by index
            self.assertEqual(out.shape, (12, D))
            np.testing.assert_allclose(out[1], x[0] * [1, 2, 3, 4], atol=1e-6)
            with self.assertRaises(gm.InvalidArgument):
                gm.interp.vae_traverse(vae, x=x, z0=z0)
            with self.assertRaises(gm.InvalidArgument):
                gm.interp.vae_traverse(vae, z0=z0, dims=[4])
            with self.assertRaises(gm.InvalidArgument):
                gm.interp.vae_traverse(vae, z0=z0, span=float("nan"))
            with self.assertRaises(gm.InvalidArgument):
                gm.interp.vae_traverse(vae, z0=z0, steps=1)
            with self.assertRaises(gm.Unsupported):
                gm.interp.vae_classes(vae, z0)
        with linear_vae([1, 1, 1, 1], [0, 0, 0, 0], num_classes=3) as vae:
            out = gm.interp.vae_classes(vae, [0.5, 1.0, 0.0, -1.0])
            np.testing.assert_allclose(out[:, 0], [10.5, 20.5, 30.5], atol=1e-5)
            out = gm.interp.vae_traverse(vae, z0=[0.0] * 4, dims=[1], label=2, steps=2)
            np.testing.assert_allclose(out[:, 0], [30.0, 30.0], atol=1e-5)

    def test_gan(self):
        g = np.array([1.0, 0.0, 3.0, 0.5], np.float32)
        gen = gm.Net([gm.dense(L, D, "zeros")])
        gen.set_params(np.concatenate([np.diag(g).ravel(), np.zeros(D, np.float32)]))
        with gm.GAN(gen, gm.Net([gm.dense(D, 1, "zeros")]), latent=L) as gan:
            z0 = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
            out = gm.interp.gan_traverse(gan, z0, dims=[2], span=3.0, steps=3)
            np.testing.assert_allclose(out[:, 2], 3 * (0.3 + np.array([-3, 0, 3])), atol=1e-5)
            z = np.random.default_rng(1).normal(size=(3, L)).astype(np.float32)
            eff = gm.interp.gan_effect(gan, z, span=2.0, steps=5)
            np.testing.assert_allclose(eff, g.astype(np.float64) ** 2 * 2.0, rtol=1e-5)
            self.assertEqual(list(gm.interp.order_desc(eff)), [2, 0, 3, 1])
            with self.assertRaises(gm.ShapeError):
                gm.interp.gan_effect(gan, np.zeros((2, L + 1), np.float32))

    def test_shapes(self):
        sizes, count = gm.interp.shapes_factor_sizes(32)
        self.assertEqual(sizes, (3, 6, 16, 16, 16))
        self.assertEqual(count, math.prod(sizes))
        self.assertEqual(gm.interp.shapes_factor_sizes(64)[1], 737280)
        f, idx = gm.interp.shapes_sample(500, seed=3)
        self.assertEqual(f.dtype, np.int32)
        self.assertEqual(len(set(idx.tolist())), 500)
        np.testing.assert_array_equal(gm.interp.shapes_factors_to_index(f), idx)
        np.testing.assert_array_equal(gm.interp.shapes_index_to_factors(idx), f)
        # mixed radix, last factor fastest
        want = (((f[:, 0] * 6 + f[:, 1]) * 16 + f[:, 2]) * 16 + f[:, 3]) * 16 + f[:, 4]
        np.testing.assert_array_equal(idx, want.astype(np.uint64))
        f2, _ = gm.interp.shapes_sample(500, seed=3)
        np.testing.assert_array_equal(f, f2)
        imgs = gm.interp.shapes_render(f[:20])
        self.assertEqual(imgs.shape, (20, 1, 32, 32))
        self.assertTrue(set(np.unique(imgs)) <= {0.0, 1.0})
        # the centroid of a square or ellipse is its centre
        for row, img in zip(f[:20], imgs):
            if row[0] == 2:
                continue
            ys, xs = np.nonzero(img[0])
            self.assertAlmostEqual(xs.mean() + 0.5, (0.2 + 0.6 * row[3] / 15) * 32, delta=0.6)
            self.assertAlmostEqual(ys.mean() + 0.5, (0.2 + 0.6 * row[4] / 15) * 32, delta=0.6)
        with self.assertRaises(gm.InvalidArgument):
            gm.interp.shapes_render(np.array([[3, 0, 0, 0, 0]], np.int32))
        with self.assertRaises(gm.InvalidArgument):
            gm.interp.shapes_sample(10, side=28)
        with self.assertRaises(gm.InvalidArgument):
            gm.interp.shapes_index_to_factors([count])

    def test_mig(self):
        z = np.array([[0, 0], [0, 1], [1, 1], [1, 1]], np.float32)
        f = np.array([[7], [7], [-3], [-3]], np.int32)
        score, gaps, mi = gm.interp.mig(z, f, bins=2)
        self.assertAlmostEqual(score, 0.75 * math.log2(3) - 0.5, places=12)
        self.assertAlmostEqual(mi[0, 0], math.log(2), places=12)
        self.assertEqual(mi.shape, (1, 2))
        # a perfect encoder of the shapes factors scores near 1, a rotation low
        factors, _ = gm.interp.shapes_sample(4000, seed=11)
        rng = np.random.default_rng(0)
        sizes = np.array([3, 6, 16, 16, 16])
        perfect = np.concatenate([(factors - (sizes - 1) / 2) / sizes * 3.4
                                  + 1e-3 * rng.normal(size=factors.shape),
                                  rng.normal(size=(4000, 2))], 1)
        score, _, _ = gm.interp.mig(perfect.astype(np.float32), factors)
        self.assertGreater(score, 0.9)
        q, _ = np.linalg.qr(rng.normal(size=(7, 7)))
        score, _, _ = gm.interp.mig((perfect @ q.T).astype(np.float32), factors)
        self.assertLess(score, 0.3)
        with self.assertRaises(gm.InvalidArgument):
            gm.interp.mig(z, np.zeros((4, 1), np.int32))  # a constant factor
        with self.assertRaises(gm.InvalidArgument):
            gm.interp.mig(z, f, bins=1)
        with self.assertRaises(TypeError):
            gm.interp.mig(z.astype(np.float64), f)


if __name__ == "__main__":
    unittest.main()
