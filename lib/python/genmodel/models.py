# SPDX-License-Identifier: MIT
"""VAEs and GANs: the gm_vae / gm_gan objects and their loss modules."""
import contextlib
import ctypes
import enum
import math
import operator
import os
from ctypes import POINTER, byref, c_float, c_size_t, pointer, sizeof

from . import _ffi
from ._core import (Handle, Tensor, borrowed_floats, check_count, labels_arg, new_floats,
                    output, ptr, result, tensor_arg)
from ._ffi import lib
from .nn import Net, enum_arg, options_arg, set_fields

VAEStats = _ffi.gm_vae_stats
GANStats = _ffi.gm_gan_stats
FitProgress = _ffi.gm_fit_progress


class Likelihood(enum.IntEnum):
    BERNOULLI = 0
    GAUSSIAN_FIXED = 1
    GAUSSIAN_LEARNED = 2


class GANLoss(enum.IntEnum):
    NONSATURATING = 0
    MINIMAX = 1
    LEAST_SQUARES = 2
    HINGE = 3
    WASSERSTEIN = 4


class GanPenalty(enum.IntEnum):
    """The GAN option penalty (gm_gan_penalty)."""
    NONE = 0
    R1 = 1
    GP = 2


class GanPart(enum.IntEnum):
    """The two nets of a GAN, for the data-parallel calls (gm_gan_part)."""
    DISCRIMINATOR = 0
    GENERATOR = 1


_FIT_FIELDS = {"epochs": 32, "batch": 8 * ctypes.sizeof(c_size_t), "every": 64,
               "shuffle_seed": 64}


def fit_options(**fields):
    """A gm_fit_options struct: gm_fit_options_init's defaults, then
    `fields` (epochs, batch, every, shuffle_seed). Negative or too large
    values raise ValueError here (ctypes would wrap them silently)."""
    opts = _ffi.gm_fit_options()
    lib.gm_fit_options_init(byref(opts))
    for name, value in fields.items():
        bits = _FIT_FIELDS.get(name)
        if bits is not None and not 0 <= operator.index(value) < 1 << bits:
            raise ValueError(f"fit option {name} = {value} is out of range [0, 2^{bits})")
    return set_fields(opts, fields, "fit option")


class _Model(Handle):
    """Shared by VAE and GAN: creation from two nets, sampling, fit and the
    data-parallel calls."""

    def _init(self, create, nets, opts):
        for net in nets:
            net._check_owned(create.__name__)
        out = POINTER(self._ctype)()
        create(byref(out), nets[0]._p, nets[1]._p, byref(opts))
        Handle.__init__(self, out)
        for net in nets:  # only on success: on failure the caller keeps them
            net._transfer(self)
        self.latent, self.num_classes = opts.latent, opts.num_classes

    @classmethod
    def _load(cls, path, loader, get_options, options):
        """A model from a checkpoint, with the attributes __init__ sets."""
        self = cls._create(loader, os.fsencode(path))
        get_options(self._p, byref(options))
        self.latent, self.num_classes = options.latent, options.num_classes
        return self

    def save(self, path):
        """Writes the whole model (nets, optimizers, generators, options,
        step count) to path atomically; loading it and training on gives
        the same parameters as never stopping. StateError while computed
        gradients await an apply."""
        self._save_fn(self._p, os.fsencode(path))

    def _net(self, getter):
        return Net._borrow(getter(self._p), self)

    def _sample_shape(self, net):
        """Per-sample output shape of `net` on latents (+ one-hot labels)."""
        return net.output_shape((1, self.latent + self.num_classes))[1:]

    def _from_latents(self, fn, z, labels, out, what):
        with contextlib.ExitStack() as s:
            tz = tensor_arg(s, z, what)
            n = tz.shape[0]
            to, arr = output(s, None if out is not None else (n,) + self.sample_shape, out, what)
            fn(self._p, tz._p, labels_arg(labels, n, what), to._p)
            return result(to, arr)

    def _sample(self, fn, n, labels, out, what):
        n = check_count(n, what, math.prod(self.sample_shape))  # before allocating
        with contextlib.ExitStack() as s:
            to, arr = output(s, None if out is not None else (n,) + self.sample_shape, out, what)
            fn(self._p, n, labels_arg(labels, n, what), to._p)
            return result(to, arr)

    def _fit(self, fn, cb_type, stats_type, what, data, labels, callback, fields):
        """gm_X_fit with a Python callback (progress, mean_stats) -> truthy
        to stop. The callback gets copies (valid after it returns). An
        exception raised in it does not unwind through C: the trampoline
        records it and returns 1 (stop), and it is re-raised here once the
        C call has returned."""
        if callback is not None and not callable(callback):
            raise TypeError(f"{what}: callback must be callable, got {type(callback).__name__}")
        opts = fit_options(**fields)
        raised = []

        def trampoline(user, progress, mean):
            if raised:  # cannot happen (1 stops the fit); never call again
                return 1
            try:
                p = FitProgress.from_buffer_copy(progress.contents)
                m = stats_type.from_buffer_copy(mean.contents)
                return 1 if callback(p, m) else 0
            except BaseException as e:  # noqa: B902 -- KeyboardInterrupt too
                raised.append(e)
                return 1

        c_callback = cb_type(trampoline) if callback is not None else cb_type()
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, data, what)
            lab = labels_arg(labels, tx.shape[0], what)
            s.enter_context(self._in_use(what))
            if isinstance(data, Tensor):
                s.enter_context(data._in_use(what))
            try:
                fn(self._p, tx._p, lab, byref(opts), c_callback, None)
            finally:
                del c_callback  # alive until here: the C call has returned
        if raised:
            err = raised[0]
            raised.clear()  # no reference cycle through the traceback
            raise err

    def _grads_view(self, fn, *args):
        """The model's gradient buffer, borrowed (see VAE.grads)."""
        p, n = POINTER(c_float)(), c_size_t()
        fn(self._p, *args, byref(p), byref(n))
        return borrowed_floats(p, n.value, self)

    @staticmethod
    def _options(struct, init, fields, enums):
        lib_fields = dict(fields)
        for name, cls in enums.items():
            if name in lib_fields:
                lib_fields[name] = enum_arg(cls, lib_fields[name])
        init(byref(struct))
        return set_fields(struct, lib_fields, "option")


# ---- VAE --------------------------------------------------------------------------------

class VAE(_Model):
    """A variational autoencoder from an encoder and a decoder Net.

    VAE(encoder, decoder, latent, likelihood=..., gaussian_logvar=...,
    beta=..., kl_warmup_steps=..., seed=..., num_classes=...,
    optimizer=None | gm_optimizer_options | dict(kind=..., lr=...)):
    options not given keep gm_vae_options_init's defaults. On success the
    VAE owns both nets (their Net objects become borrowed views); on failure
    (InvalidArgument, StateError, ShapeError) the caller keeps them.
    Methods take Tensors or float32 arrays (borrowed during the call),
    `labels` (N int32, conditional VAEs only), and return numpy arrays
    (Tensors without numpy) unless `out` is given.
    """
    _ctype, _free = _ffi.gm_vae, "gm_vae_free"
    _save_fn = staticmethod(lambda p, path: lib.gm_vae_save(p, path))

    def __init__(self, encoder, decoder, latent, *, optimizer=None, **options):
        opts = self._options(_ffi.gm_vae_options(), lib.gm_vae_options_init,
                             dict(options, latent=latent), {"likelihood": Likelihood})
        opt = options_arg(optimizer)
        if opt is not None:
            opts.optimizer = pointer(opt)  # copied by gm_vae_create
        self._init(lib.gm_vae_create, (encoder, decoder), opts)
        self._set_shapes(Likelihood(opts.likelihood))

    def _set_shapes(self, likelihood):
        self.likelihood = likelihood
        shape = self._sample_shape(self.decoder)
        if self.likelihood == Likelihood.GAUSSIAN_LEARNED:
            shape = (math.prod(shape) // 2,)
        self.sample_shape = shape

    @property
    def encoder(self):
        """The encoder Net, borrowed from the VAE."""
        return self._net(lib.gm_vae_encoder)

    @property
    def decoder(self):
        return self._net(lib.gm_vae_decoder)

    @property
    def step_count(self):
        return lib.gm_vae_step_count(self._p)

    def set_lr(self, lr):
        lib.gm_vae_set_lr(self._p, lr)

    @classmethod
    def load(cls, path):
        """A VAE from a checkpoint written by save (gm_vae_load)."""
        opts = _ffi.gm_vae_options()
        lib.gm_vae_options_init(byref(opts))
        self = cls._load(path, lib.gm_vae_load, lib.gm_vae_get_options, opts)
        self._set_shapes(Likelihood(opts.likelihood))
        return self

    def options(self):
        """The VAE's settings (a gm_vae_options copy; optimizer is NULL)."""
        opts = _ffi.gm_vae_options()
        lib.gm_vae_options_init(byref(opts))
        lib.gm_vae_get_options(self._p, byref(opts))
        return opts

    def _stats(self, fn, x, labels, what):
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, x, what)
            stats = VAEStats()
            fn(self._p, tx._p, labels_arg(labels, tx.shape[0], what), byref(stats))
            return stats

    def train_step(self, x, labels=None):
        """One update on the batch x; returns VAEStats (loss, recon, kl, beta).
        NumericError leaves the model unchanged."""
        return self._stats(lib.gm_vae_train_step, x, labels, "VAE.train_step")

    def fit(self, data, labels=None, epochs=1, batch=0, every=100, shuffle_seed=0,
            callback=None):
        """Trains for `epochs` shuffled passes over data [N x ...] (labels: N
        int32 for a conditional VAE): epochs * (N // batch) train steps, a
        last partial batch dropped (batch <= N; 0 means min(128, N)). callback(progress,
        mean) -- a FitProgress and the VAEStats averaged since the previous
        call -- runs when an epoch's step count is a multiple of `every` and
        after each epoch's last step; a truthy return stops training (fit
        then returns normally). The callback may read the VAE (sample,
        elbo, ...) but cannot close it (StateError). An exception raised
        by the callback stops training and is re-raised here; the model
        keeps the steps done before it. Errors of a step: as train_step
        (the steps done before stay applied)."""
        self._fit(lib.gm_vae_fit, _ffi.gm_vae_fit_callback, VAEStats, "VAE.fit", data, labels,
                  callback, dict(epochs=epochs, batch=batch, every=every,
                                 shuffle_seed=shuffle_seed))

    def compute_grads(self, x, labels=None, offset=0, total=None):
        """Data parallelism, step 1 of 3: forward and backward on a shard x
        (rows [offset, offset + N) of a batch of `total` rows; total=None:
        N, the whole batch) into the VAE's gradient buffer (grads()), which
        receives the shard's share N / total of the batch-mean gradient.
        Parameters do not change. Returns the shard's VAEStats. Replicas
        made from the same seeds draw the same noise for the batch, so the
        sum of their buffers is the gradient train_step would use."""
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, x, "VAE.compute_grads")
            n = tx.shape[0]
            stats = VAEStats()
            lib.gm_vae_compute_grads(self._p, tx._p, labels_arg(labels, n, "VAE.compute_grads"),
                                     offset, n if total is None else total, byref(stats))
            return stats

    def grads(self):
        """Step 2 of 3: the VAE's gradient buffer (the encoder's parameter
        gradients, then the decoder's), borrowed without a copy: a writable
        1-D numpy float32 array (a ctypes c_float array without numpy) over
        the library's memory. Sum the replicas' buffers into it in place
        (an all-reduce); the next apply_grads() reads exactly this memory.
        The view keeps the C object alive: after close() the VAE is
        unusable but its memory is freed only when the last view (or
        slice of it) is gone, so the view never reads freed memory."""
        return self._grads_view(lib.gm_vae_grads)

    def apply_grads(self):
        """Step 3 of 3: one optimizer update from the buffer; counts as a
        train step. StateError without a compute_grads since the last
        apply; NumericError (nothing changes) for a non-finite value."""
        lib.gm_vae_apply_grads(self._p)

    def elbo(self, x, labels=None):
        """VAEStats of x without an update (stats.loss: negative ELBO)."""
        return self._stats(lib.gm_vae_elbo, x, labels, "VAE.elbo")

    def iwae(self, x, k, labels=None):
        """Importance-weighted estimate of -log p(x), K samples, batch mean."""
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, x, "VAE.iwae")
            nll = c_float()
            lib.gm_vae_iwae(self._p, tx._p, labels_arg(labels, tx.shape[0], "VAE.iwae"), k,
                            byref(nll))
            return nll.value

    def encode(self, x, labels=None):
        """(mu, logvar), each [N x latent]."""
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, x, "VAE.encode")
            n = tx.shape[0]
            (tm, mu), (tl, lv) = output(s, (n, self.latent)), output(s, (n, self.latent))
            lib.gm_vae_encode(self._p, tx._p, labels_arg(labels, n, "VAE.encode"), tm._p, tl._p)
            return result(tm, mu), result(tl, lv)

    def decode(self, z, labels=None, out=None):
        """The data mean for latents z [N x latent]; shape (N,) + sample_shape."""
        return self._from_latents(lib.gm_vae_decode, z, labels, out, "VAE.decode")

    def sample(self, n, labels=None, out=None):
        """n samples from the prior (the VAE's own sampling generator)."""
        return self._sample(lib.gm_vae_sample, n, labels, out, "VAE.sample")

    def reconstruct(self, x, labels=None, out=None):
        """decode(mu(x)), in x's shape."""
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, x, "VAE.reconstruct")
            to, arr = output(s, None if out is not None else tx.shape, out)
            lib.gm_vae_reconstruct(self._p, tx._p,
                                   labels_arg(labels, tx.shape[0], "VAE.reconstruct"), to._p)
            return result(to, arr)

    def interpolate(self, xa, xb, steps=10, labels=None, out=None):
        """`steps` decodings between the latent means of xa and xb (one sample
        each); shape (steps,) + xa's per-sample shape. labels: 2 or None."""
        with contextlib.ExitStack() as s:
            ta, tb = tensor_arg(s, xa, "VAE.interpolate"), tensor_arg(s, xb, "VAE.interpolate")
            steps = check_count(steps, "VAE.interpolate", math.prod(ta.shape[1:]))
            shape = None if out is not None else (steps,) + ta.shape[1:]
            to, arr = output(s, shape, out)
            lib.gm_vae_interpolate(self._p, ta._p, tb._p,
                                   labels_arg(labels, 2, "VAE.interpolate"), to._p)
            return result(to, arr)

    def inpaint(self, x, mask, iterations=100, out=None):
        """x with its mask-0 pixels filled from the model, in x's shape.
        Unsupported for a conditional VAE."""
        with contextlib.ExitStack() as s:
            tx, tm = tensor_arg(s, x, "VAE.inpaint"), tensor_arg(s, mask, "VAE.inpaint")
            to, arr = output(s, None if out is not None else tx.shape, out)
            lib.gm_vae_inpaint(self._p, tx._p, tm._p, iterations, to._p)
            return result(to, arr)


# ---- the reparameterization / ELBO module -----------------------------------------------

def reparameterize(h, eps, out=None):
    """z = mu + exp(logvar / 2) eps for h [N x 2L], eps [N x L]."""
    with contextlib.ExitStack() as s:
        th, te = tensor_arg(s, h, "reparameterize"), tensor_arg(s, eps, "reparameterize")
        to, arr = output(s, None if out is not None else te.shape, out)
        lib.gm_vae_reparameterize(th._p, te._p, to._p)
        return result(to, arr)


def reparameterize_backward(h, eps, dz, dh):
    """Adds the gradient through reparameterize() to dh (a writable float32
    array or Tensor of h's shape, modified in place)."""
    with contextlib.ExitStack() as s:
        ts = [tensor_arg(s, t, "reparameterize_backward") for t in (h, eps, dz, dh)]
        lib.gm_vae_reparameterize_backward(*(t._p for t in ts))


def kl_divergence(h, dh=None, scale=1.0):
    """(batch mean, per-sample values) of KL(q(z|x) || N(0, I)) from h
    [N x 2L]; with dh, adds scale * d mean / d h to it in place."""
    with contextlib.ExitStack() as s:
        th, tdh = tensor_arg(s, h, "kl_divergence"), tensor_arg(s, dh, "kl_divergence")
        mean, (each, ce) = c_float(), new_floats(th.shape[0])
        lib.gm_vae_kl(th._p, byref(mean), ce, ptr(tdh), scale)
        return mean.value, each


def recon_nll(likelihood, out, x, gaussian_logvar=0.0, grad=False):
    """(batch mean, per-sample values, d mean / d out or None) of
    -log p(x | decoder output `out`)."""
    with contextlib.ExitStack() as s:
        to, tx = tensor_arg(s, out, "recon_nll"), tensor_arg(s, x, "recon_nll")
        tg, arr = output(s, to.shape) if grad else (None, None)
        mean, (each, ce) = c_float(), new_floats(to.shape[0])
        lib.gm_vae_recon_nll(enum_arg(Likelihood, likelihood), to._p, tx._p, gaussian_logvar,
                             byref(mean), ce, ptr(tg))
        return mean.value, each, (result(tg, arr) if grad else None)


def log_normal(z, h=None):
    """Per-sample log N(z; mu, exp(logvar)) (h [N x 2L]) or log N(z; 0, I)."""
    with contextlib.ExitStack() as s:
        tz, th = tensor_arg(s, z, "log_normal"), tensor_arg(s, h, "log_normal")
        each, ce = new_floats(tz.shape[0])
        lib.gm_vae_log_normal(tz._p, ptr(th), ce)
        return each


def logmeanexp(logw, grad=False):
    """(mean, per-row bounds, gradient or None) of log mean_k exp(logw[i, k])."""
    with contextlib.ExitStack() as s:
        tw = tensor_arg(s, logw, "logmeanexp")
        tg, arr = output(s, tw.shape) if grad else (None, None)
        mean, (each, ce) = c_float(), new_floats(tw.shape[0])
        lib.gm_vae_logmeanexp(tw._p, byref(mean), ce, ptr(tg))
        return mean.value, each, (result(tg, arr) if grad else None)


# ---- GAN ------------------------------------------------------------------------------------

class GAN(_Model):
    """A GAN from a generator and a discriminator Net.

    GAN(generator, discriminator, latent, loss=..., n_critic=...,
    real_label=..., weight_clip=..., seed=..., num_classes=...,
    ema_decay=..., penalty=..., penalty_weight=..., penalty_every=...,
    g_optimizer=..., d_optimizer=...): as VAE for options, ownership and
    errors. With ema_decay > 0, sample and generate use the moving average
    of G's weights (use_ema(False): G's own). penalty (GanPenalty or its
    name: "R1", "GP") adds a gradient penalty to every critic update
    (gm_gan_options in gan.h); stats.penalty reports it.
    """
    _ctype, _free = _ffi.gm_gan, "gm_gan_free"
    _save_fn = staticmethod(lambda p, path: lib.gm_gan_save(p, path))

    def __init__(self, generator, discriminator, latent, *, g_optimizer=None, d_optimizer=None,
                 **options):
        opts = self._options(_ffi.gm_gan_options(), lib.gm_gan_options_init,
                             dict(options, latent=latent),
                             {"loss": GANLoss, "penalty": GanPenalty})
        g_opt, d_opt = options_arg(g_optimizer), options_arg(d_optimizer)
        if g_opt is not None:
            opts.g_optimizer = pointer(g_opt)
        if d_opt is not None:
            opts.d_optimizer = pointer(d_opt)
        self._init(lib.gm_gan_create, (generator, discriminator), opts)
        self.sample_shape = self._sample_shape(self.generator)

    @property
    def generator(self):
        """The generator Net, borrowed from the GAN."""
        return self._net(lib.gm_gan_generator)

    @property
    def discriminator(self):
        return self._net(lib.gm_gan_discriminator)

    @property
    def step_count(self):
        return lib.gm_gan_step_count(self._p)

    def set_lr(self, part, lr):
        """Sets one part's learning rate (GanPart), e.g. after a NumericError."""
        lib.gm_gan_set_lr(self._p, enum_arg(GanPart, part), lr)

    @classmethod
    def load(cls, path):
        """A GAN from a checkpoint written by save (gm_gan_load)."""
        opts = _ffi.gm_gan_options()
        lib.gm_gan_options_init(byref(opts))
        self = cls._load(path, lib.gm_gan_load, lib.gm_gan_get_options, opts)
        self.sample_shape = self._sample_shape(self.generator)
        return self

    def options(self):
        """The GAN's settings (a gm_gan_options copy; optimizers are NULL)."""
        opts = _ffi.gm_gan_options()
        lib.gm_gan_options_init(byref(opts))
        lib.gm_gan_get_options(self._p, byref(opts))
        return opts

    def train_step(self, real, labels=None):
        """One alternating update; returns GANStats (d_loss, g_loss, d_real,
        d_fake, penalty). NumericError: see gm_gan_train_step."""
        with contextlib.ExitStack() as s:
            tr = tensor_arg(s, real, "GAN.train_step")
            stats = GANStats()
            lib.gm_gan_train_step_sized(self._p, tr._p,
                                        labels_arg(labels, tr.shape[0], "GAN.train_step"),
                                        byref(stats), sizeof(stats))
            return stats

    def fit(self, data, labels=None, epochs=1, batch=0, every=100, shuffle_seed=0,
            callback=None):
        """Trains for `epochs` shuffled passes over the real data with
        train_step; callback(progress, mean GANStats) and everything else as
        VAE.fit."""
        self._fit(lib.gm_gan_fit, _ffi.gm_gan_fit_callback, GANStats, "GAN.fit", data, labels,
                  callback, dict(epochs=epochs, batch=batch, every=every,
                                 shuffle_seed=shuffle_seed))

    def compute_grads(self, part, real, labels=None, offset=0, total=None):
        """Data parallelism: one phase's gradients (part: GanPart or its
        name) on a shard `real` (rows [offset, offset + N) of a batch of
        `total`; None: N) into the part's buffer (grads(part)); nothing else
        changes. A training step is, on every replica: n_critic times
        compute_grads / sum grads / apply_grads for DISCRIMINATOR, then the
        same once for GENERATOR. Returns GANStats with the phase's fields
        (d_loss and d_real, or g_loss and d_fake; the others 0)."""
        part = enum_arg(GanPart, part)
        with contextlib.ExitStack() as s:
            tr = tensor_arg(s, real, "GAN.compute_grads")
            n = tr.shape[0]
            stats = GANStats()
            lib.gm_gan_compute_grads_sized(self._p, part, tr._p,
                                           labels_arg(labels, n, "GAN.compute_grads"), offset,
                                           n if total is None else total, byref(stats),
                                           sizeof(stats))
            return stats

    def grads(self, part):
        """The part's gradient buffer, borrowed without a copy (a writable
        numpy float32 view, or a ctypes array without numpy) that keeps
        the C object alive past close(), and what the next
        apply_grads(part) reads. See VAE.grads."""
        return self._grads_view(lib.gm_gan_grads, enum_arg(GanPart, part))

    def apply_grads(self, part):
        """One optimizer update of the part from its buffer (then weight
        clipping of D, if set); a GENERATOR update completes a train step.
        StateError without a compute of that part; NumericError (nothing
        changes) for a non-finite value."""
        lib.gm_gan_apply_grads(self._p, enum_arg(GanPart, part))

    def use_ema(self, use=True):
        """Whether sample and generate run on the moving average of G's
        weights (True, the default with ema_decay > 0) or on G's own
        (False). StateError: True without ema_decay."""
        lib.gm_gan_use_ema(self._p, 1 if use else 0)

    def set_truncation(self, threshold):
        """The truncation trick: sample draws each latent from N(0, 1) cut
        to [-threshold, threshold] (higher precision, lower recall); 0, the
        default, draws plain N(0, 1). generate is not affected, checkpoints
        do not keep it. InvalidArgument (nothing changes) for a threshold
        not 0 and below 0.1 (GM_TRUNCATION_MIN), NaN or infinite."""
        lib.gm_gan_set_truncation(self._p, float(threshold))

    def ema_params(self):
        """The moving average of G's parameters (gm_net_get_params order),
        a new array. StateError without ema_decay."""
        n = self.generator.param_count
        each, ce = new_floats(n)
        lib.gm_gan_ema_params(self._p, ce, n)
        return each

    def sample(self, n, labels=None, out=None):
        """n samples (the GAN's own sampling generator), G in eval mode."""
        return self._sample(lib.gm_gan_sample, n, labels, out, "GAN.sample")

    def generate(self, z, labels=None, out=None):
        """G(z) for latents z [N x latent], in eval mode."""
        return self._from_latents(lib.gm_gan_generate, z, labels, out, "GAN.generate")


def gan_d_loss(family, real=None, fake=None, real_label=1.0, grad=False):
    """Discriminator loss: (loss, d loss/d real or None, d loss/d fake or None)."""
    with contextlib.ExitStack() as s:
        tr, tf = tensor_arg(s, real, "gan_d_loss"), tensor_arg(s, fake, "gan_d_loss")
        gr, ar = output(s, tr.shape) if grad and tr is not None else (None, None)
        gf, af = output(s, tf.shape) if grad and tf is not None else (None, None)
        loss = c_float()
        lib.gm_gan_d_loss(enum_arg(GANLoss, family), ptr(tr), ptr(tf), real_label, byref(loss),
                          ptr(gr), ptr(gf))
        return (loss.value, None if gr is None else result(gr, ar),
                None if gf is None else result(gf, af))


def gan_g_loss(family, fake, grad=False):
    """Generator loss: (loss, d loss/d fake or None)."""
    with contextlib.ExitStack() as s:
        tf = tensor_arg(s, fake, "gan_g_loss")
        gf, af = output(s, tf.shape) if grad else (None, None)
        loss = c_float()
        lib.gm_gan_g_loss(enum_arg(GANLoss, family), tf._p, byref(loss), ptr(gf))
        return loss.value, (result(gf, af) if grad else None)
