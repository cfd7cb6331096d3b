# SPDX-License-Identifier: MIT
"""Deterministic freeing, ownership transfer and borrowed handles, checked
with gm_live_allocations(); double frees are caught in a subprocess with
glibc's MALLOC_CHECK_."""
import gc
import unittest

from support import gm, run_python


def small_vae_nets(rng, d=6, latent=2):
    enc = gm.Net([gm.dense(d, 8, rng=rng), gm.relu(), gm.dense(8, 2 * latent, rng=rng)])
    dec = gm.Net([gm.dense(latent, 8, rng=rng), gm.relu(), gm.dense(8, d, rng=rng)])
    return enc, dec


def _raise_runtime_error(progress, mean):
    raise RuntimeError("from a fit callback")


class Freeing(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.start = gm.live_allocations()

    def assertBack(self):
        self.assertEqual(gm.live_allocations(), self.start)

    def test_with_blocks(self):
        with gm.Rng(1) as rng, gm.Tensor((3, 4)) as t, gm.Net() as net:
            t.fill_normal(rng)
            net.add(gm.dense(4, 2, rng=rng))
            with gm.Optimizer(net, "sgd", lr=0.1) as opt:
                net.forward(t)
                net.backward(gm.Tensor((3, 2)))
                opt.step()
                self.assertGreater(gm.live_allocations(), self.start)
        self.assertTrue(t.closed and net.closed and rng.closed)
        self.assertBack()

    def test_close_is_idempotent_and_final(self):
        t = gm.Tensor((2,))
        t.close()
        t.close()
        with self.assertRaises(gm.StateError):
            t.fill(1.0)
        self.assertBack()

    def test_layers_owned_by_net(self):
        with gm.Rng(1) as rng:
            layers = [gm.dense(3, 4, rng=rng), gm.relu(), gm.dense(4, 1, rng=rng)]
        self.assertTrue(all(l.owned for l in layers))
        net = gm.Net(layers)
        self.assertFalse(any(l.owned for l in layers))
        self.assertEqual(layers[0].param_count, 16)      # still usable, borrowed
        self.assertEqual(net[2].name, "dense")
        layers[1].close()                                 # drops the view, frees nothing
        self.assertEqual(len(net), 3)
        net.close()
        self.assertTrue(all(l.closed for l in layers))
        with self.assertRaises(gm.StateError):
            layers[0].params()
        self.assertBack()

    def test_borrowed_layer_keeps_net_alive(self):
        with gm.Rng(1) as rng:
            net = gm.Net([gm.dense(3, 4, rng=rng)])
        layer = net[0]
        del net
        gc.collect()
        self.assertEqual(layer.param_count, 16)
        self.assertNotEqual(gm.live_allocations(), self.start)
        del layer
        gc.collect()
        self.assertBack()

    def test_nets_owned_by_vae(self):
        with gm.Rng(1) as rng:
            enc, dec = small_vae_nets(rng)
        first = enc[0]
        vae = gm.VAE(enc, dec, latent=2)
        self.assertFalse(enc.owned or dec.owned)
        self.assertEqual(vae.encoder.param_count, enc.param_count)
        vae.train_step([[0.5] * 6] * 4)
        vae.close()
        self.assertTrue(enc.closed and dec.closed and first.closed)
        enc.close()
        dec.close()
        self.assertBack()

    def test_vae_create_failure_leaves_nets_with_caller(self):
        with gm.Rng(1) as rng:
            enc, dec = small_vae_nets(rng, latent=2)
        with self.assertRaises(gm.ShapeError):
            gm.VAE(enc, dec, latent=3)                     # the decoder takes 2 latents
        self.assertTrue(enc.owned and dec.owned)
        with self.assertRaises(gm.InvalidArgument):
            gm.VAE(enc, enc, latent=2)                     # the same net twice
        self.assertTrue(enc.owned)
        enc.close()
        dec.close()
        self.assertBack()

    def test_nets_owned_by_gan(self):
        with gm.Rng(1) as rng:
            g = gm.Net([gm.dense(2, 4, rng=rng)])
            d = gm.Net([gm.dense(4, 1, rng=rng)])
        with gm.GAN(g, d, latent=2) as gan:
            self.assertFalse(g.owned or d.owned)
            self.assertEqual(gan.generator.param_count, 12)
            disc = gan.discriminator
        self.assertTrue(g.closed and d.closed and disc.closed)
        self.assertBack()

    def test_model_owned_net_is_not_freed_by_gm_net_free(self):
        """net.h: gm_net_free ignores a net owned by a VAE or GAN (the
        binding never calls it for one; this checks the C guarantee)."""
        with gm.Rng(1) as rng:
            enc, dec = small_vae_nets(rng)
        with gm.VAE(enc, dec, latent=2) as vae:
            count = gm.live_allocations()
            gm.lib.gm_net_free(vae.encoder._p)
            self.assertEqual(gm.live_allocations(), count)
            vae.train_step([[0.5] * 6] * 4)
        self.assertBack()

    def test_parallel_and_fit_free_everything(self):
        with gm.Rng(1) as rng:
            enc, dec = small_vae_nets(rng)
            g = gm.Net([gm.dense(2, 4, rng=rng)])
            d = gm.Net([gm.dense(4, 1, rng=rng)])
        x = [[0.25] * 6] * 4
        vae, gan = gm.VAE(enc, dec, latent=2), gm.GAN(g, d, latent=2)
        vae.compute_grads(x)
        views = [vae.grads(), gan.grads("generator")]
        vae.apply_grads()
        vae.fit(x, batch=2, callback=lambda p, m: None)
        with self.assertRaises(RuntimeError):
            vae.fit(x, batch=2, every=1, callback=_raise_runtime_error)
        with self.assertRaises(gm.InvalidArgument):
            gan.fit([[0.1] * 4] * 4, batch=5)              # fails before any step
        gan.fit([[0.1] * 4] * 4, batch=2)
        del vae, gan, enc, dec, g, d                         # the views keep the models
        gc.collect()
        self.assertGreater(gm.live_allocations(), self.start)
        del views
        gc.collect()
        self.assertBack()

    def test_garbage_collection_fallback(self):
        rng = gm.Rng(1)
        enc, dec = small_vae_nets(rng)
        vae = gm.VAE(enc, dec, latent=2)
        t = gm.Tensor((5, 5))
        self.assertGreater(gm.live_allocations(), self.start)
        del rng, enc, dec, vae, t
        gc.collect()
        self.assertBack()

    def test_temporaries_are_freed(self):
        with gm.Rng(1) as rng:
            enc, dec = small_vae_nets(rng)
        with gm.VAE(enc, dec, latent=2) as vae:
            inside = gm.live_allocations()
            x = [[0.25] * 6] * 3
            for _ in range(3):
                vae.train_step(x)
                vae.elbo(x)
                vae.reconstruct(x)
                vae.encode(x)
                vae.sample(2)
            # only the model's own batch buffers may have grown
            after = gm.live_allocations()
            for _ in range(3):
                vae.train_step(x)
                vae.reconstruct(x)
                vae.sample(2)
            self.assertEqual(gm.live_allocations(), after)
            self.assertGreaterEqual(after, inside)
        self.assertBack()


class Subprocess(unittest.TestCase):
    def test_no_double_free(self):
        """Ownership transfers, explicit closes, GC and interpreter exit with
        live objects, under glibc's heap checks: any double free aborts."""
        r = run_python("""
            import gc
            import genmodel as gm
            start = gm.live_allocations()
            rng = gm.Rng(4)
            layers = [gm.dense(6, 8, rng=rng), gm.relu(), gm.dense(8, 4, rng=rng)]
            enc = gm.Net(layers)
            dec = gm.Net([gm.dense(2, 8, rng=rng), gm.relu(), gm.dense(8, 6, rng=rng)])
            vae = gm.VAE(enc, dec, latent=2)
            vae.train_step([[0.5] * 6] * 4)
            for l in layers: l.close()
            enc.close(); dec.close()
            borrowed = vae.encoder
            vae.close(); vae.close()
            borrowed.close(); layers[0].close()
            for h in (enc, dec, borrowed, *layers): assert h.closed
            del layers, enc, dec, borrowed, vae
            gc.collect()
            assert gm.live_allocations() == start + 1, gm.live_allocations()  # rng
            g = gm.Net([gm.dense(2, 4, rng=rng)])
            d = gm.Net([gm.dense(4, 1, rng=rng)])
            gan = gm.GAN(g, d, latent=2)
            gan.train_step([[0.1, 0.2, 0.3, 0.4]] * 2)
            keep = gan.generator[0]
            del gan, g, d
            gc.collect()
            keep.params()                    # the GAN is kept alive by the borrowed layer
            leftover = gm.Net([gm.dense(3, 3, rng=rng)])   # freed at exit
            print("done")
            """, MALLOC_CHECK_="3", MALLOC_PERTURB_="165")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("done", r.stdout)
        self.assertEqual(r.stderr, "")


if __name__ == "__main__":
    unittest.main()
