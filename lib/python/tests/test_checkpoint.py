# SPDX-License-Identifier: MIT
"""Checkpoints through the binding: save, load in this and a fresh
interpreter, train on exactly as if never stopped; bad files raise."""
import os
import tempfile
import unittest

from support import gm, run_python


def make_vae(seed):
    rng = gm.Rng(seed)
    enc = gm.Net([gm.dense(16, 12, "he", rng), gm.batchnorm(12), gm.relu(),
                  gm.dense(12, 8, "torch", rng)])
    dec = gm.Net([gm.dense(4, 12, "torch", rng), gm.relu(), gm.dense(12, 16, "torch", rng)])
    rng.close()
    return gm.VAE(enc, dec, latent=4, seed=seed)


def make_gan(seed):
    rng = gm.Rng(seed)
    g = gm.Net([gm.dense(2, 16, "he", rng), gm.relu(), gm.dense(16, 2, "he", rng)])
    d = gm.Net([gm.dense(2, 16, "he", rng), gm.leaky_relu(0.2), gm.dense(16, 1, "he", rng)])
    rng.close()
    return gm.GAN(g, d, latent=2, seed=seed, n_critic=2)


def data(step, width):
    return [[((step * 31 + i * 7 + j * 3) % 17) / 17.0 for j in range(width)] for i in range(8)]


class Checkpoints(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def test_vae_resume_is_exact(self):
        with make_vae(5) as straight, make_vae(5) as first:
            for s in range(7):
                straight.train_step(data(s, 16))
            for s in range(3):
                first.train_step(data(s, 16))
            first.save(self.path("v.gmck"))
        with gm.VAE.load(self.path("v.gmck")) as vae, make_vae(5) as again:
            self.assertEqual(vae.step_count, 3)
            self.assertEqual((vae.latent, vae.num_classes), (4, 0))
            self.assertEqual(vae.likelihood, gm.Likelihood.BERNOULLI)
            self.assertEqual(vae.options().seed, 5)
            for s in range(3, 7):
                vae.train_step(data(s, 16))
            for s in range(7):
                again.train_step(data(s, 16))
            self.assertEqual(vae.encoder.params().tolist(), again.encoder.params().tolist())
            self.assertEqual(vae.decoder.params().tolist(), again.decoder.params().tolist())
            self.assertEqual(tuple(vae.sample(3).shape), (3, 16))

    def test_gan_resume_in_a_fresh_interpreter(self):
        with make_gan(9) as gan:
            for s in range(4):
                gan.train_step(data(s, 2))
            gan.save(self.path("g.gmck"))
            for s in range(4, 9):
                gan.train_step(data(s, 2))
            gan.save(self.path("straight.gmck"))
        r = run_python(f"""
            import sys
            sys.path.insert(0, {os.path.dirname(__file__)!r})
            from test_checkpoint import data
            import genmodel as gm
            with gm.GAN.load({self.path("g.gmck")!r}) as gan:
                assert gan.step_count == 4 and gan.sample_shape == (2,)
                for s in range(4, 9):
                    gan.train_step(data(s, 2))
                gan.save({self.path("resumed.gmck")!r})
            """)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path("straight.gmck"), "rb") as a, open(self.path("resumed.gmck"), "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_net_round_trip_and_bad_files(self):
        rng = gm.Rng(1)
        with gm.Net([gm.dense(3, 4, "he", rng), gm.tanh()]) as net:
            net.save(self.path("n.gmck"))
            with gm.Net.load(self.path("n.gmck")) as back:
                self.assertEqual(len(back), 2)
                x = [[0.1, 0.2, 0.3]]
                self.assertEqual(net.forward(x).tolist(), back.forward(x).tolist())
        rng.close()
        with open(self.path("n.gmck"), "rb") as f:
            good = f.read()
        with open(self.path("bad.gmck"), "wb") as f:
            f.write(good[:-3])
        with self.assertRaises(gm.FormatError) as cm:
            gm.Net.load(self.path("bad.gmck"))
        self.assertIn("gm_net_load", str(cm.exception))
        with self.assertRaises(gm.FormatError):
            gm.VAE.load(self.path("n.gmck"))          # a net file, not a VAE
        with self.assertRaises(gm.FileError):
            gm.GAN.load(self.path("missing.gmck"))
        with make_gan(2) as gan:
            with self.assertRaises(gm.InvalidArgument):
                gan.set_lr(gm.GanPart.GENERATOR, -1.0)
            gan.set_lr(gm.GanPart.DISCRIMINATOR, 1e-4)
            with self.assertRaises(gm.FileError):
                gan.save(self.path("no/such/dir/g.gmck"))


if __name__ == "__main__":
    unittest.main()
