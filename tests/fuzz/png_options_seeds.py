# SPDX-License-Identifier: MIT
"""Writes the seeds of fuzz_png_options (tests/fuzz/corpus/png_options/):
valid PNG grids (gray, RGB), refused ones (NaN pixel, too wide, a
directory as path) and each options struct with its defaults (and a few
variations), laid out as fuzz_png_options.c reads them. The structs come
from the Python binding (genmodel._ffi), filled by the library's _init
functions, so their layout is the C one.

    GENMODEL_LIBRARY=build/libgenmodel.so PYTHONPATH=lib/python \\
        /usr/bin/python3 tests/fuzz/png_options_seeds.py tests/fuzz/corpus/png_options
"""
import ctypes
import os
import struct
import sys

from genmodel import _ffi
from genmodel._ffi import lib


def init(cls, fn, *args):
    s = cls()
    fn(ctypes.byref(s), *args)
    return s


def png(rows, cols, padding, n, ch, hw, flags, pad=0.0, pixels=None):
    c_idx = {1: 0, 3: 2, 2: 1}[ch]
    head = bytes([0, rows, cols, padding, n, c_idx, hw - 1, hw - 1, flags])
    body = pixels if pixels is not None else bytes((i * 37) % 200 for i in range(n * ch * hw * hw))
    return head + struct.pack("<f", pad) + body


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        "png_gray.bin": png(2, 2, 1, 3, 1, 4, 0x10 | 15),
        "png_rgb.bin": png(1, 2, 0, 2, 3, 4, 0x10),
        "png_nan.bin": png(1, 1, 0, 1, 1, 2, 0x10, pixels=bytes([0xff, 1, 2, 3])),
        "png_too_wide.bin": png(255, 255, 255, 1, 1, 16, 0x10),
        "png_dir.bin": png(1, 1, 0, 1, 1, 2, 0x90),
        "png_two_channels.bin": png(1, 1, 1, 1, 2, 2, 0x10),
    }
    vae = init(_ffi.gm_vae_options, lib.gm_vae_options_init)
    vae.latent = 2
    seeds["vae_default.bin"] = b"\x01" + bytes(vae) + b"\x00"
    sgd = init(_ffi.gm_optimizer_options, lib.gm_optimizer_options_init, 0)
    sgd.momentum, sgd.nesterov = 0.9, 1
    vae.num_classes, vae.likelihood, vae.beta = 2, 2, 0.5
    seeds["vae_cond_learned_sgd.bin"] = b"\x01" + bytes(vae) + b"\x01" + bytes(sgd)
    gan = init(_ffi.gm_gan_options, lib.gm_gan_options_init)
    gan.latent = 2
    seeds["gan_default.bin"] = b"\x02" + bytes(gan) + b"\x00\x00"
    gan.loss, gan.weight_clip, gan.n_critic, gan.num_classes = 4, 0.01, 3, 2
    adamw = init(_ffi.gm_optimizer_options, lib.gm_optimizer_options_init, 2)
    seeds["gan_wgan_cond.bin"] = (b"\x02" + bytes(gan) + b"\x01" + bytes(adamw) + b"\x01"
                                  + bytes(sgd))
    for kind in (0, 1, 2):
        o = init(_ffi.gm_optimizer_options, lib.gm_optimizer_options_init, kind)
        o.clip_norm = 1.0 if kind == 1 else 0.0
        seeds[f"optimizer_kind{kind}.bin"] = b"\x03" + bytes(o)
    fit = init(_ffi.gm_fit_options, lib.gm_fit_options_init)
    fit.epochs, fit.batch, fit.every = 2, 4, 1
    seeds["fit_callback.bin"] = b"\x04" + bytes(fit) + b"\x01"
    ev = init(_ffi.gm_eval_options, lib.gm_eval_options_init)
    ev.k, ev.batch = 2, 3
    seeds["eval_train.bin"] = b"\x05" + bytes(ev) + b"\x01"
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seeds)} seeds in {out}")


if __name__ == "__main__":
    main(sys.argv[1])
