# SPDX-License-Identifier: MIT
"""What a PyTorch twin in bench/ref/ ran with, for its last line.

torch.set_num_threads sizes torch's OpenMP pool (elementwise work, and
oneDNN's convolutions); matrix products go to the BLAS Debian's torch is
linked with (BLAS_INFO=generic: libblas.so.3, i.e. OpenBLAS), whose
threads only OPENBLAS_NUM_THREADS (or, when that is unset, OMP_NUM_THREADS)
sets: torch.set_num_threads leaves them alone. So the twins report both
counts as they are inside the process, and the allocator in use.
"""
import ctypes
import gzip
import os
import resource
import struct

import numpy as np
import torch


def load_images_u8(path):
    """The images of an IDX file (gzip or plain) as a uint8 tensor
    [N x rows*cols], read straight into its buffer (no second copy)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        assert magic == 2051, path
        x = np.empty((n, rows * cols), dtype=np.uint8)
        view, got = memoryview(x).cast("B"), 0
        while got < x.size:
            r = f.readinto(view[got:])
            assert r, "%s is truncated" % path
            got += r
    return torch.from_numpy(x)


def blas_threads():
    """OpenBLAS's thread count in this process (-1 if there is none)."""
    try:
        return ctypes.CDLL("libopenblas.so.0").openblas_get_num_threads()
    except (OSError, AttributeError):
        return -1


def allocator():
    """jemalloc if it is mapped (LD_PRELOAD), glibc-tuned if glibc's mmap
    threshold was set from the environment, else glibc."""
    with open("/proc/self/maps") as f:
        if "libjemalloc" in f.read():
            return "jemalloc"
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return "glibc-tuned"
    return "glibc"


def peak_rss_mb():
    """The process's peak resident set size so far (getrusage), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def setting():
    """key=value pairs: torch_threads, blas_threads, malloc."""
    return "torch_threads=%d blas_threads=%d malloc=%s" % (
        torch.get_num_threads(), blas_threads(), allocator())
