# SPDX-License-Identifier: MIT
"""numpy arrays: float32 C-contiguous arrays are borrowed without a copy;
anything else is refused with a clear error, never converted or crashed on."""
import array
import ctypes
import gc
import unittest

from support import gm

try:
    import numpy as np
except ImportError:
    np = None


@unittest.skipIf(np is None, "numpy is not installed")  # the no-numpy path: test_nonumpy
class ZeroCopy(unittest.TestCase):
    def test_wrap_shares_memory(self):
        a = np.zeros((2, 3), np.float32)
        with gm.Tensor.wrap(a) as t:
            self.assertEqual(t.shape, (2, 3))
            data = gm.lib.gm_tensor_data(t._p)  # the tensor's storage is the array's
            self.assertEqual(ctypes.cast(data, ctypes.c_void_p).value, a.ctypes.data)
            a[1, 2] = 5.0                       # the array changes, the tensor sees it
            self.assertEqual(t.numpy()[1, 2], 5.0)
            t.fill(2.0)                          # the library writes, the array sees it
            self.assertTrue((a == 2.0).all())

    def test_wrap_keeps_array_alive(self):
        t = gm.Tensor.wrap(np.arange(6, dtype=np.float32).reshape(2, 3))
        gc.collect()
        self.assertEqual(t.numpy().tolist(), [[0, 1, 2], [3, 4, 5]])
        t.close()

    def test_results_written_in_place(self):
        with gm.Rng(5) as rng, gm.Net([gm.dense(3, 2, rng=rng)]) as net:
            x = np.ones((4, 3), np.float32)
            y = net.forward(x)
            self.assertIsInstance(y, np.ndarray)
            self.assertEqual((y.shape, y.dtype), ((4, 2), np.float32))
            out = np.full((4, 2), np.nan, np.float32)
            self.assertIs(net.forward(x, out=out), out)
            self.assertTrue(np.array_equal(out, y))
            u = rng.uniform(10)
            self.assertEqual((u.dtype, u.shape), (np.float32, (10,)))
            self.assertTrue(((u >= 0) & (u < 1)).all())

    def test_net_forward_uses_input_memory(self):
        with gm.Rng(5) as rng, gm.Net([gm.dense(2, 1, rng=rng)]) as net:
            net.set_params(np.array([1.0, 2.0, 0.5], np.float32))
            x = np.array([[1.0, 1.0]], np.float32)
            self.assertAlmostEqual(float(net.forward(x)[0, 0]), 3.5)
            x[0, 0] = 3.0
            self.assertAlmostEqual(float(net.forward(x)[0, 0]), 5.5)
            self.assertEqual(net.params().tolist(), [1.0, 2.0, 0.5])

    def test_array_array_with_numpy_present(self):
        buf = array.array("f", [1, 2, 3, 4])
        with gm.Tensor.wrap(buf, (2, 2)) as t:
            t.fill(7)
            self.assertEqual(buf.tolist(), [7, 7, 7, 7])
            with self.assertRaises(BufferError):  # exported: cannot be resized under the tensor
                buf.append(1.0)


@unittest.skipIf(np is None, "numpy is not installed")
class Refused(unittest.TestCase):
    def setUp(self):
        self.rng = gm.Rng(1)
        self.net = gm.Net([gm.dense(3, 2, rng=self.rng)])
        self.addCleanup(self.rng.close)
        self.addCleanup(self.net.close)
        self.start = gm.live_allocations()

    def tearDown(self):
        self.assertEqual(gm.live_allocations(), self.start)  # no temporary left behind

    def test_float64(self):
        x = np.zeros((4, 3))
        for call in (lambda: gm.Tensor.wrap(x), lambda: gm.Tensor.from_data(x),
                     lambda: self.net.forward(x), lambda: self.net.set_params(np.zeros(8))):
            with self.assertRaisesRegex(TypeError, "expected float32 data, got float64"):
                call()

    def test_other_dtypes(self):
        with self.assertRaisesRegex(TypeError, "got int64"):
            self.net.forward(np.zeros((4, 3), np.int64))
        with self.assertRaisesRegex(TypeError, "expected int32 data, got int64"):
            gm.softmax_xent_loss(np.zeros((2, 3), np.float32), np.zeros(2, np.int64))

    def test_non_contiguous(self):
        x = np.zeros((4, 6), np.float32)[:, ::2]
        with self.assertRaisesRegex(ValueError, "C-contiguous"):
            self.net.forward(x)
        with self.assertRaisesRegex(ValueError, "C-contiguous"):
            gm.Tensor.wrap(np.zeros((3, 4), np.float32).T)

    def test_read_only(self):
        x = np.zeros((4, 3), np.float32)
        x.flags.writeable = False
        with self.assertRaisesRegex(ValueError, "read-only"):
            self.net.forward(x)

    def test_wrong_shapes(self):
        with self.assertRaises(gm.ShapeError):
            self.net.forward(np.zeros((4, 5), np.float32))
        with self.assertRaises(gm.ShapeError):
            self.net.forward(np.zeros((4, 3), np.float32), out=np.zeros((4, 3), np.float32))
        with self.assertRaises(gm.InvalidArgument):  # rank 5
            gm.Tensor.wrap(np.zeros((1, 1, 1, 1, 3), np.float32))
        with self.assertRaises(gm.InvalidArgument):  # rank 0
            gm.Tensor.wrap(np.zeros((), np.float32))
        with self.assertRaisesRegex(ValueError, "does not hold 12 values"):
            gm.Tensor.wrap(np.zeros((4, 3), np.float32), shape=(5, 2))
        with self.assertRaises(gm.ShapeError):
            gm.mse_loss(np.zeros((2, 3), np.float32), np.zeros((3, 2), np.float32))

    def test_empty(self):
        with self.assertRaises(gm.InvalidArgument):
            self.net.forward(np.zeros((0, 3), np.float32))


if __name__ == "__main__":
    unittest.main()
