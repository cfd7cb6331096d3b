# SPDX-License-Identifier: MIT
"""libgenmodel for Python: VAEs and GANs on the CPU, through ctypes.

    import numpy as np
    import genmodel as gm

    with gm.Rng(1) as rng:
        encoder = gm.Net([gm.dense(784, 400, "torch", rng), gm.relu(),
                          gm.dense(400, 40, "torch", rng)])
        decoder = gm.Net([gm.dense(20, 400, "torch", rng), gm.relu(),
                          gm.dense(400, 784, "torch", rng)])
    with gm.VAE(encoder, decoder, latent=20, seed=1) as vae:   # owns both nets now
        x = np.random.rand(128, 784).astype(np.float32)
        stats = vae.train_step(x)          # x is borrowed, not copied
        print(stats.loss, stats.recon, stats.kl)
        gm.write_png_grid("samples.png", vae.sample(64).reshape(64, 1, 28, 28), 8, 8)

Conventions
  * Errors: every failing C call raises a subclass of genmodel.Error
    (InvalidArgument, ShapeError, OutOfMemory, FileError, FormatError,
    StateError, NumericError, VersionError, Unsupported, InternalError),
    also an instance of the matching built-in (ValueError, OSError, ...);
    str(e) is gm_last_error()'s message, which names the C function.
  * Ownership: every object owning a C handle is freed by close() or a
    `with` block (weakref.finalize as a fallback). Layers added to a Net and
    nets given to a VAE/GAN are owned by it from then on: their Python
    objects become borrowed views that keep the owner alive and turn
    unusable (StateError) once it is closed. Nothing is freed twice.
  * Arrays: inputs may be Tensors, float32 C-contiguous writable buffers
    (numpy arrays, array.array('f')) — borrowed without a copy for the
    duration of the call — or nested lists (copied). Arrays of another
    dtype, non-contiguous or read-only arrays raise TypeError/ValueError;
    nothing is converted silently. Results are new numpy arrays written by
    the library in place (Tensors when numpy is missing), or `out=`.
  * Threading: one object is used by one thread at a time (the C rule);
    the GIL is released during C calls.
  * Training loops: VAE.fit / GAN.fit run epochs over an in-memory data set
    with a Python progress callback (truthy return stops; an exception in
    it stops training and is re-raised by fit). Data parallelism:
    compute_grads on each replica's shard, sum the zero-copy grads() views
    in place (an all-reduce), then apply_grads.

The raw functions, with argtypes for every GM_API function, are in
genmodel.lib (see genmodel._ffi).
"""
from ._core import (MAX_OUTPUT_ELEMENTS, Handle, Rng, Tensor, get_num_threads, live_allocations,
                    set_num_threads, status_string, version, version_number)
from ._ffi import lib, path as library_path
from .errors import (Error, FileError, FormatError, InternalError, InvalidArgument,
                     LibraryNotFound, NumericError, OutOfMemory, ShapeError, StateError, Status,
                     Unsupported, VersionError)
from .io import (ImageFolder, load_idx_images, load_idx_labels, load_image_folder,
                 write_png_grid)
from .evaluation import (EvalReport, NearestStats, density_coverage, eval_features, eval_options,
                         evaluate_images, frechet_distance, nearest_neighbours, precision_recall)
from . import interp
from .models import (GAN, GANLoss, GANStats, VAE, VAEStats, FitProgress, GanPart, GanPenalty,
                     Likelihood,
                     fit_options, gan_d_loss, gan_g_loss, kl_divergence, log_normal, logmeanexp,
                     recon_nll, reparameterize, reparameterize_backward)
from .nn import (Init, Layer, LayerKind, Net, Optimizer, OptimizerKind, Reduction,
                 batchnorm, bce_logits_loss, conv2d, conv_transpose2d, dense, dropout, elu,
                 flatten, leaky_relu, mse_loss, optimizer_options, relu, reshape, sigmoid,
                 softmax_xent_loss, softplus, tanh)

del evaluation  # the submodule; its names are imported above
__version__ = version()

__all__ = [name for name in dir() if not name.startswith("_") and name not in
           ("errors", "io", "models", "nn")]
