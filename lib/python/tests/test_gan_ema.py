# SPDX-License-Identifier: MIT
"""The moving-average generator through the binding: the ema_decay option,
GAN.use_ema, GAN.ema_params, and the average surviving a checkpoint; and
the other sampling setting, GAN.set_truncation."""
import os
import tempfile
import unittest

from support import gm


def make_gan(seed, ema):
    rng = gm.Rng(seed)
    g = gm.Net([gm.dense(2, 16, "he", rng), gm.relu(), gm.dense(16, 2, "he", rng)])
    d = gm.Net([gm.dense(2, 16, "he", rng), gm.leaky_relu(0.2), gm.dense(16, 1, "he", rng)])
    rng.close()
    return gm.GAN(g, d, latent=2, seed=seed, ema_decay=ema)


def data(step):
    return [[((step * 31 + i * 7 + j * 3) % 17) / 17.0 for j in range(2)] for i in range(8)]


def flat(x):
    return [float(v) for v in (x.reshape(-1) if hasattr(x, "reshape") else x)]


class Ema(unittest.TestCase):
    def test_average_sampling_and_checkpoint(self):
        z = [[0.5, -1.0], [1.5, 0.25]]
        with make_gan(3, 0.9) as on, make_gan(3, 0.0) as off:
            self.assertAlmostEqual(on.options().ema_decay, 0.9, places=6)
            self.assertEqual(off.options().ema_decay, 0.0)
            for t in range(12):
                on.train_step(data(t))
                off.train_step(data(t))
            # training is the same; generation differs until use_ema(False)
            self.assertEqual(flat(on.generator.params()), flat(off.generator.params()))
            avg = flat(on.ema_params())
            self.assertEqual(len(avg), on.generator.param_count)
            self.assertNotEqual(avg, flat(on.generator.params()))
            self.assertNotEqual(flat(on.generate(z)), flat(off.generate(z)))
            on.use_ema(False)
            self.assertEqual(flat(on.generate(z)), flat(off.generate(z)))
            on.use_ema(True)
            ema_out = flat(on.generate(z))
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "g.gmck")
                on.save(p)
                with gm.GAN.load(p) as back:
                    self.assertEqual(flat(back.ema_params()), avg)
                    self.assertEqual(flat(back.generate(z)), ema_out)
            with self.assertRaises(gm.StateError):
                off.use_ema(True)
            with self.assertRaises(gm.StateError):
                off.ema_params()
            off.use_ema(False)

    def test_truncation(self):
        def identity_gan():
            rng = gm.Rng(6)
            g = gm.Net([gm.dense(2, 2, "he", rng)])
            d = gm.Net([gm.dense(2, 1, "he", rng)])
            rng.close()
            g.set_params([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])  # G(z) = z
            return gm.GAN(g, d, latent=2, seed=6)

        with identity_gan() as plain, identity_gan() as cut:
            z = [[2.5, -0.25]]
            self.assertEqual(flat(cut.generate(z)), [2.5, -0.25])
            cut.set_truncation(0.5)
            self.assertEqual(flat(cut.generate(z)), [2.5, -0.25])  # a given z stays
            stream = flat(plain.sample(400))
            got = flat(cut.sample(50))
            self.assertTrue(all(abs(v) <= 0.5 for v in got))
            self.assertEqual(got, [v for v in stream if abs(v) <= 0.5][:100])
            for bad in (-1.0, 0.05, float("nan"), float("inf")):
                with self.assertRaises(gm.InvalidArgument):
                    cut.set_truncation(bad)
            self.assertTrue(all(abs(v) <= 0.5 for v in flat(cut.sample(50))))  # still 0.5
        r1, r2 = gm.Rng(8), gm.Rng(8)  # the same rule on a bare generator
        want = [v for v in flat(r1.normal(400)) if abs(v) <= 0.5][:100]
        self.assertEqual(flat(r2.truncated_normal(100, 0.5)), want)
        with self.assertRaises(gm.InvalidArgument):
            r2.truncated_normal(10, 0.0999)
        r1.close()
        r2.close()
        with identity_gan() as a, identity_gan() as b:
            a.set_truncation(1.0)
            a.set_truncation(0)  # off again: the plain stream
            self.assertEqual(flat(a.sample(3)), flat(b.sample(3)))

    def test_bad_decay(self):
        for bad in (-0.1, 1.0, float("nan")):
            with self.assertRaises(gm.InvalidArgument):
                make_gan(1, bad)


if __name__ == "__main__":
    unittest.main()
