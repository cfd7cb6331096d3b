# SPDX-License-Identifier: MIT
"""Evaluation of generative models (eval.h): features through a net, the
Fréchet distance, k-NN precision/recall and density/coverage, the
nearest-training-image check and the one-call report of gm_eval_images.

Sets are float32 arrays or Tensors read as [N x D] (the first dimension
counts the vectors); they are borrowed for the call, never copied."""
import contextlib
import math
import operator
from ctypes import byref, c_double, sizeof

from . import _ffi
from ._core import output, ptr, result, tensor_arg
from ._ffi import lib
from .nn import set_fields

NearestStats = _ffi.gm_eval_nearest_stats
EvalReport = _ffi.gm_eval_report

_OPTION_FIELDS = ("k", "batch", "nearest_max", "iwae_k", "iwae_max")


def eval_options(**fields):
    """A gm_eval_options struct: gm_eval_options_init's defaults (k 3, batch 0
    = min(256, N), nearest_max 1000, iwae_k 50, iwae_max 1000), then
    `fields`. Negative values raise ValueError (ctypes would wrap them)."""
    opts = _ffi.gm_eval_options()
    lib.gm_eval_options_init(byref(opts))
    for name, value in fields.items():
        if name in _OPTION_FIELDS and operator.index(value) < 0:
            raise ValueError(f"eval option {name} = {value} must be >= 0")
    return set_fields(opts, fields, "eval option")


def eval_features(net, images, batch=0, out=None):
    """net(images) in batches, in evaluation mode (the net's mode is restored):
    a new [N x F] array (F = the net's output size per image), or `out`
    filled. Raises ShapeError if the images do not fit the net."""
    with contextlib.ExitStack() as s:
        t = tensor_arg(s, images, "eval_features")
        shape = None
        if out is None:
            b = batch or min(256, t.shape[0])
            per = net.output_shape((b,) + tuple(t.shape[1:]))[1:]
            shape = (t.shape[0], math.prod(per))
        fo, arr = output(s, shape, out, "eval_features")
        lib.gm_eval_features(net._p, t._p, batch, fo._p)
        return result(fo, arr)


def frechet_distance(a, b):
    """Fréchet distance between Gaussians fitted to two sets [Na x D] and
    [Nb x D] (the squared 2-Wasserstein distance, as FID reports it)."""
    with contextlib.ExitStack() as s:
        ta, tb = tensor_arg(s, a, "frechet_distance"), tensor_arg(s, b, "frechet_distance")
        d = c_double()
        lib.gm_eval_frechet(ta._p, tb._p, byref(d))
        return d.value


def precision_recall(real, fake, k=3):
    """(precision, recall) with k-nearest-neighbour manifolds
    (Kynkäänniemi et al., 2019); each set needs at least k + 1 vectors."""
    with contextlib.ExitStack() as s:
        tr = tensor_arg(s, real, "precision_recall")
        tf = tensor_arg(s, fake, "precision_recall")
        p, r = c_double(), c_double()
        lib.gm_eval_precision_recall(tr._p, tf._p, k, byref(p), byref(r))
        return p.value, r.value


def density_coverage(real, fake, k=3):
    """(density, coverage) of `fake` against `real` on the real vectors'
    k-NN balls (Naeem et al., 2020): density = the real balls each fake
    vector is in, summed and divided by k M (about 1 for fakes like the
    reals); coverage = the fraction of real balls holding a fake vector.
    `real` needs at least k + 1 vectors, `fake` at least 1."""
    with contextlib.ExitStack() as s:
        tr = tensor_arg(s, real, "density_coverage")
        tf = tensor_arg(s, fake, "density_coverage")
        d, c = c_double(), c_double()
        lib.gm_eval_density_coverage(tr._p, tf._p, k, byref(d), byref(c))
        return d.value, c.value


def nearest_neighbours(samples, train, distances=False):
    """Distances from each sample to its nearest training vector, summarized:
    a NearestStats (mean, min, q05, median, max); with distances=True,
    (stats, per-sample distances as a new float32 array)."""
    with contextlib.ExitStack() as s:
        ts = tensor_arg(s, samples, "nearest_neighbours")
        tt = tensor_arg(s, train, "nearest_neighbours")
        td, arr = output(s, (ts.shape[0],)) if distances else (None, None)
        stats = NearestStats()
        lib.gm_eval_nearest(ts._p, tt._p, byref(stats), ptr(td))
        return (stats, result(td, arr)) if distances else stats


def evaluate_images(features_net, samples, real, train=None, vae=None, options=None,
                    **fields):
    """gm_eval_images: an EvalReport (n_samples, n_real, feature_dim,
    frechet, precision, recall, n_nearest, nearest, iwae_nll, density,
    coverage) of sample
    images against real ones through `features_net`; the memorization check
    runs if `train` is given, the IWAE estimate if `vae` is. Options: a
    gm_eval_options struct, or keyword fields (k, batch, nearest_max,
    iwae_k, iwae_max)."""
    opts = options if options is not None else eval_options(**fields)
    report = EvalReport()
    report.size = sizeof(EvalReport)
    with contextlib.ExitStack() as s:
        ts = tensor_arg(s, samples, "evaluate_images")
        tr = tensor_arg(s, real, "evaluate_images")
        tt = tensor_arg(s, train, "evaluate_images")
        lib.gm_eval_images(byref(report), features_net._p, ts._p, tr._p, ptr(tt),
                           None if vae is None else vae._p, byref(opts))
    return report
