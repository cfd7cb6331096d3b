# SPDX-License-Identifier: MIT
"""Small training runs and the functional pieces (losses, ELBO and GAN
modules, generator, I/O) through the binding."""
import math
import os
import tempfile
import unittest

from support import gm

DATA = "/usr/share/datasets/fashion-mnist"


def finite(values):
    return all(math.isfinite(v) for v in values)


class Training(unittest.TestCase):
    def setUp(self):
        self.rng = gm.Rng(11)
        self.addCleanup(self.rng.close)

    def test_regression_with_optimizer(self):
        xs = [[i / 16.0 - 1.0] for i in range(32)]
        ts = [[2 * x[0] - 1] for x in xs]
        net = gm.Net([gm.dense(1, 16, "he", self.rng), gm.relu(), gm.dense(16, 1, "he", self.rng)])
        with net, gm.Optimizer(net, "adam", lr=1e-2) as opt, \
                gm.Tensor.from_data(xs) as x, gm.Tensor.from_data(ts) as t:
            losses = []
            for _ in range(300):
                net.zero_grad()
                y = net.forward(x)
                loss, grad = gm.mse_loss(y, t, gm.Reduction.MEAN)
                net.backward(grad)
                opt.step()
                losses.append(loss)
            self.assertTrue(finite(losses))
            self.assertLess(losses[-1], 0.05 * losses[0])
            self.assertEqual(opt.step_count, 300)
            opt.lr = 0.5
            self.assertAlmostEqual(opt.lr, 0.5)

    def test_vae_steps(self):
        enc = gm.Net([gm.dense(16, 32, "torch", self.rng), gm.relu(),
                      gm.dense(32, 8, "torch", self.rng)])
        dec = gm.Net([gm.dense(4, 32, "torch", self.rng), gm.relu(),
                      gm.dense(32, 16, "torch", self.rng)])
        with gm.VAE(enc, dec, latent=4, seed=3, optimizer={"lr": 1e-2}) as vae, \
                gm.Tensor((32, 16)) as x:
            x.fill_uniform(self.rng)
            stats = [vae.train_step(x) for _ in range(30)]
            losses = [s.loss for s in stats]
            self.assertTrue(finite(losses + [s.kl for s in stats]))
            self.assertNotEqual(losses[0], losses[-1])
            self.assertLess(losses[-1], losses[0])
            self.assertAlmostEqual(stats[0].loss, stats[0].recon + stats[0].kl, places=3)
            self.assertEqual(vae.step_count, 30)
            ev = vae.elbo(x)
            self.assertEqual(ev.beta, 1.0)
            self.assertTrue(math.isfinite(vae.iwae(x, 5)))
            mu, logvar = vae.encode(x)
            self.assertEqual(tuple(mu.shape), (32, 4))
            dec_out = vae.decode(mu)
            self.assertEqual(tuple(dec_out.shape), (32, 16))
            rows = x.tolist()
            line = vae.interpolate(rows[:1], rows[1:2], 5)
            self.assertEqual(tuple(line.shape), (5, 16))
            vae.set_lr(1e-3)

    def test_conditional_vae_labels(self):
        enc = gm.Net([gm.dense(8 + 3, 6, rng=self.rng)])
        dec = gm.Net([gm.dense(3 + 3, 8, rng=self.rng)])
        with gm.VAE(enc, dec, latent=3, num_classes=3, likelihood="gaussian_fixed") as vae:
            self.assertEqual(vae.likelihood, gm.Likelihood.GAUSSIAN_FIXED)
            x = [[0.1 * i for i in range(8)]] * 4
            self.assertTrue(math.isfinite(vae.train_step(x, [0, 1, 2, 0]).loss))
            with self.assertRaises(gm.InvalidArgument):
                vae.train_step(x)                        # labels required
            with self.assertRaises(gm.InvalidArgument):
                vae.train_step(x, [0, 1, 2, 3])          # out of range
            self.assertEqual(tuple(vae.sample(2, [1, 2]).shape), (2, 8))

    def test_gan_steps(self):
        g = gm.Net([gm.dense(4, 16, "he", self.rng), gm.relu(), gm.dense(16, 2, "xavier", self.rng)])
        d = gm.Net([gm.dense(2, 16, "he", self.rng), gm.leaky_relu(0.2),
                    gm.dense(16, 1, "xavier", self.rng)])
        with gm.GAN(g, d, latent=4, seed=5, n_critic=2, real_label=0.9,
                    d_optimizer=gm.optimizer_options("adam", lr=1e-3, beta1=0.5)) as gan, \
                gm.Tensor((64, 2)) as real:
            real.fill_normal(self.rng)
            stats = [gan.train_step(real) for _ in range(10)]
            self.assertTrue(finite([v for s in stats for v in s._asdict().values()]))
            self.assertNotEqual(stats[0].g_loss, stats[-1].g_loss)
            self.assertNotEqual(stats[0].d_loss, stats[-1].d_loss)
            self.assertEqual(gan.step_count, 10)
            self.assertEqual(tuple(gan.sample(7).shape), (7, 2))
            self.assertEqual(tuple(gan.generate([[0.0] * 4] * 3).shape), (3, 2))

    def test_conv_batchnorm_dropout_reshape(self):
        layers = [gm.reshape(1, 4, 4), gm.conv2d(1, 2, 3, 1, 1, rng=self.rng), gm.batchnorm(2),
                  gm.elu(), gm.conv_transpose2d(2, 1, 2, 2, 0, rng=self.rng), gm.softplus(),
                  gm.flatten(), gm.dropout(0.5, seed=1), gm.sigmoid()]
        with gm.Net(layers) as net:
            self.assertEqual([l.kind for l in net.layers],
                             [gm.LayerKind[n] for n in ("RESHAPE", "CONV2D", "BATCHNORM", "ELU",
                                                        "CONV_TRANSPOSE2D", "SOFTPLUS", "FLATTEN",
                                                        "DROPOUT", "SIGMOID")])
            self.assertEqual(net.output_shape((5, 16)), (5, 64))
            with gm.Tensor((5, 16)) as x:
                x.fill_normal(self.rng)
                y = net.forward(x)
                dx = net.backward(y, dx=True)
                self.assertEqual(tuple(dx.shape), (5, 16))
            self.assertGreater(net.grad_norm(), 0)
            net.training = False
            self.assertFalse(net.training)
            net.set_trainable(1, False)

    def test_spectral_norm(self):
        layer = gm.dense(5, 3, rng=self.rng)
        self.assertEqual(layer.spectral_norm_iterations, 0)
        layer.spectral_norm(self.rng, power_iterations=2)
        self.assertEqual(layer.spectral_norm_iterations, 2)
        with gm.Net([layer]) as net:
            net.forward([[1.0] * 5])
            self.assertGreater(layer.spectral_sigma, 0)
            with self.assertRaises(gm.StateError):
                layer.spectral_norm(self.rng)            # already in a net
            u, v, w = list(layer.spectral_u()), list(layer.spectral_v()), list(layer.params())
            self.assertEqual((len(u), len(v)), (3, 5))
            uwv = sum(u[r] * sum(w[r * 5 + c] * v[c] for c in range(5)) for r in range(3))
            self.assertAlmostEqual(uwv, layer.spectral_sigma, places=4)
        with self.assertRaises(gm.StateError):
            gm.dense(2, 2, rng=self.rng).spectral_u()

    def test_batchnorm_running_stats(self):
        layer = gm.batchnorm(2, momentum=0.5)
        self.assertEqual(list(layer.running_mean()), [0.0, 0.0])
        self.assertEqual(list(layer.running_var()), [1.0, 1.0])
        with gm.Net([layer]) as net:
            net.forward([[1.0, 2.0], [3.0, 6.0]])   # batch mean (2, 4), variance (2, 8)
            self.assertEqual(list(layer.running_mean()), [1.0, 2.0])
            self.assertEqual(list(layer.running_var()), [1.5, 4.5])
        with self.assertRaises(gm.Unsupported):
            gm.relu().running_mean()


class Functional(unittest.TestCase):
    def test_losses(self):
        loss, grad = gm.mse_loss([[1.0, 2.0]], [[0.0, 0.0]], "sum")
        self.assertEqual(loss, 5.0)
        self.assertEqual(_flat(grad), [2.0, 4.0])
        loss, _ = gm.bce_logits_loss([[0.0]], [[1.0]], grad=False)
        self.assertAlmostEqual(loss, math.log(2), places=6)
        loss, grad, correct = gm.softmax_xent_loss([[0.0, 0.0]], [1])
        self.assertAlmostEqual(loss, math.log(2), places=6)
        self.assertEqual(_flat(grad), [0.5, -0.5])

    def test_elbo_module(self):
        h = [[0.5, -1.0, 0.2, 0.3]]                     # mu (2), logvar (2)
        mean, each = gm.kl_divergence(h)
        want = 0.5 * sum(m * m + math.exp(lv) - 1 - lv for m, lv in ((0.5, 0.2), (-1.0, 0.3)))
        self.assertAlmostEqual(mean, want, places=5)
        self.assertAlmostEqual(each[0], want, places=5)
        z = gm.reparameterize(h, [[0.0, 0.0]])
        self.assertEqual(_flat(z), [0.5, -1.0])
        dh = gm.Tensor((1, 4))
        gm.reparameterize_backward(h, [[1.0, 1.0]], [[1.0, 1.0]], dh)
        self.assertEqual(_flat(dh)[:2], [1.0, 1.0])
        gm.kl_divergence(h, dh, 1.0)                     # accumulates
        self.assertAlmostEqual(_flat(dh)[0], 1.5, places=6)
        lp = gm.log_normal([[0.0, 0.0]])
        self.assertAlmostEqual(lp[0], -math.log(2 * math.pi), places=5)
        mean, each, grad = gm.logmeanexp([[0.0, 0.0]], grad=True)
        self.assertAlmostEqual(mean, 0.0, places=6)
        self.assertEqual(_flat(grad), [0.5, 0.5])
        mean, each, dout = gm.recon_nll("bernoulli", [[0.0]], [[1.0]], grad=True)
        self.assertAlmostEqual(mean, math.log(2), places=6)
        dh.close()

    def test_gan_losses(self):
        loss, d_real, d_fake = gm.gan_d_loss("wasserstein", [[1.0], [3.0]], [[0.5]], grad=True)
        self.assertEqual(loss, 0.5 - 2.0)
        self.assertEqual(_flat(d_real), [-0.5, -0.5])
        loss, d_real, d_fake = gm.gan_d_loss(gm.GANLoss.HINGE, None, [[0.5]])
        self.assertEqual((loss, d_real, d_fake), (1.5, None, None))
        loss, grad = gm.gan_g_loss("least_squares", [[3.0]], grad=True)
        self.assertEqual(loss, 2.0)

    def test_rng(self):
        with gm.Rng(9) as a, gm.Rng(9) as b:
            first = list(a.uniform(4))
            self.assertEqual(a.state, (9, 1))             # one Philox block of 4 values
            self.assertEqual(first, list(b.uniform(4)))
            a.state = (9, 0)
            self.assertEqual(list(a.uniform(4)), first)
            a.seed(10)
            self.assertNotEqual(list(a.uniform(4)), first)
            self.assertEqual(len(b.normal(3)), 3)

    def test_idx_and_png(self):
        images = gm.load_idx_images(f"{DATA}/t10k-images-idx3-ubyte.gz", 16)
        labels = gm.load_idx_labels(f"{DATA}/t10k-labels-idx1-ubyte.gz", 16)
        self.assertEqual(tuple(images.shape), (16, 1, 28, 28))
        self.assertEqual(len(labels), 16)
        self.assertTrue(all(0 <= v <= 9 for v in labels))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "grid.png")
            gm.write_png_grid(path, images, 4, 4)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with self.assertRaises(gm.InvalidArgument):
                gm.write_png_grid(path, images, 2, 2)       # 16 images in 4 cells

    def test_tensor_basics(self):
        with gm.Tensor.from_data([[1, 2, 3], [4, 5, 6]]) as t:
            self.assertEqual((t.shape, t.ndim, t.numel, len(t)), ((2, 3), 2, 6, 2))
            self.assertEqual(t.reshape(3, 2).tolist(), [[1, 2], [3, 4], [5, 6]])
            t.copy_in([0] * 6)
            self.assertEqual(list(t.to_array()), [0.0] * 6)
            with self.assertRaises(gm.ShapeError):
                t.copy_in([1.0])
        with self.assertRaisesRegex(ValueError, "ragged"):
            gm.Tensor.from_data([[1, 2], [3]])

    def test_threads(self):
        n = gm.get_num_threads()
        self.assertGreaterEqual(n, 1)
        gm.set_num_threads(n)


def _flat(values):
    """Flat list of a Tensor or numpy array."""
    return values.to_array().tolist() if isinstance(values, gm.Tensor) else \
        values.ravel().tolist()


if __name__ == "__main__":
    unittest.main()
