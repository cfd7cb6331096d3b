"""IDX data sets (MNIST format, plain or gzip) and PNG sample grids."""
import array
import contextlib
import os
from ctypes import byref, c_int32, c_size_t

from ._core import Tensor, np, tensor_arg
from ._ffi import lib


def load_idx_images(path, max_items=0):
    """Images of an IDX file as [N x 1 x H x W] float32 values in [0, 1]
    (at most max_items; 0 = all): a numpy array (the C tensor is copied and
    freed at once) or, without numpy, the owned Tensor.
    Raises FileError (cannot read), FormatError (not a valid IDX file)."""
    t = Tensor._create(lib.gm_idx_load_images, os.fsencode(path), max_items)
    if np is None:
        return t
    with t:
        return t.numpy()


def load_idx_labels(path, max_items=0):
    """Labels of an IDX file as int32 values: a numpy array or array('i')."""
    path, count = os.fsencode(path), c_size_t()
    lib.gm_idx_load_labels(path, max_items, None, 0, byref(count))
    n = count.value
    buf = np.empty(n, np.int32) if np is not None else array.array("i", bytes(4 * n))
    lib.gm_idx_load_labels(path, max_items, (c_int32 * n).from_buffer(buf), n, byref(count))
    return buf


def write_png_grid(path, images, rows, cols, padding=2, pad_value=1.0):
    """Writes images [N x C x H x W] (C = 1 or 3, values clamped to [0, 1])
    as one PNG grid of rows x cols cells, atomically (a temporary file
    renamed over path). Raises InvalidArgument, ShapeError, FileError."""
    with contextlib.ExitStack() as s:
        t = tensor_arg(s, images, "write_png_grid")
        lib.gm_png_write_grid(os.fsencode(path), t._p, rows, cols, padding, pad_value)
