# SPDX-License-Identifier: MIT
"""Looking inside a model (interp.h): which latent dimensions a VAE uses
(per-dimension KL, active units), latent traversals of VAEs and GANs, the
shapes data set whose true factors are known, and the Mutual Information
Gap (MIG) disentanglement score.

None of these trains a model or draws from its generators. Image and latent
inputs follow the binding's rule (float32 / int32 buffers are borrowed,
never converted); short vectors of doubles or indices (kl, dims, ...) are
copied from any sequence. Results are new numpy arrays (float64 for
statistics, int32 factors, uint64 indices); numpy is needed for them."""
import contextlib
from ctypes import byref, c_char, c_double, c_float, c_int32, c_size_t, c_uint64

from ._core import _contiguous, np, output, result, tensor_arg
from ._ffi import lib
from .errors import InvalidArgument

ACTIVE_THRESHOLD = 0.01
SHAPES_FACTORS = 5
SHAPES_FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")


def _np(what):
    if np is None:
        raise ImportError(f"{what} needs numpy")
    return np


def _doubles(values, what):
    """A ctypes double array copied from a sequence of numbers."""
    vals = [float(v) for v in values]
    return (c_double * max(len(vals), 1))(*vals), len(vals)


def _indices(values, ctype, what):
    vals = [int(v) for v in values]
    if any(v < 0 for v in vals):
        raise InvalidArgument(f"{what}: indices must be >= 0, got {min(vals)}", function=what)
    return (ctype * max(len(vals), 1))(*vals), len(vals)


def _label(label):
    return None if label is None else byref(c_int32(int(label)))


# ---- which dimensions a VAE uses --------------------------------------------------

def vae_dims(vae, data, labels=None, batch=256, threshold=ACTIVE_THRESHOLD):
    """(kl, activity, active): per latent dimension the mean KL to the prior
    (nats) and Var_x E[z_j | x] over `data`, as float64 arrays [latent], and
    the number of dimensions with activity > threshold (Burda et al.)."""
    n_ = _np("vae_dims")
    from ._core import labels_arg
    with contextlib.ExitStack() as s:
        t = tensor_arg(s, data, "vae_dims")
        L = vae.latent
        kl, act = n_.empty(L), n_.empty(L)
        active = c_size_t()
        lib.gm_interp_vae_dims(vae._p, t._p, labels_arg(labels, t.shape[0], "vae_dims"), batch,
                               threshold, kl.ctypes.data_as(lib.gm_interp_vae_dims.argtypes[5]),
                               act.ctypes.data_as(lib.gm_interp_vae_dims.argtypes[6]), L,
                               byref(active))
        return kl, act, active.value


def order_desc(values):
    """Indices of values, largest first (ties: smaller index first)."""
    n_ = _np("order_desc")
    buf, n = _doubles(values, "order_desc")
    order = (c_size_t * max(n, 1))()
    lib.gm_interp_order_desc(buf, n, order)
    return n_.array(order[:n], dtype=n_.intp)


def format_table(kl, activity, threshold=ACTIVE_THRESHOLD):
    """The per-dimension table as text (dimensions by KL, largest first)."""
    k, n = _doubles(kl, "format_table")
    a, m = _doubles(activity, "format_table")
    if m != n:
        raise ValueError(f"format_table: {n} KL values but {m} activities")
    need = c_size_t()
    lib.gm_interp_format_table(k, a, n, threshold, None, 0, byref(need))
    buf = (c_char * (need.value + 1))()
    lib.gm_interp_format_table(k, a, n, threshold, buf, need.value + 1, None)
    return buf.value.decode()


def bar_chart_png(path, values, mark_values=None, mark=0.0, bar_width=8, height=80):
    """Writes a bar chart of values (>= 0) as a PNG; bars whose mark_values
    entry is not above `mark` are drawn grey."""
    v, n = _doubles(values, "bar_chart_png")
    mv = None
    if mark_values is not None:
        mv, m = _doubles(mark_values, "bar_chart_png")
        if m != n:
            raise ValueError(f"bar_chart_png: {n} values but {m} mark values")
    lib.gm_interp_bar_chart_png(str(path).encode(), v, n, mv, mark, bar_width, height)


# ---- traversals ------------------------------------------------------------------

def vae_traverse(vae, x=None, z0=None, dims=None, label=None, span=2.0, steps=9, out=None):
    """Decodings of z0 (or the encoder's mean for the one sample x) with one
    dimension at a time moved over [-span, span] in `steps` steps: shape
    (len(dims) * steps,) + the sample shape; row r of a grid is dims[r]
    (default: every dimension in index order)."""
    if dims is None:
        dims = range(vae.latent)
    d, nd = _indices(dims, c_size_t, "vae_traverse")
    with contextlib.ExitStack() as s:
        tx = tensor_arg(s, x, "vae_traverse")
        zp = None
        if z0 is not None:
            zp, _ = _contiguous(z0, c_float, "vae_traverse")
            if len(zp) != vae.latent:
                raise ValueError(f"vae_traverse: z0 must hold {vae.latent} values, got {len(zp)}")
        to, arr = output(s, None if out is not None else (nd * steps,) + vae.sample_shape, out)
        lib.gm_interp_vae_traverse(vae._p, None if tx is None else tx._p, zp, _label(label), d,
                                   nd, span, steps, to._p)
        return result(to, arr)


def gan_traverse(gan, z0, dims=None, label=None, span=2.0, steps=9, out=None):
    """As vae_traverse, for a GAN's generator around z0 (latent floats)."""
    if dims is None:
        dims = range(gan.latent)
    d, nd = _indices(dims, c_size_t, "gan_traverse")
    with contextlib.ExitStack() as s:
        zp, _ = _contiguous(z0, c_float, "gan_traverse")
        if len(zp) != gan.latent:
            raise ValueError(f"gan_traverse: z0 must hold {gan.latent} values, got {len(zp)}")
        to, arr = output(s, None if out is not None else (nd * steps,) + gan.sample_shape, out)
        lib.gm_interp_gan_traverse(gan._p, zp, _label(label), d, nd, span, steps, to._p)
        return result(to, arr)


def gan_effect(gan, z, labels=None, span=2.0, steps=9):
    """Per latent dimension, the output variance a traversal of it causes,
    averaged over the base latents z [N x latent] (float64 [latent])."""
    n_ = _np("gan_effect")
    from ._core import labels_arg
    with contextlib.ExitStack() as s:
        tz = tensor_arg(s, z, "gan_effect")
        eff = n_.empty(gan.latent)
        lib.gm_interp_gan_effect(gan._p, tz._p, labels_arg(labels, tz.shape[0], "gan_effect"),
                                 span, steps,
                                 eff.ctypes.data_as(lib.gm_interp_gan_effect.argtypes[5]),
                                 gan.latent)
        return eff


def _classes(fn, model, z0, out, what):
    with contextlib.ExitStack() as s:
        zp, _ = _contiguous(z0, c_float, what)
        if len(zp) != model.latent:
            raise ValueError(f"{what}: z0 must hold {model.latent} values, got {len(zp)}")
        to, arr = output(s, None if out is not None else
                         (max(model.num_classes, 1),) + model.sample_shape, out)
        fn(model._p, zp, to._p)
        return result(to, arr)


def vae_classes(vae, z0, out=None):
    """decode(z0, class c) for every class c of a conditional VAE."""
    return _classes(lib.gm_interp_vae_classes, vae, z0, out, "vae_classes")


def gan_classes(gan, z0, out=None):
    """G(z0, class c) for every class c of a conditional GAN."""
    return _classes(lib.gm_interp_gan_classes, gan, z0, out, "gan_classes")


# ---- the shapes data set -----------------------------------------------------------

def shapes_factor_sizes(side=32):
    """(sizes, count): the number of values of shape, scale, rotation, x, y,
    and of combinations, for images of side 32 or 64."""
    sizes = (c_size_t * SHAPES_FACTORS)()
    count = c_uint64()
    lib.gm_shapes_factor_sizes(side, sizes, byref(count))
    return tuple(sizes), count.value


def shapes_index_to_factors(index, side=32):
    """int32 factor rows [n x 5] of combination indices."""
    n_ = _np("shapes_index_to_factors")
    idx = n_.ascontiguousarray(index, dtype=n_.uint64).reshape(-1)
    f = n_.empty((len(idx), SHAPES_FACTORS), n_.int32)
    lib.gm_shapes_index_to_factors(side, idx.ctypes.data_as(
        lib.gm_shapes_index_to_factors.argtypes[1]), len(idx),
        f.ctypes.data_as(lib.gm_shapes_index_to_factors.argtypes[3]))
    return f


def shapes_factors_to_index(factors, side=32):
    """uint64 combination indices of int32 factor rows [n x 5]."""
    n_ = _np("shapes_factors_to_index")
    buf, shape = _contiguous(factors, c_int32, "shapes_factors_to_index")
    if len(buf) % SHAPES_FACTORS:
        raise ValueError(f"shapes_factors_to_index: factors must be [n x 5], got {shape}")
    n = len(buf) // SHAPES_FACTORS
    idx = n_.empty(n, n_.uint64)
    lib.gm_shapes_factors_to_index(side, buf, n, idx.ctypes.data_as(
        lib.gm_shapes_factors_to_index.argtypes[3]))
    return idx


def shapes_sample(n, seed=0, side=32):
    """(factors int32 [n x 5], index uint64 [n]): n distinct combinations,
    a seeded random subset in random order."""
    n_ = _np("shapes_sample")
    f = n_.empty((int(n), SHAPES_FACTORS), n_.int32)
    idx = n_.empty(int(n), n_.uint64)
    lib.gm_shapes_sample(side, seed, n, f.ctypes.data_as(lib.gm_shapes_sample.argtypes[3]),
                         idx.ctypes.data_as(lib.gm_shapes_sample.argtypes[4]))
    return f, idx


def shapes_render(factors, side=32, out=None):
    """The binary images [n x 1 x side x side] (float32 0/1) of factor rows."""
    with contextlib.ExitStack() as s:
        buf, shape = _contiguous(factors, c_int32, "shapes_render")
        if len(buf) % SHAPES_FACTORS:
            raise ValueError(f"shapes_render: factors must be [n x 5], got {shape}")
        n = len(buf) // SHAPES_FACTORS
        to, arr = output(s, None if out is not None else (n, 1, side, side), out)
        lib.gm_shapes_render(side, buf, n, to._p)
        return result(to, arr)


# ---- MIG -------------------------------------------------------------------------

def mig(latents, factors, bins=20):
    """(mig, gaps, mi): the Mutual Information Gap of latent codes [N x L]
    (float32, e.g. posterior means) against discrete factors [N x K]
    (int32), with `bins` equal-width bins per latent dimension; gaps
    float64 [K] per factor, mi float64 [K x L] in nats."""
    n_ = _np("mig")
    zl, zshape = _contiguous(latents, c_float, "mig")
    fb, fshape = _contiguous(factors, c_int32, "mig")
    if len(zshape) != 2 or len(fshape) != 2 or zshape[0] != fshape[0]:
        raise ValueError(f"mig: latents [N x L] and factors [N x K] expected, got {zshape} "
                         f"and {fshape}")
    (n, L), K = zshape, fshape[1]
    score = c_double()
    gaps, mi = n_.empty(K), n_.empty((K, L))
    lib.gm_interp_mig(zl, n, L, fb, K, bins, byref(score),
                      gaps.ctypes.data_as(lib.gm_interp_mig.argtypes[7]),
                      mi.ctypes.data_as(lib.gm_interp_mig.argtypes[8]))
    return score.value, gaps, mi


__all__ = ["ACTIVE_THRESHOLD", "SHAPES_FACTORS", "SHAPES_FACTOR_NAMES", "vae_dims", "order_desc",
           "format_table", "bar_chart_png", "vae_traverse", "gan_traverse", "gan_effect",
           "vae_classes", "gan_classes", "shapes_factor_sizes", "shapes_index_to_factors",
           "shapes_factors_to_index", "shapes_sample", "shapes_render", "mig"]
