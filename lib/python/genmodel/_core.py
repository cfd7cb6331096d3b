# SPDX-License-Identifier: MIT
"""Handles, buffers, tensors, the random generator and library-wide calls."""
import array
import contextlib
import ctypes
import functools
import inspect
import math
import operator
import threading
import weakref
from ctypes import byref, c_float, c_int32, c_size_t, c_uint64

from . import _ffi
from ._ffi import lib
from .errors import InvalidArgument, OutOfMemory, StateError

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None


# ---- library-wide ---------------------------------------------------------

def version():
    """The run-time library version string, e.g. "1.3.0"."""
    return lib.gm_version().decode()


def version_number():
    return lib.gm_version_number()


def live_allocations():
    """Blocks currently allocated by the library (for leak checks)."""
    return lib.gm_live_allocations()


def set_num_threads(n):
    """BLAS threads (1 .. 1024); process-wide: call while no other thread
    is inside the library. Raises InvalidArgument."""
    lib.gm_set_num_threads(n)


def get_num_threads():
    return lib.gm_get_num_threads()


def status_string(status):
    return lib.gm_status_string(int(status)).decode()


# ---- handles -----------------------------------------------------------------

class _Resource:
    """The C object of an owned handle, as a Python object: a
    weakref.finalize on it frees the C object once nothing refers to it.
    The handle refers to it until close(); each view of the object's memory
    (borrowed_floats) refers to it too, so that a close() with views alive
    only drops the handle's reference and the free happens when the last
    view is gone."""
    __slots__ = ("views", "__weakref__")

    def __init__(self):
        self.views = {}  # id -> weakref of each ctypes array lent out (unhashable)

    def add_view(self, buf):
        views, key = self.views, id(buf)
        views[key] = weakref.ref(buf, lambda _, k=key: views.pop(k, None))


def _locked(fn):
    """fn(self, ...) holding the handle's lock (see Handle)."""
    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        with self._lock:
            return fn(self, *args, **kwargs)
    call._gm_locked = True
    return call


# public dunders that call into the library
_LOCKED_DUNDERS = ("__len__", "__getitem__")


class Handle:
    """Base of every object owning (or borrowing) a C handle.

    An owned handle is freed by close(), by leaving a ``with`` block, or —
    as a fallback — when the object is garbage collected (weakref.finalize).
    A borrowed handle (a layer inside a net, a net inside a VAE or GAN)
    is never freed by its Python object; that object keeps its owner alive
    and becomes unusable (StateError) once the owner is closed. Using a
    closed handle raises StateError; close() twice is harmless.

    Views: a numpy array (or ctypes array) over the library's memory
    (VAE.grads, GAN.grads) keeps the C object alive: close() with such a
    view alive makes the handle unusable at once but defers the C free
    until the last view is gone, so that a view never reads or writes
    freed memory.

    Threads: each owned handle has a lock (a borrowed one uses its owner's):
    every public method and property holds it for the whole call, so
    threads sharing one object are serialized, not interleaved, and
    close() waits for a call running in another thread to return. A fit
    callback runs in the fitting thread, which holds the lock already
    (re-entrant). Calls that take several objects lock only the one whose
    method it is.
    """
    _ctype = None  # the opaque gm_X struct
    _free = None   # name of gm_X_free

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if name.startswith("_") and name not in _LOCKED_DUNDERS:
                continue
            if inspect.isfunction(value) and not getattr(value, "_gm_locked", False):
                setattr(cls, name, _locked(value))
            elif isinstance(value, property):
                setattr(cls, name, property(
                    value.fget and _locked(value.fget), value.fset and _locked(value.fset),
                    value.fdel, value.__doc__))

    def __init__(self, ptr, owner=None):
        self._ptr = ptr
        self._owner = owner
        self._children = weakref.WeakSet()
        self._own_lock = threading.RLock()
        if owner is None:
            self._res = _Resource()
            self._finalizer = weakref.finalize(self._res, getattr(lib, self._free), ptr)
        else:
            self._res = None
            self._finalizer = None
            owner._children.add(self)

    @property
    def _lock(self):
        """The lock of the object that owns the C handle (re-entrant)."""
        h = self
        while h._owner is not None:
            h = h._owner
        return h._own_lock

    def _anchor(self):
        """The _Resource a view of this object's memory must keep alive."""
        h = self
        while h._owner is not None:
            h = h._owner
        if h._res is None:
            raise StateError(f"{type(self).__name__} is closed")
        return h._res

    @classmethod
    def _create(cls, fn, *args):
        """New owned object from a gm_X_create(&out, args...) function."""
        self = cls.__new__(cls)
        out = ctypes.POINTER(cls._ctype)()
        fn(byref(out), *args)
        Handle.__init__(self, out)
        return self

    @classmethod
    def _borrow(cls, ptr, owner):
        if not ptr:
            raise StateError(f"{cls.__name__}: the C call returned NULL")
        self = cls.__new__(cls)
        Handle.__init__(self, ptr, owner)
        return self

    @property
    def _p(self):
        """The C pointer, as a new ctypes pointer that refers to this object:
        passed to a C call, it keeps the object (and so the C memory) alive
        until the call returns, even in `lib.gm_x(Tensor(...)._p)` where
        nothing else refers to the temporary."""
        p = self._ptr
        if p is None:
            raise StateError(f"{type(self).__name__} is closed")
        q = type(p).from_buffer_copy(p)
        q._gm_handle = self
        return q

    @property
    def closed(self):
        return self._ptr is None

    @property
    def owned(self):
        """True if this object frees its handle, False if it is borrowed."""
        return self._finalizer is not None

    def _transfer(self, new_owner):
        """Called after a C function took ownership of this handle."""
        self._finalizer.detach()
        self._finalizer = None
        self._res = None
        self._owner = new_owner
        new_owner._children.add(self)

    def _check_owned(self, what):
        """Raises unless this handle can be given away (to `what`)."""
        self._p
        if not self.owned:
            raise InvalidArgument(f"{type(self).__name__} is already owned by "
                                  f"{type(self._owner).__name__}; it cannot be given to {what}",
                                  function=what)

    def _invalidate(self):
        for child in list(self._children):
            child._invalidate()
        self._ptr = None
        self._owner = None

    @contextlib.contextmanager
    def _in_use(self, what):
        """Marks the handle as used by a running C call that calls back into
        Python (gm_vae_fit, ...): close() raises StateError until it ends,
        since the C side still holds the pointer."""
        self._p
        self._busy = getattr(self, "_busy", ()) + (what,)
        try:
            yield self
        finally:
            self._busy = self._busy[:-1]

    def close(self):
        """Frees the handle if owned (and invalidates borrowed children);
        for a borrowed handle, only drops it. Idempotent. StateError while
        a C call that calls back into Python uses it (inside a fit
        callback). Waits for a call of another thread on this object to
        return. With views of the object's memory alive (VAE.grads), the
        object is unusable at once but the C free happens when the last
        view is gone (live_allocations() counts it until then)."""
        with self._lock:
            if self._ptr is None:
                return
            busy = getattr(self, "_busy", ())
            if busy:
                raise StateError(f"{type(self).__name__} cannot be closed while {busy[-1]} "
                                 f"is using it (inside its callback)", function=busy[-1])
            fin, res = self._finalizer, self._res
            self._invalidate()
            self._res = None
            if fin is not None:
                self._finalizer = None
                if not res.views:
                    fin()
                # else: the views hold `res`; its finalizer frees the C object

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self.closed else ("owned" if self.owned else "borrowed")
        return f"<genmodel.{type(self).__name__} {state}>"


# ---- buffers ------------------------------------------------------------------

_FORMATS = {c_float: ("f", "<f", "=f"), c_int32: ("i", "<i", "=i", "l", "<l", "=l")}
_NAMES = {c_float: "float32", c_int32: "int32"}


def _buffer(obj, ctype, what):
    """A ctypes array sharing obj's memory and obj's shape, or None if obj
    does not support the buffer protocol. Arrays are never converted: a
    buffer must have ctype's element type (float32 / int32), be C-contiguous
    and writable, else TypeError / ValueError."""
    try:
        mv = memoryview(obj)
    except TypeError:
        return None
    with mv:
        dtype = getattr(obj, "dtype", None) or f"format {mv.format!r}"
        if mv.format not in _FORMATS[ctype] or mv.itemsize != 4:
            raise TypeError(f"{what}: expected {_NAMES[ctype]} data, got {dtype} "
                            f"(convert it, e.g. with .astype(numpy.{_NAMES[ctype]}))")
        if not mv.c_contiguous:
            raise ValueError(f"{what}: the array must be C-contiguous "
                             f"(use numpy.ascontiguousarray)")
        if mv.readonly:
            raise ValueError(f"{what}: the array is read-only; the library borrows "
                             f"its memory and needs it writable")
        shape, n = tuple(mv.shape), mv.nbytes // 4
    return (ctype * n).from_buffer(obj), shape


def _flatten(seq, ctype):
    """(flat array.array, shape) of nested Python sequences (copied)."""
    shape, level = [], seq
    while isinstance(level, (list, tuple)):
        shape.append(len(level))
        level = level[0] if level else None
    flat = seq
    for _ in shape[1:]:
        flat = [v for row in flat for v in row]
    if len(flat) != math.prod(shape):
        raise ValueError("nested sequences are ragged")
    return array.array("f" if ctype is c_float else "i", flat), tuple(shape)


def _contiguous(obj, ctype, what):
    """(ctypes array, shape, keep-alive) for a buffer or a nested list."""
    got = _buffer(obj, ctype, what)
    if got is None:
        if not isinstance(obj, (list, tuple)):
            raise TypeError(f"{what}: expected a Tensor, an array or a list, "
                            f"got {type(obj).__name__}")
        obj, shape = _flatten(obj, ctype)
        got = (ctype * len(obj)).from_buffer(obj), shape
    return got


# The largest output the binding allocates for a size argument, in
# elements: GM__BLAS_MAX (src/engine/engine.h), 2^31 - 1, the largest
# matrix the library's layers multiply; a batch whose output is larger
# cannot be computed, so it is refused before numpy allocates anything.
MAX_OUTPUT_ELEMENTS = (1 << 31) - 1


def check_count(n, what, per_item=1):
    """n as an int, after checking it is an integer in 0 ..
    MAX_OUTPUT_ELEMENTS // per_item (an output of n x per_item floats):
    TypeError for a non-integer, InvalidArgument (a ValueError) else."""
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{what}: the count must be an integer, got {type(n).__name__}") from None
    limit = MAX_OUTPUT_ELEMENTS // max(int(per_item), 1)
    if not 0 <= n <= limit:
        raise InvalidArgument(f"{what}: n = {n} is out of range [0, {limit}] (the output "
                              f"would hold n x {per_item} values; at most "
                              f"{MAX_OUTPUT_ELEMENTS})", function=what)
    return n


def _empty(shape, what):
    """np.empty(shape, float32) after the size check; OutOfMemory if numpy
    cannot allocate it."""
    n = math.prod(shape)
    check_count(n, what)
    try:
        return np.empty(shape, np.float32)
    except MemoryError:
        raise OutOfMemory(f"{what}: cannot allocate {n} floats", function=what) from None


def new_floats(n, what="new_floats"):
    """(result, ctypes array) for n float32 values: a numpy array if numpy
    is available, else an array.array('f'); both share the ctypes memory.
    n is checked (check_count) before anything is allocated."""
    n = check_count(n, what)
    buf = _empty((n,), what) if np is not None else array.array("f", bytes(4 * n))
    return buf, (c_float * n).from_buffer(buf)


def borrowed_floats(p, n, owner):
    """A zero-copy view of n floats at the C pointer p that the library
    lends out (memory of `owner`'s C object): a writable 1-D numpy float32
    array if numpy is available, else a ctypes array (c_float * n). The
    view keeps the C object alive: closing `owner` (or the object owning
    it) while the view lives makes the handle unusable but defers the C
    free until the view is gone (Handle.close)."""
    anchor = owner._anchor()
    addr = ctypes.cast(p, ctypes.c_void_p).value
    if not addr:
        if n:
            raise StateError("the library lent out a NULL buffer")
        buf = (c_float * 0)()
    else:
        buf = (c_float * n).from_address(addr)
    buf._owner = owner    # the numpy array's base is a memoryview of buf
    buf._anchor = anchor  # outlives owner.close(): see Handle.close
    anchor.add_view(buf)
    return buf if np is None else np.ctypeslib.as_array(buf)


def labels_arg(labels, n, what):
    """A POINTER(c_int32) argument for n labels, or None. Length-checked
    here, since the C function cannot check it."""
    if labels is None:
        return None
    buf, _ = _contiguous(labels, c_int32, what)
    if len(buf) != n:
        raise ValueError(f"{what}: expected {n} labels, got {len(buf)}")
    return buf


# ---- tensors ----------------------------------------------------------------------

def _shape_array(shape):
    shape = tuple(int(s) for s in shape)
    return len(shape), (c_size_t * max(len(shape), 1))(*shape)


class Tensor(Handle):
    """A float32 tensor of 1 to 4 dimensions, batch first.

    Tensor(shape) is zero-filled and owns its storage; Tensor.from_data()
    copies; Tensor.wrap() borrows a writable float32 C-contiguous buffer
    (numpy array, array.array('f'), ...) without a copy and keeps it alive.
    Errors: InvalidArgument (bad shape), OutOfMemory, TypeError/ValueError
    for a buffer of the wrong dtype/layout.
    """
    _ctype, _free = _ffi.gm_tensor, "gm_tensor_free"

    def __init__(self, shape):
        nd, dims = _shape_array(shape)
        out = ctypes.POINTER(_ffi.gm_tensor)()
        lib.gm_tensor_create(byref(out), nd, dims)
        super().__init__(out)

    @classmethod
    def wrap(cls, buffer, shape=None):
        """Borrows `buffer`'s memory (no copy): writes by the library land in
        it and changes to it are seen by the library. The tensor keeps the
        buffer alive. `shape` defaults to the buffer's own shape; if given,
        its element count must match."""
        data, own_shape = _contiguous(buffer, c_float, "Tensor.wrap")
        return cls._from(_ffi.lib.gm_tensor_wrap, data, own_shape if shape is None else shape)

    @classmethod
    def from_data(cls, data, shape=None):
        """A tensor owning a copy of `data` (same rules as wrap())."""
        buf, own_shape = _contiguous(data, c_float, "Tensor.from_data")
        return cls._from(_ffi.lib.gm_tensor_from_data, buf, own_shape if shape is None else shape)

    @classmethod
    def _from(cls, fn, data, shape):
        if math.prod(shape) != len(data):
            raise ValueError(f"shape {tuple(shape)} does not hold {len(data)} values")
        self = cls._create(fn, *_shape_array(shape), data)
        self._data = data if fn is lib.gm_tensor_wrap else None  # keeps the buffer alive
        return self

    @property
    def shape(self):
        nd, dims = c_size_t(), (c_size_t * _ffi.MAX_DIMS)()
        lib.gm_tensor_shape(self._p, byref(nd), dims)
        return tuple(dims[:nd.value])

    @property
    def ndim(self):
        return lib.gm_tensor_ndim(self._p)

    @property
    def numel(self):
        return lib.gm_tensor_numel(self._p)

    def __len__(self):
        return self.shape[0]

    def to_array(self):
        """A flat array.array('f') copy of the values."""
        buf = array.array("f", bytes(4 * self.numel))
        lib.gm_tensor_copy_out(self._p, (c_float * len(buf)).from_buffer(buf), len(buf))
        return buf

    def numpy(self):
        """A numpy copy in the tensor's shape (needs numpy)."""
        if np is None:
            raise ImportError("numpy is not available; use to_array() or tolist()")
        out = np.empty(self.shape, np.float32)
        lib.gm_tensor_copy_out(self._p, (c_float * out.size).from_buffer(out), out.size)
        return out

    def tolist(self):
        flat, shape = self.to_array().tolist(), self.shape
        for dim in reversed(shape[1:]):
            flat = [flat[i:i + dim] for i in range(0, len(flat), dim)]
        return flat

    def copy_in(self, data):
        """Copies data (numel float32 values, any shape) into the tensor.
        ShapeError if the count differs."""
        buf, _ = _contiguous(data, c_float, "Tensor.copy_in")
        lib.gm_tensor_copy_in(self._p, buf, len(buf))

    def fill(self, value):
        lib.gm_tensor_fill(self._p, value)

    def fill_normal(self, rng):
        lib.gm_tensor_fill_normal(self._p, rng._p)

    def fill_uniform(self, rng):
        lib.gm_tensor_fill_uniform(self._p, rng._p)

    def reshape(self, *shape):
        """In place, same element count (ShapeError otherwise); returns self."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        lib.gm_tensor_reshape(self._p, *_shape_array(shape))
        return self


def tensor_arg(stack, x, what):
    """A Tensor for x: x itself, or a temporary wrapping/copying it, freed
    when `stack` (a contextlib.ExitStack) closes."""
    if x is None or isinstance(x, Tensor):
        return x
    data, shape = _contiguous(x, c_float, what)
    return stack.enter_context(Tensor._from(lib.gm_tensor_wrap, data, shape))


def ptr(t):
    """The C pointer of a Tensor or None."""
    return None if t is None else t._p


def output(stack, shape, out=None, what="out"):
    """(tensor, result) for an output of `shape`. With out given (a Tensor
    or a writable float32 array; its shape is checked by the library),
    result is out. Else result is a new numpy array (or, without numpy, a
    new Tensor) that the library writes into directly."""
    if out is not None:
        return tensor_arg(stack, out, what), out
    check_count(math.prod(shape), what)
    if np is None:
        return Tensor(shape), None
    arr = _empty(shape, what)
    return stack.enter_context(Tensor.wrap(arr)), arr


def result(t, arr):
    return t if arr is None else arr


# ---- random generator --------------------------------------------------------------

class Rng(Handle):
    """The library's counter-based generator (Philox4x32-10), owned."""
    _ctype, _free = _ffi.gm_rng, "gm_rng_free"

    def __init__(self, seed=0):
        out = ctypes.POINTER(_ffi.gm_rng)()
        lib.gm_rng_create(byref(out), seed)
        super().__init__(out)

    def seed(self, seed):
        lib.gm_rng_seed(self._p, seed)

    def uniform(self, n):
        """n floats uniform in [0, 1) (numpy array or array.array('f'))."""
        buf, c = new_floats(n, "Rng.uniform")
        lib.gm_rng_uniform(self._p, c, len(c))
        return buf

    def normal(self, n):
        """n standard normal floats."""
        buf, c = new_floats(n, "Rng.normal")
        lib.gm_rng_normal(self._p, c, len(c))
        return buf

    def truncated_normal(self, n, threshold):
        """n standard normal floats cut to [-threshold, threshold]: the
        normal stream's values within it, in order (0: normal itself).
        InvalidArgument for a threshold not 0 and below 0.1, NaN or inf."""
        buf, c = new_floats(n, "Rng.truncated_normal")
        lib.gm_rng_truncated_normal(self._p, c, len(c), float(threshold))
        return buf

    @property
    def state(self):
        """(seed, position); assign a pair to move the generator."""
        seed, pos = c_uint64(), c_uint64()
        lib.gm_rng_get_state(self._p, byref(seed), byref(pos))
        return seed.value, pos.value

    @state.setter
    def state(self, value):
        lib.gm_rng_set_state(self._p, *value)
