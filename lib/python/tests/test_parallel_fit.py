# SPDX-License-Identifier: MIT
"""Data-parallel training (compute_grads / grads / apply_grads, the all-reduce
done by hand on the zero-copy buffers) and fit() with a Python callback.
Mirrors tests/test_vae.c and tests/test_gan.c test_data_parallel, and
tests/test_fit.c."""
import gc
import math
import traceback
import unittest
import weakref

import numpy as np

from support import gm

TOL = 1e-5  # the summed shards differ from the batch by float rounding only


def vae_nets(d=10, latent=3, classes=4, hidden=16, seed=61):
    with gm.Rng(seed) as rng:
        enc = gm.Net([gm.dense(d + classes, hidden, "torch", rng), gm.relu(),
                      gm.dense(hidden, 2 * latent, "torch", rng)])
        dec = gm.Net([gm.dense(latent + classes, hidden, "torch", rng), gm.relu(),
                      gm.dense(hidden, d, "torch", rng)])
    return enc, dec


def make_vae(**kw):
    enc, dec = vae_nets()
    return gm.VAE(enc, dec, latent=3, num_classes=4, seed=5, optimizer={"lr": 1e-2}, **kw)


def gan_nets(latent=2, data=3, classes=2, hidden=16):
    def mlp(i, o, seed):
        with gm.Rng(seed) as rng:
            return gm.Net([gm.dense(i, hidden, "torch", rng), gm.leaky_relu(0.2),
                           gm.dense(hidden, o, "torch", rng)])
    return mlp(latent + classes, data, 1), mlp(data + classes, 1, 2)


def make_gan():
    g, d = gan_nets()
    opt = gm.optimizer_options("adam", lr=1e-2)
    return gm.GAN(g, d, latent=2, n_critic=2, real_label=0.9, num_classes=2, seed=77,
                  g_optimizer=opt, d_optimizer=opt)


def vae_params(vae):
    return np.concatenate([vae.encoder.params(), vae.decoder.params()])


def gan_params(gan):
    return np.concatenate([gan.generator.params(), gan.discriminator.params()])


def data_rows(n, d, seed):
    """n rows of d values in (0, 1)."""
    with gm.Rng(seed) as rng:
        return (0.05 + 0.9 * rng.uniform(n * d)).astype(np.float32).reshape(n, d)


class VAEDataParallel(unittest.TestCase):
    def test_two_shards_equal_one_batch(self):
        n, cut, d = 12, 5, 10
        ref, one, wa, wb = (make_vae() for _ in range(4))
        self.addCleanup(lambda: [m.close() for m in (ref, one, wa, wb)])
        data = data_rows(3 * n, d, 62)
        labels = np.arange(3 * n, dtype=np.int32) % 4
        for step in range(3):
            x, y = data[step * n:(step + 1) * n], labels[step * n:(step + 1) * n]
            sr = ref.train_step(x, y)
            s1 = one.compute_grads(x, y)                     # offset 0, total N: the batch
            one.apply_grads()
            self.assertEqual(s1._asdict(), sr._asdict())
            sa = wa.compute_grads(x[:cut], y[:cut], 0, n)
            sb = wb.compute_grads(x[cut:], y[cut:], offset=cut, total=n)
            # the shards' statistics average to the batch's
            self.assertAlmostEqual((sa.loss * cut + sb.loss * (n - cut)) / n, sr.loss,
                                   delta=1e-4 * abs(sr.loss))
            ga, gb = wa.grads(), wb.grads()
            self.assertIsInstance(ga, np.ndarray)
            self.assertEqual((ga.dtype, ga.shape), (np.float32, (wa.encoder.param_count +
                                                                 wa.decoder.param_count,)))
            total = ga + gb                                  # the all-reduce
            ga[:] = total                                    # in place, into the C buffers
            gb[:] = total
            wa.apply_grads()
            wb.apply_grads()
        pr, p1, pa, pb = (vae_params(m) for m in (ref, one, wa, wb))
        np.testing.assert_array_equal(p1, pr)               # bit for bit
        np.testing.assert_array_equal(pa, pb)               # the replicas agree
        np.testing.assert_allclose(pa, pr, rtol=0, atol=TOL)
        self.assertEqual([m.step_count for m in (ref, one, wa, wb)], [3] * 4)

    def test_buffer_is_borrowed_and_checked(self):
        vae = make_vae()
        x, y = data_rows(6, 10, 3), np.zeros(6, np.int32)
        with self.assertRaises(gm.StateError):
            vae.apply_grads()                                # nothing computed
        vae.compute_grads(x, y)
        g = vae.grads()
        self.assertTrue(g.flags.writeable)
        self.assertTrue(np.all(np.isfinite(g)) and np.any(g != 0))
        self.assertTrue(np.shares_memory(g, vae.grads()))    # one C buffer, not copies
        g2 = vae.grads()
        g2[0] = 123.0
        self.assertEqual(g[0], 123.0)
        g[:] = np.nan
        before = vae_params(vae)
        with self.assertRaises(gm.NumericError):
            vae.apply_grads()
        np.testing.assert_array_equal(vae_params(vae), before)
        g[:] = 0.0
        vae.apply_grads()                                    # a zero gradient: Adam moves nothing
        self.assertEqual(vae.step_count, 1)
        with self.assertRaises(gm.StateError):
            vae.apply_grads()                                # applied already
        with self.assertRaises(gm.InvalidArgument):
            vae.compute_grads(x, y, offset=8, total=12)      # rows past the batch
        with self.assertRaises(gm.InvalidArgument):
            vae.compute_grads(x, y, offset=3)                # total=None is N: no room
        with self.assertRaises(gm.InvalidArgument):
            vae.compute_grads(x)                             # a conditional VAE needs labels
        with self.assertRaises(ValueError):
            vae.compute_grads(x, y[:2])                      # checked in Python
        # the view keeps the VAE object alive
        ref = weakref.ref(vae)
        del vae, g2
        gc.collect()
        self.assertIsNotNone(ref())
        self.assertEqual(g[0], 0.0)
        del g
        gc.collect()
        self.assertIsNone(ref())

    def test_borrowed_nets_refuse_layers(self):
        """net.h: gm_net_add refuses a net owned by a model (GM_ESTATE); the
        layer stays the caller's."""
        vae = make_vae()
        layer = gm.relu()
        with self.assertRaises(gm.StateError):
            vae.encoder.add(layer)
        self.assertTrue(layer.owned)
        self.assertEqual(len(vae.encoder), 3)
        layer.close()
        vae.close()


class GANDataParallel(unittest.TestCase):
    @staticmethod
    def split_step(workers, cuts, real, labels, n_critic):
        total = cuts[-1]
        for c in range(n_critic + 1):
            part = gm.GanPart.DISCRIMINATOR if c < n_critic else "generator"
            for w, gan in enumerate(workers):
                gan.compute_grads(part, real[cuts[w]:cuts[w + 1]], labels[cuts[w]:cuts[w + 1]],
                                  cuts[w], total)
            bufs = [gan.grads(part) for gan in workers]
            summed = np.sum(bufs, axis=0, dtype=np.float32)
            for gan, buf in zip(workers, bufs):
                buf[:] = summed
                gan.apply_grads(part)

    def test_two_shards_equal_one_batch(self):
        ref, one, wa, wb = (make_gan() for _ in range(4))
        self.addCleanup(lambda: [m.close() for m in (ref, one, wa, wb)])
        n = 8
        y = np.array([0, 1, 1, 0, 1, 0, 0, 1], np.int32)
        with gm.Rng(5) as rng:
            for _ in range(4):
                real = rng.normal(n * 3).reshape(n, 3)
                ref.train_step(real, y)
                self.split_step([one], [0, n], real, y, 2)
                self.split_step([wa, wb], [0, 3, n], real, y, 2)
        pr, p1, pa, pb = (gan_params(m) for m in (ref, one, wa, wb))
        np.testing.assert_array_equal(p1, pr)
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_allclose(pa, pr, rtol=0, atol=TOL)
        self.assertEqual([m.step_count for m in (ref, one, wa, wb)], [4] * 4)

    def test_parts_and_errors(self):
        gan = make_gan()
        real, y = data_rows(8, 3, 4), np.zeros(8, np.int32)
        nd, ng = gan.discriminator.param_count, gan.generator.param_count
        self.assertEqual(len(gan.grads(gm.GanPart.DISCRIMINATOR)), nd)
        self.assertEqual(len(gan.grads(1)), ng)
        st = gan.compute_grads("discriminator", real, y)
        self.assertTrue(math.isfinite(st.d_loss) and st.g_loss == 0.0 and st.d_fake == 0.0)
        with self.assertRaises(gm.StateError):
            gan.apply_grads(gm.GanPart.GENERATOR)           # no generator phase computed
        gan.grads("discriminator")[0] = math.inf
        with self.assertRaises(gm.NumericError):
            gan.apply_grads("discriminator")
        with self.assertRaises(ValueError):
            gan.grads(2)                                     # not a GanPart
        with self.assertRaises(ValueError):
            gan.compute_grads("critic", real, y)
        st = gan.compute_grads(gm.GanPart.GENERATOR, real, y)
        self.assertTrue(math.isfinite(st.g_loss) and st.d_loss == 0.0)
        gan.apply_grads(gm.GanPart.GENERATOR)
        self.assertEqual(gan.step_count, 1)
        gan.close()


class Fit(unittest.TestCase):
    """11 rows in batches of 3 (3 steps an epoch, a row dropped), 2 epochs,
    every 2: calls after steps 2, 3 (epoch end), 5, 6."""
    N, B, E = 11, 3, 2

    def setUp(self):
        self.x = data_rows(self.N, 10, 8)
        self.y = (np.arange(self.N) % 4).astype(np.int32)

    def fit(self, vae, callback=None, **kw):
        args = dict(epochs=self.E, batch=self.B, every=2, shuffle_seed=9, callback=callback)
        args.update(kw)
        vae.fit(self.x, self.y, **args)

    def test_schedule_and_progress(self):
        calls = []
        with make_vae() as vae:
            self.fit(vae, lambda p, m: calls.append((p, m)))
            self.assertEqual(vae.step_count, self.E * (self.N // self.B))
        self.assertEqual([p.step for p, _ in calls], [2, 3, 5, 6])
        self.assertEqual([p.epoch for p, _ in calls], [1, 1, 2, 2])
        self.assertEqual([p.epoch_step for p, _ in calls], [2, 3, 2, 3])
        self.assertEqual([p.steps_averaged for p, _ in calls], [2, 1, 2, 1])
        p, m = calls[-1]                                     # copies, valid after the fit
        self.assertIsInstance(p, gm.FitProgress)
        self.assertIsInstance(m, gm.VAEStats)
        self.assertEqual((p.epochs, p.steps_per_epoch), (2, 3))
        self.assertGreaterEqual(p.seconds, 0.0)
        self.assertTrue(all(math.isfinite(m.loss) and m.beta == 1.0 for _, m in calls))

    def test_deterministic_and_equal_to_train_steps(self):
        with make_vae() as a, make_vae() as b, make_vae() as c:
            self.fit(a, lambda p, m: None)
            self.fit(b)                                      # no callback: the same model
            np.testing.assert_array_equal(vae_params(a), vae_params(b))
            self.fit(c, shuffle_seed=10)
            self.assertFalse(np.array_equal(vae_params(a), vae_params(c)))
        # identical rows: any shuffle gives the same batches, so fit is train_step
        same = np.repeat(self.x[:1], 5, axis=0)
        labels = np.zeros(5, np.int32)
        seen = []
        with make_vae() as a, make_vae() as b:
            a.fit(same, labels, epochs=3, batch=5, every=1,
                  callback=lambda p, m: seen.append(m._asdict()))
            want = [b.train_step(same, labels)._asdict() for _ in range(3)]
            self.assertEqual(seen, want)
            np.testing.assert_array_equal(vae_params(a), vae_params(b))

    def test_callback_stops(self):
        calls = []

        def stop_second(p, m):
            calls.append(p.step)
            return len(calls) == 2                           # truthy: stop
        with make_vae() as vae:
            self.fit(vae, stop_second)
            self.assertEqual(calls, [2, 3])
            self.assertEqual(vae.step_count, 3)
            self.fit(vae, lambda p, m: 1)                    # any truthy value
            self.assertEqual(vae.step_count, 5)

    def test_exception_in_callback_propagates(self):
        class Boom(Exception):
            pass
        calls = []

        def boom(p, m):
            calls.append(p.step)
            if len(calls) == 2:
                raise Boom("from the callback")
        with make_vae() as vae:
            try:
                self.fit(vae, boom)
            except Boom as e:  # not assertRaises: it drops the traceback
                self.assertEqual(str(e), "from the callback")
                frames = [f.name for f in traceback.extract_tb(e.__traceback__)]
                self.assertEqual(frames[-1], "boom")         # the callback's own traceback
            else:
                self.fail("the callback's exception was not raised")
            self.assertEqual(calls, [2, 3])                  # not called again: stopped
            self.assertEqual(vae.step_count, 3)              # the steps before it stay
            # still usable
            self.assertTrue(math.isfinite(vae.train_step(self.x, self.y).loss))
            self.fit(vae)
            self.assertEqual(vae.step_count, 3 + 1 + 6)
            # a BaseException (KeyboardInterrupt-like) too, and a bad truth value
            with self.assertRaises(KeyboardInterrupt):
                self.fit(vae, lambda p, m: (_ for _ in ()).throw(KeyboardInterrupt()))
            with self.assertRaises(ValueError):             # ambiguous numpy truth value
                self.fit(vae, lambda p, m: np.array([True, False]))

    def test_callback_may_read_but_not_close(self):
        x = gm.Tensor.from_data(self.x)
        seen = []

        def cb(p, m):
            seen.append(vae.elbo(self.x, self.y).loss)      # reading is allowed
            seen.append(vae.sample(2, [0, 1]).shape)
            if p.step == 5:
                x.close()                                    # the data is in use
        vae = make_vae()
        with self.assertRaises(gm.StateError) as cm:
            vae.fit(x, self.y, epochs=2, batch=3, every=2, callback=cb)
        self.assertIn("VAE.fit", str(cm.exception))
        self.assertEqual(vae.step_count, 5)
        self.assertFalse(x.closed)
        self.assertEqual(len(seen), 6)
        with self.assertRaises(gm.StateError):
            vae.fit(x, self.y, batch=3, callback=lambda p, m: vae.close())
        self.assertFalse(vae.closed)
        x.close()
        vae.close()
        self.assertTrue(x.closed and vae.closed)

    def test_bad_arguments(self):
        with make_vae() as vae:
            with self.assertRaises(gm.InvalidArgument):
                vae.fit(self.x, self.y, batch=12)            # batch 12 > N = 11
            with self.assertRaises(gm.InvalidArgument):
                vae.fit(self.x, self.y, batch=3, every=0)
            with self.assertRaises(ValueError):
                vae.fit(self.x, self.y, batch=3, epochs=-1)  # would wrap to 2^32 - 1
            with self.assertRaises(ValueError):
                vae.fit(self.x, self.y[:5], batch=3)         # labels length
            with self.assertRaises(TypeError):
                vae.fit(self.x, self.y, batch=3, callback=42)
            bad = self.x.copy()
            bad[7, 0] = 2.0                                  # outside [0, 1]: checked first
            with self.assertRaises(gm.InvalidArgument):
                vae.fit(bad, self.y, batch=3)
            self.assertEqual(vae.step_count, 0)

    def test_gan_fit(self):
        real = data_rows(10, 3, 12)
        y = (np.arange(10) % 2).astype(np.int32)
        calls = []
        with make_gan() as a, make_gan() as b:
            a.fit(real, y, epochs=3, batch=4, callback=lambda p, m: calls.append((p, m)))
            self.assertEqual(a.step_count, 3 * (10 // 4))
            self.assertEqual([p.step for p, _ in calls], [2, 4, 6])   # each epoch's end
            self.assertEqual([p.steps_averaged for p, _ in calls], [2, 2, 2])
            self.assertIsInstance(calls[0][1], gm.GANStats)
            self.assertTrue(all(math.isfinite(m.d_loss) and math.isfinite(m.g_loss)
                                for _, m in calls))
            b.fit(real, y, epochs=3, batch=4)
            np.testing.assert_array_equal(gan_params(a), gan_params(b))
            b.fit(real, y, epochs=3, batch=4, every=1, callback=lambda p, m: p.step == 3)
            self.assertEqual(b.step_count, 6 + 3)
            with self.assertRaises(ZeroDivisionError):
                b.fit(real, y, batch=4, every=1, callback=lambda p, m: 1 / 0)
            self.assertEqual(b.step_count, 6 + 3 + 1)
            b.train_step(real, y)
            self.assertEqual(b.step_count, 11)


if __name__ == "__main__":
    unittest.main()
