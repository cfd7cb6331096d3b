# SPDX-License-Identifier: MIT
"""Without numpy (sys.modules['numpy'] = None before the import): lists and
array.array work, results are Tensors / array.array."""
import unittest

from support import run_python

SCRIPT = """
import sys
sys.modules["numpy"] = None
import array, math
import genmodel as gm
assert gm._core.np is None
start = gm.live_allocations()

with gm.Rng(2) as rng:
    u = rng.uniform(5)
    assert isinstance(u, array.array) and u.typecode == "f" and len(u) == 5

    # lists in, Tensors out
    with gm.Net([gm.dense(2, 3, rng=rng), gm.tanh()]) as net:
        y = net.forward([[1.0, 2.0], [3.0, 4.0]])
        assert isinstance(y, gm.Tensor) and y.shape == (2, 3), y
        rows = y.tolist()
        assert len(rows) == 2 and len(rows[0]) == 3 and all(abs(v) < 1 for v in rows[0])
        y.close()
        p = net.params()
        assert isinstance(p, array.array) and len(p) == 9

    # array.array('f') is borrowed without a copy
    buf = array.array("f", [0.0] * 6)
    with gm.Tensor.wrap(buf, (2, 3)) as t:
        t.fill(1.5)
        assert buf.tolist() == [1.5] * 6
        buf[4] = 9.0
        assert t.to_array()[4] == 9.0
    try:
        gm.Tensor.wrap(array.array("d", [1.0]))
    except TypeError as e:
        assert "float32" in str(e), e
    else:
        raise AssertionError("array('d') accepted")

    # losses on lists, labels as a list and as array('i')
    loss, grad, correct = gm.softmax_xent_loss([[2.0, 0.0], [0.0, 2.0]], array.array("i", [0, 1]))
    assert correct == 2 and isinstance(grad, gm.Tensor), (loss, correct)
    grad.close()
    loss, _ = gm.mse_loss([1.0, 2.0], [1.0, 4.0], grad=False)
    assert loss == 2.0, loss

    # a VAE on lists
    enc = gm.Net([gm.dense(4, 8, rng=rng), gm.relu(), gm.dense(8, 4, rng=rng)])
    dec = gm.Net([gm.dense(2, 8, rng=rng), gm.relu(), gm.dense(8, 4, rng=rng)])
    with gm.VAE(enc, dec, latent=2, seed=1) as vae:
        x = [[0.0, 1.0, 0.5, 0.25]] * 8
        losses = [vae.train_step(x).loss for _ in range(5)]
        assert all(math.isfinite(v) for v in losses) and losses[0] != losses[-1], losses
        s = vae.sample(3)
        assert isinstance(s, gm.Tensor) and s.shape == (3, 4)
        s.close()

        # the gradient buffer is a ctypes array over the C memory
        vae.compute_grads(x[:3], offset=0, total=8)
        g = vae.grads()
        import ctypes
        assert isinstance(g, ctypes.Array) and g._type_ is ctypes.c_float, type(g)
        assert len(g) == enc.param_count + dec.param_count
        g[0] = 7.0
        assert vae.grads()[0] == 7.0
        mv = memoryview(g)
        assert mv.format == "<f" and not mv.readonly
        vae.apply_grads()

        # fit on lists, with a callback
        calls = []
        vae.fit(x, epochs=2, batch=4, callback=lambda p, m: calls.append(p.step))
        assert calls == [2, 4] and vae.step_count == 5 + 1 + 4, (calls, vae.step_count)

# data files come back as Tensors
images = gm.load_idx_images("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", 3)
assert isinstance(images, gm.Tensor) and images.shape == (3, 1, 28, 28)
try:
    images.numpy()
except ImportError:
    pass
else:
    raise AssertionError("numpy() without numpy")
images.close()
labels = gm.load_idx_labels("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", 3)
assert isinstance(labels, array.array) and len(labels) == 3

# the gradient view outlives the closed VAE: its C memory is freed with it
assert gm.live_allocations() > start
assert g[0] == g[0]  # still readable (the C object is alive), not freed memory
mv.release()
del g, mv
assert gm.live_allocations() == start, (gm.live_allocations(), start)
print("no-numpy OK")
"""


class NoNumpy(unittest.TestCase):
    def test_lists_and_array_array(self):
        r = run_python(SCRIPT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no-numpy OK", r.stdout)


if __name__ == "__main__":
    unittest.main()
