# SPDX-License-Identifier: MIT
"""Status codes become the right genmodel.Error subclass, with the message
of gm_last_error() naming the C function."""
import os
import tempfile
import unittest

from support import gm

S = gm.Status


class Mapping(unittest.TestCase):
    def test_every_status_has_a_class(self):
        for status in S:
            if status == S.OK:
                continue
            err = gm.errors.error_for(status, "msg", "gm_x")
            self.assertIsInstance(err, gm.Error)
            self.assertIsNot(type(err), gm.Error, status)
            self.assertEqual(err.status, status)
            self.assertEqual(err.function, "gm_x")
        self.assertIs(type(gm.errors.error_for(-42, "m")), gm.Error)
        self.assertEqual(gm.errors.error_for(-42, "m").status, -42)

    def test_builtin_bases(self):
        for cls, base in ((gm.InvalidArgument, ValueError), (gm.ShapeError, ValueError),
                          (gm.OutOfMemory, MemoryError), (gm.FileError, OSError),
                          (gm.FormatError, ValueError), (gm.StateError, RuntimeError),
                          (gm.NumericError, ArithmeticError), (gm.Unsupported, NotImplementedError),
                          (gm.InternalError, RuntimeError), (gm.VersionError, gm.Error)):
            self.assertTrue(issubclass(cls, base), cls)
            self.assertTrue(issubclass(cls, gm.Error), cls)

    def test_status_string(self):
        self.assertEqual(gm.status_string(S.EINVAL), gm.lib.gm_status_string(-1).decode())
        self.assertTrue(gm.status_string(12345))  # never NULL


class Raised(unittest.TestCase):
    def setUp(self):
        self.rng = gm.Rng(3)
        self.addCleanup(self.rng.close)

    def check(self, cls, function, call, *args, **kwargs):
        with self.assertRaises(cls) as cm:
            call(*args, **kwargs)
        err = cm.exception
        self.assertIs(type(err), cls)
        self.assertEqual(err.function, function)
        self.assertIn(function, str(err))
        self.assertEqual(str(err), gm.lib.gm_last_error().decode())
        return err

    def test_invalid_argument(self):
        err = self.check(gm.InvalidArgument, "gm_dense_create", gm.dense, 0, 4, rng=self.rng)
        self.assertIn("in_features", str(err))
        self.assertEqual(err.status, S.EINVAL)
        self.check(gm.InvalidArgument, "gm_dense_create", gm.dense, 3, 4, "he", None)
        self.check(gm.InvalidArgument, "gm_leaky_relu_create", gm.leaky_relu, 2.0)
        self.check(gm.InvalidArgument, "gm_set_num_threads", gm.set_num_threads, 0)
        self.check(gm.InvalidArgument, "gm_tensor_create", gm.Tensor, (2, 0))
        self.check(gm.InvalidArgument, "gm_optimizer_create", gm.Optimizer,
                   gm.Net([gm.dense(2, 2, rng=self.rng)]), "sgd", lr=-1.0)

    def test_shape_error(self):
        with gm.Net([gm.dense(3, 2, rng=self.rng)]) as net:
            x = gm.Tensor((4, 3))
            self.check(gm.ShapeError, "gm_net_forward", net.forward, x, out=gm.Tensor((4, 5)))
            self.check(gm.ShapeError, "gm_net_output_shape", net.forward, gm.Tensor((4, 7)))
            self.check(gm.ShapeError, "gm_tensor_reshape", x.reshape, 5, 2)
            self.check(gm.ShapeError, "gm_net_set_params", net.set_params, [1.0, 2.0])

    def test_out_of_memory(self):
        self.check(gm.OutOfMemory, "gm_tensor_create", gm.Tensor, (2 ** 31, 2 ** 31, 2 ** 31))

    def test_file_and_format_errors(self):
        self.check(gm.FileError, "gm_idx_load_images", gm.load_idx_images, "/nonexistent/x.gz")
        with tempfile.TemporaryDirectory() as d:
            junk = os.path.join(d, "junk.idx")
            with open(junk, "wb") as f:
                f.write(b"not an idx file at all")
            self.check(gm.FormatError, "gm_idx_load_images", gm.load_idx_images, junk)
            self.check(gm.FormatError, "gm_idx_load_labels", gm.load_idx_labels, junk)
            self.check(gm.FileError, "gm_png_write_grid", gm.write_png_grid,
                       os.path.join(d, "no", "dir.png"), gm.Tensor((1, 1, 2, 2)), 1, 1)

    def test_state_error(self):
        with gm.Net([gm.dense(3, 2, rng=self.rng)]) as net, gm.Tensor((1, 2)) as dy:
            self.check(gm.StateError, "gm_net_backward", net.backward, dy)
        with gm.Net() as empty, gm.Net([gm.dense(2, 3, rng=self.rng)]) as dec:
            self.check(gm.StateError, "gm_vae_create", gm.VAE, empty, dec, latent=2)
            self.assertTrue(empty.owned and dec.owned)  # the caller keeps them on failure

    def test_numeric_error(self):
        with gm.Net([gm.dense(1, 1, rng=self.rng)]) as net, gm.Optimizer(net) as opt:
            net.set_params([0.5, 0.0])
            net.forward([[3e38]])
            net.backward([[3e38]])  # the weight's gradient overflows to inf
            self.check(gm.NumericError, "gm_optimizer_step", opt.step)
            self.assertEqual(list(net.params()), [0.5, 0.0])  # unchanged
            self.check(gm.NumericError, "gm_net_clip_grad_norm", net.clip_grad_norm, 1.0)

    def test_unsupported(self):
        with gm.relu() as layer:
            self.check(gm.Unsupported, "gm_layer_spectral_norm", layer.spectral_norm, self.rng)
        enc = gm.Net([gm.dense(6, 4, rng=self.rng)])
        dec = gm.Net([gm.dense(4, 4, rng=self.rng)])
        with gm.VAE(enc, dec, latent=2, num_classes=2) as vae:
            x = gm.Tensor((1, 4))
            self.check(gm.Unsupported, "gm_vae_inpaint", vae.inpaint, x, x)


class PythonSide(unittest.TestCase):
    """Misuse the C library cannot detect is refused before the call."""

    def test_closed_handle(self):
        rng = gm.Rng(1)
        rng.close()
        rng.close()  # harmless
        with self.assertRaises(gm.StateError):
            rng.uniform(3)

    def test_layer_given_twice(self):
        with gm.Rng(1) as rng, gm.Net() as a, gm.Net() as b:
            layer = gm.dense(2, 2, rng=rng)
            a.add(layer)
            with self.assertRaises(gm.InvalidArgument) as cm:
                b.add(layer)
            self.assertIn("gm_net_add", str(cm.exception))
            self.assertEqual(len(b), 0)

    def test_net_given_to_two_models(self):
        with gm.Rng(1) as rng:
            enc = gm.Net([gm.dense(4, 4, rng=rng)])
            dec = gm.Net([gm.dense(2, 4, rng=rng)])
            dec2 = gm.Net([gm.dense(2, 4, rng=rng)])
        with gm.VAE(enc, dec, latent=2) as vae, dec2:
            with self.assertRaises(gm.InvalidArgument):
                gm.VAE(enc, dec2, latent=2)
            self.assertTrue(dec2.owned)
            self.assertEqual(vae.step_count, 0)

    def test_labels_length_checked(self):
        with gm.Tensor((3, 4)) as logits:
            with self.assertRaisesRegex(ValueError, "expected 3 labels, got 2"):
                gm.softmax_xent_loss(logits, [0, 1])

    def test_bad_option_name(self):
        with self.assertRaisesRegex(TypeError, "unknown optimizer option 'lrate'"):
            gm.optimizer_options("adam", lrate=0.1)
        with self.assertRaisesRegex(ValueError, "unknown OptimizerKind"):
            gm.optimizer_options("adagrad")


if __name__ == "__main__":
    unittest.main()
