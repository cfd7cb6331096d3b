# SPDX-License-Identifier: MIT
"""IDX data sets (MNIST format, plain or gzip), PNG sample grids and image
folders (PNG and JPEG files as one uint8 array)."""
import array
import collections
import contextlib
import ctypes
import os
from ctypes import byref, c_int32, c_size_t, c_uint8

from . import _ffi
from ._core import Handle, Tensor, np, tensor_arg
from ._ffi import lib
from .errors import InvalidArgument


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


class ImageSet(Handle):
    """The C image set behind load_image_folder's arrays (gm_image_set)."""
    _ctype = _ffi.gm_image_set
    _free = "gm_image_set_free"


ImageFolder = collections.namedtuple("ImageFolder", "images labels names classes skipped")
ImageFolder.__doc__ = """What load_image_folder returns.

images   uint8 [N, C, S, S], read-only, sharing the C set's memory (its
         .base keeps the set alive); without numpy a ctypes uint8 array of
         N*C*S*S bytes (same memory).
labels   int32 [N] (a copy), or None without labels=True.
names    the N file paths relative to the folder.
classes  the sub-folder names (label i is classes[i]); [] without labels.
skipped  number of bad files skipped (skip_bad=True)."""


def load_image_folder(path, side=64, channels=3, background=(255, 255, 255), labels=False,
                      skip_bad=False, max_pixels=None, threads=0, max_files=0,
                      progress=None):
    """Loads every PNG and JPEG file under folder `path` (gm_image_folder_load):
    each image composited on `background` (R, G, B) where it has alpha,
    converted to RGB (channels=3) or grey (1), centre-cropped to a square and
    area-averaged to side x side. Files are taken in sorted path order.
    labels=True: label = index of the file's top-level sub-folder. A bad
    file (not an image, corrupt, truncated, more than max_pixels pixels,
    unreadable) raises FormatError / FileError naming it, or with
    skip_bad=True is skipped and counted. threads: decoding threads (0 =
    the library's setting). progress(done, total): called on this thread;
    a truthy return cancels (StateError); an exception in it cancels and is
    re-raised. Returns an ImageFolder (images zero-copy).
    Raises InvalidArgument (bad options), FileError, FormatError, StateError."""
    what = "load_image_folder"
    if progress is not None and not callable(progress):
        raise TypeError(f"{what}: progress must be callable, got {type(progress).__name__}")
    try:
        r, g, b = (int(v) for v in background)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what}: background must be 3 integers (R, G, B), "
                              f"got {background!r}", function=what) from None
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise InvalidArgument(f"{what}: background values must be in [0, 255], "
                              f"got {background!r}", function=what)
    opts = _ffi.gm_image_folder_options()
    lib.gm_image_folder_options_init(byref(opts))
    for name, value in (("side", side), ("channels", channels), ("threads", threads),
                        ("max_files", max_files), ("max_pixels", max_pixels)):
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgument(f"{what}: {name} must be a non-negative int, got {value!r}",
                                  function=what)
        try:
            setattr(opts, name, value)
            ok = getattr(opts, name) == value
        except (TypeError, OverflowError):
            ok = False
        if not ok:
            raise InvalidArgument(f"{what}: {name} = {value!r} is out of range", function=what)
    opts.background = (r << 16) | (g << 8) | b
    opts.labels = 1 if labels else 0
    opts.skip_bad = 1 if skip_bad else 0
    raised = []

    def trampoline(user, done, total):
        if raised:
            return 1
        try:
            return 1 if progress(done, total) else 0
        except BaseException as e:  # noqa: B902 -- KeyboardInterrupt too
            raised.append(e)
            return 1

    c_progress = _ffi.gm_image_progress_fn(trampoline) if progress else \
        _ffi.gm_image_progress_fn()
    try:
        iset = ImageSet._create(lib.gm_image_folder_load, os.fsencode(path), byref(opts),
                                c_progress, None)
    except Exception:
        if raised:
            err = raised[0]
            raised.clear()
            raise err from None
        raise
    finally:
        del c_progress
    p = iset._p
    n, c, s = (lib.gm_image_set_count(p), lib.gm_image_set_channels(p),
               lib.gm_image_set_side(p))
    total = n * c * s * s
    buf = (c_uint8 * total).from_address(ctypes.addressof(lib.gm_image_set_data(p).contents))
    buf._owner = iset  # the memory is the set's: keep it alive as long as buf
    if np is not None:
        images = np.frombuffer(buf, dtype=np.uint8).reshape(n, c, s, s)
        images.flags.writeable = False
    else:
        images = buf
    lab = lib.gm_image_set_labels(p)
    if lab:
        if np is not None:
            labels_out = np.ctypeslib.as_array(lab, shape=(n,)).copy()
        else:
            labels_out = array.array("i", lab[:n])
    else:
        labels_out = None
    names = [os.fsdecode(lib.gm_image_set_name(p, i)) for i in range(n)]
    classes = [os.fsdecode(lib.gm_image_set_class_name(p, k))
               for k in range(lib.gm_image_set_num_classes(p))]
    return ImageFolder(images, labels_out, names, classes, lib.gm_image_set_skipped(p))
