# SPDX-License-Identifier: MIT
"""eval.h through the binding: the Fréchet distance against the committed
scipy reference, precision/recall, density/coverage against the committed
numpy reference and on a one-point model, the nearest-neighbour check, features
through a net, the one-call report, and bad input raising the right
errors with the C function's message."""
import math
import unittest

from support import REPO, gm

try:
    import numpy as np
except ImportError:
    np = None

FIXTURE = REPO / "tests" / "data" / "reference_frechet.txt"


def fixture():
    """{record name: (shape, values)} of tests/data/reference_frechet.txt."""
    records, lines = {}, FIXTURE.read_text().split("\n")
    assert lines[0] == "genmodel-reference 1"
    i = 1
    while i < len(lines):
        line = lines[i].split("#")[0].split()
        i += 1
        if not line:
            continue
        name, nd = line[0], int(line[1])
        shape = tuple(int(v) for v in line[2:2 + nd])
        values = []
        while len(values) < math.prod(shape):
            values += [float(v) for v in lines[i].split()]
            i += 1
        records[name] = (shape, values)
    return records


@unittest.skipIf(np is None, "needs numpy")
class Eval(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ref = fixture()

    def array(self, name):
        shape, values = self.ref[name]
        return np.array(values, np.float32).reshape(shape)

    def test_frechet_matches_scipy(self):
        for case in ("shifted", "close"):
            a, b = self.array(f"fd.{case}.a"), self.array(f"fd.{case}.b")
            want = self.ref[f"fd.{case}.distance"][1][0]
            self.assertLess(abs(gm.frechet_distance(a, b) - want), 1e-3 * want, case)
        a = self.array("fd.close.a")
        self.assertLess(gm.frechet_distance(a, a.copy()), 1e-9)

    def test_precision_recall(self):
        real, fake = self.array("pr.real"), self.array("pr.fake")
        p, r = gm.precision_recall(real, fake, int(self.ref["pr.k"][1][0]))
        self.assertAlmostEqual(p, self.ref["pr.precision"][1][0], places=12)
        self.assertAlmostEqual(r, self.ref["pr.recall"][1][0], places=12)
        self.assertEqual(gm.precision_recall(real, real), (1.0, 1.0))

    def test_density_coverage(self):
        for case in ("pr", "dc.shifted", "dc.point"):
            real, fake = self.array(f"{case}.real"), self.array(f"{case}.fake")
            d, c = gm.density_coverage(real, fake, int(self.ref[f"{case}.k"][1][0]))
            for got, name in ((d, "density"), (c, "coverage")):
                want = self.ref[f"{case}.{name}"][1][0]
                self.assertLessEqual(abs(got - want), 1e-12 + 1e-9 * abs(want), (case, name))
        # 40 copies of the reals' mean: precision 1, but coverage c/N and
        # density c/k with c the real balls holding the point
        real = self.array("dc.point.real")
        copies = np.repeat(self.array("dc.point.fake"), 40, axis=0)
        self.assertEqual(gm.precision_recall(real, copies)[0], 1.0)
        d, c = gm.density_coverage(real, copies)
        self.assertEqual((d, c), gm.density_coverage(real, copies[:1]))
        self.assertAlmostEqual(d * 3, c * len(real), places=12)
        self.assertLess(c, 0.1)
        with self.assertRaisesRegex(gm.InvalidArgument,
                                    r"gm_eval_density_coverage.*real must hold at least k \+ 1"):
            gm.density_coverage(real[:3], copies)
        with self.assertRaisesRegex(gm.ShapeError, "gm_eval_density_coverage"):
            gm.density_coverage(real, np.zeros((4, 3), np.float32))

    def test_nearest_neighbours(self):
        train = np.zeros((1, 1), np.float32)
        samples = np.arange(1, 21, dtype=np.float32).reshape(20, 1)
        stats = gm.nearest_neighbours(samples, train)
        self.assertEqual((stats.mean, stats.min, stats.median, stats.max), (10.5, 1, 10.5, 20))
        self.assertAlmostEqual(stats.q05, 1.95)
        stats, dist = gm.nearest_neighbours(samples, train, distances=True)
        np.testing.assert_array_equal(dist, samples[:, 0])

    def small_net(self, rng):
        return gm.Net([gm.conv2d(1, 4, 4, 2, 1, "he", rng), gm.relu(), gm.flatten(),
                       gm.dense(4 * 14 * 14, 6, "he", rng)])

    def test_features_and_report(self):
        with gm.Rng(3) as rng:
            net = self.small_net(rng)
            images = rng.uniform(40 * 784).reshape(40, 1, 28, 28)
            real = rng.uniform(30 * 784).reshape(30, 1, 28, 28)
            enc = gm.Net([gm.flatten(), gm.dense(784, 8, "torch", rng)])
            dec = gm.Net([gm.dense(4, 784, "torch", rng), gm.reshape(1, 28, 28)])
        with net, gm.VAE(enc, dec, latent=4, seed=1) as vae:
            net.training = False
            want = net.forward(images)
            net.training = True
            got = gm.eval_features(net, images, batch=7)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            self.assertTrue(net.training)
            rep = gm.evaluate_images(net, images, real, train=real, vae=vae, nearest_max=10,
                                     iwae_k=3, batch=10)
            self.assertEqual((rep.n_samples, rep.n_real, rep.feature_dim, rep.n_nearest),
                             (40, 30, 6, 10))
            fs, fr = gm.eval_features(net, images, 10), gm.eval_features(net, real, 10)
            self.assertEqual(rep.frechet, gm.frechet_distance(fs, fr))
            self.assertEqual((rep.precision, rep.recall), gm.precision_recall(fr, fs))
            self.assertEqual((rep.density, rep.coverage), gm.density_coverage(fr, fs))
            self.assertTrue(math.isfinite(rep.iwae_nll) and rep.iwae_nll > 0)
            rep = gm.evaluate_images(net, images, real)
            self.assertTrue(math.isnan(rep.iwae_nll) and math.isnan(rep.nearest.mean))
            self.assertEqual(rep.n_nearest, 0)

    def test_bad_input(self):
        a = np.zeros((10, 4), np.float32)
        b = np.zeros((10, 5), np.float32)
        with self.assertRaisesRegex(gm.ShapeError, "gm_eval_frechet"):
            gm.frechet_distance(a, b)
        with self.assertRaisesRegex(gm.InvalidArgument, r"gm_eval_precision_recall.*k \+ 1"):
            gm.precision_recall(a, a[:3])
        a[2, 1] = np.nan
        with self.assertRaisesRegex(gm.InvalidArgument, "gm_eval_frechet.*not finite"):
            gm.frechet_distance(a, a)
        with self.assertRaises(TypeError):
            gm.frechet_distance(a.astype(np.float64), a)
        with self.assertRaises(ValueError):
            gm.eval_options(k=-1)
        with self.assertRaises(TypeError):
            gm.eval_options(nonsense=1)
        with gm.Rng(1) as rng, self.small_net(rng) as net:
            with self.assertRaisesRegex(gm.ShapeError, "gm_eval_features"):
                gm.eval_features(net, np.zeros((3, 1, 28, 28), np.float32),
                                 out=np.zeros((3, 7), np.float32))
            with self.assertRaisesRegex(gm.InvalidArgument, "gm_eval_images.*opts->k"):
                gm.evaluate_images(net, np.zeros((5, 1, 28, 28), np.float32),
                                   np.zeros((5, 1, 28, 28), np.float32), k=0)


if __name__ == "__main__":
    unittest.main()
