# SPDX-License-Identifier: MIT
"""Layers, sequential nets, optimizers and losses."""
import contextlib
import os
import enum
from ctypes import POINTER, byref, c_float, c_size_t

from . import _ffi
from ._core import (Handle, _contiguous, _shape_array, labels_arg, new_floats, output, ptr,
                    result, tensor_arg)
from ._ffi import lib
from .errors import StateError


def enum_arg(cls, value):
    """An IntEnum member from a member, an int or a case-insensitive name."""
    if isinstance(value, str):
        try:
            return cls[value.upper()]
        except KeyError:
            raise ValueError(f"unknown {cls.__name__} {value!r}; one of "
                             f"{', '.join(m.name.lower() for m in cls)}") from None
    return cls(value)


class LayerKind(enum.IntEnum):
    DENSE = 1
    RELU = 2
    LEAKY_RELU = 3
    SIGMOID = 4
    TANH = 5
    SOFTPLUS = 6
    ELU = 7
    DROPOUT = 8
    RESHAPE = 9
    FLATTEN = 10
    CONV2D = 11
    CONV_TRANSPOSE2D = 12
    BATCHNORM = 13


class Init(enum.IntEnum):
    HE = 0
    XAVIER = 1
    TORCH = 2
    ZEROS = 3


class Reduction(enum.IntEnum):
    BATCH_MEAN = 0
    MEAN = 1
    SUM = 2


class OptimizerKind(enum.IntEnum):
    SGD = 0
    ADAM = 1
    ADAMW = 2


def _get_floats(fn, handle, n):
    buf, c = new_floats(n)
    fn(handle, c, n)
    return buf


def _set_floats(fn, handle, values, what):
    buf, _ = _contiguous(values, c_float, what)
    fn(handle, buf, len(buf))


# ---- layers ---------------------------------------------------------------------

class Layer(Handle):
    """A layer, owned by the caller until added to a Net; from then on it is
    borrowed from the net (valid while the net is, never freed by Python).
    Create layers with the functions of this module (dense(), relu(), ...)."""
    _ctype, _free = _ffi.gm_layer, "gm_layer_free"

    @property
    def kind(self):
        return LayerKind(lib.gm_layer_get_kind(self._p))

    @property
    def name(self):
        return lib.gm_layer_name(self._p).decode()

    @property
    def param_count(self):
        return lib.gm_layer_param_count(self._p)

    def params(self):
        """A copy of the parameters, flat (layout in layer.h)."""
        return _get_floats(lib.gm_layer_get_params, self._p, self.param_count)

    def set_params(self, values):
        """ShapeError if the count differs, InvalidArgument if not finite."""
        _set_floats(lib.gm_layer_set_params, self._p, values, "Layer.set_params")

    def grads(self):
        return _get_floats(lib.gm_layer_get_grads, self._p, self.param_count)

    def spectral_norm(self, rng, power_iterations=1, eps=1e-12):
        """Spectral normalization of a dense or conv layer, before it is added
        to a net (StateError after; Unsupported for other layers). Returns self."""
        lib.gm_layer_spectral_norm(self._p, power_iterations, eps, rng._p)
        return self

    @property
    def spectral_norm_iterations(self):
        return lib.gm_layer_spectral_norm_iterations(self._p)

    @property
    def spectral_sigma(self):
        return lib.gm_layer_spectral_sigma(self._p)

    def running_mean(self):
        """A copy of a batchnorm layer's running mean (Unsupported for
        other layers)."""
        return _get_floats(lib.gm_layer_get_running_mean, self._p,
                           lib.gm_layer_batchnorm_features(self._p))

    def running_var(self):
        """A copy of a batchnorm layer's running variance (Unsupported for
        other layers)."""
        return _get_floats(lib.gm_layer_get_running_var, self._p,
                           lib.gm_layer_batchnorm_features(self._p))

    def spectral_u(self):
        """A copy of the spectral norm's u, one value per output unit or
        channel (StateError if the layer is not spectrally normalized)."""
        return _get_floats(lib.gm_layer_get_spectral_u, self._p,
                           lib.gm_layer_spectral_u_count(self._p))

    def spectral_v(self):
        """A copy of the spectral norm's v (layer.h: the weight's layout
        without the output axis)."""
        return _get_floats(lib.gm_layer_get_spectral_v, self._p,
                           lib.gm_layer_spectral_v_count(self._p))

    def __repr__(self):
        return super().__repr__()[:-1] + ("" if self.closed else f" {self.name}") + ">"


def _layer(fn, *args):
    return Layer._create(fn, *args)


def _rng(rng):
    return None if rng is None else rng._p


def dense(in_features, out_features, init=Init.HE, rng=None):
    """y = x W^T + b. rng draws the weights (may be None only with ZEROS)."""
    return _layer(lib.gm_dense_create, in_features, out_features, enum_arg(Init, init), _rng(rng))


def relu():
    return _layer(lib.gm_relu_create)


def leaky_relu(alpha=0.01):
    return _layer(lib.gm_leaky_relu_create, alpha)


def sigmoid():
    return _layer(lib.gm_sigmoid_create)


def tanh():
    return _layer(lib.gm_tanh_create)


def softplus():
    return _layer(lib.gm_softplus_create)


def elu(alpha=1.0):
    return _layer(lib.gm_elu_create, alpha)


def dropout(p, seed=0):
    return _layer(lib.gm_dropout_create, p, seed)


def reshape(*shape):
    """Per-sample reshape, e.g. reshape(1, 28, 28); the batch dim is kept."""
    return _layer(lib.gm_reshape_create, *_shape_array(shape))


def flatten():
    return _layer(lib.gm_flatten_create)


def conv2d(in_channels, out_channels, kernel, stride=1, padding=0, init=Init.HE, rng=None):
    return _layer(lib.gm_conv2d_create, in_channels, out_channels, kernel, stride, padding,
                  enum_arg(Init, init), _rng(rng))


def conv_transpose2d(in_channels, out_channels, kernel, stride=1, padding=0, init=Init.HE,
                     rng=None):
    return _layer(lib.gm_conv_transpose2d_create, in_channels, out_channels, kernel, stride,
                  padding, enum_arg(Init, init), _rng(rng))


def batchnorm(features, momentum=0.1, eps=1e-5):
    return _layer(lib.gm_batchnorm_create, features, momentum, eps)


# ---- nets ---------------------------------------------------------------------------

class Net(Handle):
    """A sequential stack of layers; owns the layers added to it.

    Net(layers) creates a net and adds the layers (ownership moves to the
    net: the Layer objects stay usable as borrowed views). A net given to a
    VAE or GAN becomes borrowed from that model in the same way.
    """
    _ctype, _free = _ffi.gm_net, "gm_net_free"

    def __init__(self, layers=()):
        out = POINTER(_ffi.gm_net)()
        lib.gm_net_create(byref(out))
        super().__init__(out)
        self._in_shape = None
        for layer in layers:
            self.add(layer)

    @classmethod
    def _borrow(cls, ptr, owner):
        self = super()._borrow(ptr, owner)
        self._in_shape = None
        return self

    @classmethod
    def load(cls, path):
        """A new Net from a checkpoint written by save (gm_net_load):
        FormatError for a corrupt, truncated or foreign file, FileError if
        it cannot be read."""
        self = cls._create(lib.gm_net_load, os.fsencode(path))
        self._in_shape = None
        return self

    def save(self, path):
        """Writes the net (layers, parameters, layer state) to path,
        atomically (gm_net_save)."""
        lib.gm_net_save(self._p, os.fsencode(path))

    def add(self, layer):
        """Appends a layer the caller owns (InvalidArgument if it is already
        in a net). On failure the caller keeps it. Returns self."""
        layer._check_owned("gm_net_add")
        lib.gm_net_add(self._p, layer._p)
        layer._transfer(self)
        return self

    def __len__(self):
        return lib.gm_net_num_layers(self._p)

    def __getitem__(self, i):
        """The i-th layer, borrowed from the net."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"layer index {i} out of range for {n} layers")
        return Layer._borrow(lib.gm_net_layer(self._p, i % n), self)

    @property
    def layers(self):
        return [self[i] for i in range(len(self))]

    def output_shape(self, in_shape):
        """The output shape (batch first) for an input shape; ShapeError if a
        layer cannot take it."""
        nd, shape = c_size_t(), (c_size_t * _ffi.MAX_DIMS)()
        lib.gm_net_output_shape(self._p, *_shape_array(in_shape), byref(nd), shape)
        return tuple(shape[:nd.value])

    def forward(self, x, out=None):
        """y = net(x). x: Tensor or float32 array (borrowed for the call).
        Returns a new array (or Tensor without numpy), or `out` filled."""
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, x, "Net.forward")
            shape = None if out is not None else self.output_shape(tx.shape)
            ty, arr = output(s, shape, out)
            lib.gm_net_forward(self._p, tx._p, ty._p)
            self._in_shape = tx.shape
            return result(ty, arr)

    def backward(self, dy, dx=None):
        """Accumulates parameter gradients for the last forward. dx: None (no
        input gradient, returns None), True (returns a new one of the input's
        shape) or an array/Tensor to write it into. StateError without a
        forward."""
        with contextlib.ExitStack() as s:
            tdy = tensor_arg(s, dy, "Net.backward")
            tdx = arr = None
            if dx is True:
                if self._in_shape is None:
                    raise StateError("Net.backward: dx=True needs a forward() through this "
                                     "Net object first", function="gm_net_backward")
                tdx, arr = output(s, self._in_shape)
            elif dx is not None:
                tdx, arr = output(s, None, dx)
            lib.gm_net_backward(self._p, tdy._p, ptr(tdx))
            return None if dx is None else result(tdx, arr)

    def zero_grad(self):
        lib.gm_net_zero_grad(self._p)

    @property
    def training(self):
        """True in training mode (the default); assign to switch."""
        return bool(lib.gm_net_is_training(self._p))

    @training.setter
    def training(self, value):
        lib.gm_net_set_training(self._p, int(bool(value)))

    def set_trainable(self, i, trainable):
        lib.gm_net_set_trainable(self._p, i, int(bool(trainable)))

    @property
    def param_count(self):
        return lib.gm_net_param_count(self._p)

    def params(self):
        """All parameters, flat (a copy)."""
        return _get_floats(lib.gm_net_get_params, self._p, self.param_count)

    def set_params(self, values):
        _set_floats(lib.gm_net_set_params, self._p, values, "Net.set_params")

    def grads(self):
        return _get_floats(lib.gm_net_get_grads, self._p, self.param_count)

    def set_grads(self, values):
        _set_floats(lib.gm_net_set_grads, self._p, values, "Net.set_grads")

    def grad_norm(self):
        norm = c_float()
        lib.gm_net_grad_norm(self._p, byref(norm))
        return norm.value

    def clip_grad_norm(self, max_norm):
        """Clips the gradients' global norm; returns the norm before.
        NumericError if it is not finite."""
        norm = c_float()
        lib.gm_net_clip_grad_norm(self._p, max_norm, byref(norm))
        return norm.value

    def penalty_r1(self, real, gamma):
        """R1 penalty gamma/2 mean_i |grad_x D(real_i)|^2 (gm_net_penalty_r1):
        returns it and ADDS its parameter gradient to the net's gradients.
        The net's last forward becomes real's."""
        p = c_float()
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, real, "Net.penalty_r1")
            lib.gm_net_penalty_r1(self._p, tx._p, gamma, byref(p))
            self._in_shape = tx.shape
        return p.value

    def penalty_gp(self, real, fake, lam, rng):
        """WGAN-GP penalty lam mean_i (|grad D(x^_i)| - 1)^2 at interpolates
        of real and fake, one eps per row drawn from rng (gm_net_penalty_gp):
        returns it and ADDS its parameter gradient to the net's gradients."""
        p = c_float()
        with contextlib.ExitStack() as s:
            tx = tensor_arg(s, real, "Net.penalty_gp")
            tf = tensor_arg(s, fake, "Net.penalty_gp")
            lib.gm_net_penalty_gp(self._p, tx._p, tf._p, lam, rng._p, byref(p))
            self._in_shape = tx.shape
        return p.value


# ---- optimizers ---------------------------------------------------------------

def optimizer_options(kind=OptimizerKind.ADAM, **fields):
    """A gm_optimizer_options struct: the library's defaults for `kind`
    (gm_optimizer_options_init), then `fields` (lr, momentum, nesterov,
    beta1, beta2, eps, weight_decay, clip_norm)."""
    opts = _ffi.gm_optimizer_options()
    lib.gm_optimizer_options_init(byref(opts), enum_arg(OptimizerKind, kind))
    return set_fields(opts, fields, "optimizer option")


def set_fields(struct, fields, what):
    known = {name for name, _ in struct._fields_} - {"size"}
    for name, value in fields.items():
        if name not in known:
            raise TypeError(f"unknown {what} {name!r}; known: {', '.join(sorted(known))}")
        setattr(struct, name, value)
    return struct


def options_arg(value):
    """None, a gm_optimizer_options struct, or a dict (with optional 'kind')."""
    if value is None or isinstance(value, _ffi.gm_optimizer_options):
        return value
    fields = dict(value)
    return optimizer_options(fields.pop("kind", OptimizerKind.ADAM), **fields)


class Optimizer(Handle):
    """SGD / Adam / AdamW for one net: Optimizer(net, "adam", lr=1e-3).
    Keeps a reference to the net (not ownership); step() updates it."""
    _ctype, _free = _ffi.gm_optimizer, "gm_optimizer_free"

    def __init__(self, net, kind=OptimizerKind.ADAM, **fields):
        opts = optimizer_options(kind, **fields)
        out = POINTER(_ffi.gm_optimizer)()
        lib.gm_optimizer_create(byref(out), net._p, byref(opts))
        super().__init__(out)
        self.net = net

    def step(self):
        """One update from the accumulated gradients (not zeroed).
        NumericError for non-finite gradients (nothing changes)."""
        lib.gm_optimizer_step(self._p, self.net._p)

    @property
    def lr(self):
        return lib.gm_optimizer_get_lr(self._p)

    @lr.setter
    def lr(self, value):
        lib.gm_optimizer_set_lr(self._p, value)

    @property
    def step_count(self):
        return lib.gm_optimizer_step_count(self._p)

    def reset(self):
        lib.gm_optimizer_reset(self._p)


# ---- losses ---------------------------------------------------------------------

def _pair_loss(fn, what, pred, target, reduction, grad):
    with contextlib.ExitStack() as s:
        tp, tt = tensor_arg(s, pred, what), tensor_arg(s, target, what)
        tg, arr = output(s, tp.shape) if grad else (None, None)
        loss = c_float()
        fn(tp._p, tt._p, enum_arg(Reduction, reduction), byref(loss), ptr(tg))
        return loss.value, (result(tg, arr) if grad else None)


def mse_loss(pred, target, reduction=Reduction.MEAN, grad=True):
    """(loss, d loss / d pred or None)."""
    return _pair_loss(lib.gm_loss_mse, "mse_loss", pred, target, reduction, grad)


def bce_logits_loss(logits, target, reduction=Reduction.MEAN, grad=True):
    """Binary cross-entropy from logits: (loss, gradient or None)."""
    return _pair_loss(lib.gm_loss_bce_logits, "bce_logits_loss", logits, target, reduction, grad)


def softmax_xent_loss(logits, labels, reduction=Reduction.MEAN, grad=True):
    """Softmax cross-entropy of logits [N x C] and N int32 labels:
    (loss, gradient or None, number of correct rows)."""
    with contextlib.ExitStack() as s:
        tl = tensor_arg(s, logits, "softmax_xent_loss")
        n = tl.shape[0]
        tg, arr = output(s, tl.shape) if grad else (None, None)
        loss, correct = c_float(), c_size_t()
        lib.gm_loss_softmax_xent(tl._p, labels_arg(labels, n, "softmax_xent_loss"), n,
                                 enum_arg(Reduction, reduction), byref(loss), ptr(tg),
                                 byref(correct))
        return loss.value, (result(tg, arr) if grad else None), correct.value
