# SPDX-License-Identifier: MIT
"""Issue 18 A: views after close(), threads sharing one object, sizes
checked before allocating, temporaries kept alive across the C call."""
import gc
import math
import threading
import tracemalloc
import unittest
import weakref

import numpy as np
from support import gm


def vae_nets(rng, d=6, latent=2):
    enc = gm.Net([gm.dense(d, 8, rng=rng), gm.relu(), gm.dense(8, 2 * latent, rng=rng)])
    dec = gm.Net([gm.dense(latent, 8, rng=rng), gm.relu(), gm.dense(8, d, rng=rng)])
    return enc, dec


def make_vae(seed=1):
    with gm.Rng(seed) as rng:
        enc, dec = vae_nets(rng)
    return gm.VAE(enc, dec, latent=2, seed=seed)


def make_gan(seed=1):
    with gm.Rng(seed) as rng:
        g = gm.Net([gm.dense(2, 8, rng=rng), gm.relu(), gm.dense(8, 3, rng=rng)])
        d = gm.Net([gm.dense(3, 8, rng=rng), gm.relu(), gm.dense(8, 1, rng=rng)])
    return gm.GAN(g, d, latent=2, seed=seed)


X = np.linspace(0.05, 0.95, 24, dtype=np.float32).reshape(4, 6)


class Base(unittest.TestCase):
    def setUp(self):
        gc.collect()
        self.start = gm.live_allocations()

    def assertBack(self):
        gc.collect()
        self.assertEqual(gm.live_allocations(), self.start)


class ViewsAfterClose(Base):
    """The chosen rule: a view keeps the C object alive; close() makes the
    handle unusable at once and frees the C object with the last view."""

    def test_vae_grads_view_outlives_close(self):
        vae = make_vae()
        vae.compute_grads(X)
        g = vae.grads()
        part = g[2:5]                      # a numpy view of the view
        before = g.copy()
        vae.close()
        self.assertTrue(vae.closed)
        with self.assertRaises(gm.StateError):
            vae.grads()
        with self.assertRaises(gm.StateError):
            vae.sample(1)
        # the C object is still allocated: reading and writing hit live memory
        self.assertGreater(gm.live_allocations(), self.start)
        np.testing.assert_array_equal(g, before)
        g[:] = 3.0
        self.assertTrue(np.all(part == 3.0))
        del g
        gc.collect()
        self.assertGreater(gm.live_allocations(), self.start)  # `part` still holds it
        self.assertEqual(part[0], 3.0)
        del part
        self.assertBack()

    def test_close_without_views_frees_at_once(self):
        vae = make_vae()
        vae.compute_grads(X)
        g = vae.grads()
        del g
        vae.close()                        # no view alive: freed here, not later
        self.assertEqual(gm.live_allocations(), self.start)

    def test_gan_grads_and_garbage_collection(self):
        gan = make_gan()
        gan.compute_grads("discriminator", np.ascontiguousarray(X[:, :3]))
        views = [gan.grads("discriminator"), gan.grads("generator")]
        sums = [float(v.sum()) for v in views]
        gan.close()
        gc.collect()
        self.assertEqual([float(v.sum()) for v in views], sums)
        del gan
        gc.collect()
        self.assertGreater(gm.live_allocations(), self.start)
        views.pop()
        gc.collect()
        self.assertGreater(gm.live_allocations(), self.start)
        views.clear()
        self.assertBack()

    def test_with_block(self):
        with make_vae() as vae:
            vae.compute_grads(X)
            g = vae.grads()
        self.assertGreater(gm.live_allocations(), self.start)
        self.assertTrue(np.all(np.isfinite(g)))
        del g
        self.assertBack()


class Threads(Base):
    def test_threads_hammering_one_vae(self):
        for _round in range(3):
            vae = make_vae(seed=_round + 1)
            steps, errors, bad = [], [], []
            barrier = threading.Barrier(8)

            def worker(k):
                barrier.wait()
                for i in range(40):
                    try:
                        if k == 7 and i == 25:
                            vae.close()
                        elif (k + i) % 3 == 0:
                            st = vae.train_step(X)
                            if not math.isfinite(st.loss):
                                bad.append(("loss", st.loss))
                            steps.append(1)
                        elif (k + i) % 3 == 1:
                            s = vae.sample(5)
                            if s.shape != (5, 6) or not np.all(np.isfinite(s)):
                                bad.append(("sample", s.shape))
                        else:
                            e = vae.elbo(X)
                            if not math.isfinite(e.loss):
                                bad.append(("elbo", e.loss))
                            vae.step_count
                    except gm.StateError as e:
                        errors.append(e)
                    except BaseException as e:  # noqa: B902
                        bad.append(repr(e))

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(bad, [])
            self.assertTrue(vae.closed)
            self.assertGreater(len(steps), 0)
            # after close, every call is a StateError ("is closed"), nothing else
            self.assertTrue(all("closed" in str(e) for e in errors), errors[:3])
            vae = None  # the workers are done; drop the last reference
            self.assertBack()

    def test_serialized_steps_count_exactly(self):
        vae = make_vae()
        n_threads, per = 6, 15

        def worker():
            for _ in range(per):
                vae.train_step(X)

        threads = [threading.Thread(target=worker) for _ in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(vae.step_count, n_threads * per)   # no step lost or refused
        vae.close()
        self.assertBack()

    def test_close_waits_for_a_running_fit(self):
        vae = make_vae()
        data = np.tile(X, (64, 1))
        inside = threading.Event()
        order = []

        def callback(progress, mean):
            inside.set()
            order.append("callback")

        def fitter():
            vae.fit(data, epochs=3, batch=4, every=8, callback=callback)
            order.append("fit done")

        t = threading.Thread(target=fitter)
        t.start()
        self.assertTrue(inside.wait(30))
        vae.close()                        # blocks until fit returns
        order.append("closed")
        t.join()
        self.assertEqual(order[-1], "closed")
        self.assertEqual(order[-2], "fit done")
        self.assertBack()

    def test_tensor_shared_by_threads(self):
        t = gm.Tensor((64, 64))
        errors = []

        def worker(k):
            for i in range(200):
                try:
                    if k == 0 and i == 150:
                        t.close()
                    t.fill(float(k))
                    a = t.numpy()
                    if not np.all(a == a.flat[0]):   # a fill is never torn
                        errors.append("torn")
                except gm.StateError:
                    pass

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        self.assertBack()


class SizesBeforeAllocation(Base):
    HUGE = (1 << 40, 1 << 62, (1 << 64) + 1)

    def assertRefusedCheaply(self, call):
        tracemalloc.start()
        try:
            with self.assertRaises(gm.InvalidArgument) as cm:
                call()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        self.assertIsInstance(cm.exception, ValueError)
        self.assertLess(peak, 1 << 20)     # nothing big was allocated first
        return cm.exception

    def test_vae_sample_and_interpolate(self):
        with make_vae() as vae:
            for n in self.HUGE + (-1,):
                e = self.assertRefusedCheaply(lambda: vae.sample(n))
                self.assertIn("VAE.sample", str(e))
            # the largest allowed n x 6 values, and one more row
            limit = gm.MAX_OUTPUT_ELEMENTS // 6
            self.assertRefusedCheaply(lambda: vae.sample(limit + 1))
            for steps in self.HUGE:
                self.assertRefusedCheaply(lambda: vae.interpolate(X[:1], X[1:2], steps=steps))
            with self.assertRaises(TypeError):
                vae.sample(2.5)
            self.assertEqual(vae.sample(1).shape, (1, 6))
            self.assertEqual(vae.interpolate(X[:1], X[1:2], steps=3).shape, (3, 6))
        self.assertBack()

    def test_gan_sample(self):
        with make_gan() as gan:
            for n in self.HUGE + (-5,):
                self.assertRefusedCheaply(lambda: gan.sample(n))
            self.assertEqual(gan.sample(4).shape, (4, 3))
        self.assertBack()

    def test_rng(self):
        with gm.Rng(3) as rng:
            for n in self.HUGE + (-1,):
                self.assertRefusedCheaply(lambda: rng.uniform(n))
                self.assertRefusedCheaply(lambda: rng.normal(n))
            self.assertEqual(len(rng.normal(7)), 7)
        self.assertBack()


class TemporariesKeptAlive(Base):
    def test_pointer_keeps_a_temporary_alive(self):
        events = []
        t = gm.Tensor.from_data([[1.0, 2.0, 3.0]])
        weakref.finalize(t, events.append, "freed")
        p = t._p
        del t
        gc.collect()
        self.assertEqual(events, [])                     # p holds the tensor
        self.assertEqual(gm.lib.gm_tensor_numel(p), 3)   # reads live memory
        del p
        gc.collect()
        self.assertEqual(events, ["freed"])
        self.assertBack()

    def test_temporaries_straight_into_calls(self):
        """Temporaries passed straight into calls, with the collector run
        on every allocation (threshold 1) and a gc callback checking that
        no Tensor is freed while a call still uses it."""
        vae = make_vae()
        z = np.full((3, 2), 0.25, np.float32)
        want = vae.decode(z)
        old = gc.get_threshold()
        gc.set_threshold(1, 1, 1)
        try:
            for _ in range(50):
                np.testing.assert_array_equal(vae.decode(gm.Tensor.from_data(z)), want)
                self.assertEqual(gm.lib.gm_tensor_numel(gm.Tensor.from_data(z)._p), 6)
                self.assertEqual(gm.lib.gm_tensor_numel(gm.Tensor.wrap(z.copy())._p), 6)
                self.assertEqual(gm.Tensor.from_data(z).numel, 6)
                np.testing.assert_array_equal(
                    gm.Tensor.from_data(z).numpy(), z)
                self.assertTrue(np.all(np.isfinite(vae.sample(2))))
        finally:
            gc.set_threshold(*old)
        vae.close()
        self.assertBack()


if __name__ == "__main__":
    unittest.main()
