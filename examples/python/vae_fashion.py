#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""vae_fashion.py: the reference VAE recipe on Fashion-MNIST, in Python.

    vae_fashion.py [--seed N] [--epochs N] [--data DIR] [--out DIR]
                   [--train-limit N] [--samples-out FILE]

A call-for-call mirror of examples/vae_fashion.c through the genmodel
binding: the same generator draws in the same order (weight init, the
Fisher-Yates shuffle from gm_rng_uniform), the same batches and the same
library calls, so with the same seed and BLAS thread count --samples-out
writes exactly the bytes the C program writes. Encoder 784-400 ReLU,
400-40 (mu, logvar); decoder 20-400 ReLU, 400-784 logits; Bernoulli
likelihood; Adam lr 1e-3; batch 128. Prints a line per epoch and a last
line of key=value pairs; writes samples.png, reconstructions.png,
interpolation.png and inpainting.png to --out. Needs numpy.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib",
                                "python"))
import genmodel as gm  # noqa: E402

D, H, L, B = 784, 400, 20, 128


def mlp(n_in, hidden, n_out, rng):
    return gm.Net([gm.dense(n_in, hidden, gm.Init.TORCH, rng), gm.relu(),
                   gm.dense(hidden, n_out, gm.Init.TORCH, rng)])


def pick(src, idx):
    """A new [n x 1 x 28 x 28] array holding images idx of src."""
    return np.ascontiguousarray(src[np.asarray(idx)]).reshape(len(idx), 1, 28, 28)


def test_nelbo(vae, test):
    """Mean negative ELBO over the test set, in batches of 1000."""
    n, bs = test.shape[0], 1000
    x = np.empty((bs, D), np.float32)
    total, seen = 0.0, 0
    for s in range(0, n - bs + 1, bs):
        x[:] = test[s:s + bs].reshape(bs, D)
        total += vae.elbo(x).loss * float(bs)
        seen += bs
    return total / seen


def write_png(out, name, grid, rows, cols):
    path = f"{out}/{name}"
    gm.write_png_grid(path, grid, rows, cols, 2, 1.0)
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description="VAE on Fashion-MNIST (mirror of vae_fashion.c)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="out")
    ap.add_argument("--train-limit", type=int, default=0)
    ap.add_argument("--samples-out")
    a = ap.parse_args()
    epochs, seed = max(a.epochs, 1), a.seed

    train = gm.load_idx_images(f"{a.data}/train-images-idx3-ubyte.gz", a.train_limit)
    test = gm.load_idx_images(f"{a.data}/t10k-images-idx3-ubyte.gz", 0)
    n_train = train.shape[0]
    steps = n_train // B
    train_flat = train.reshape(n_train, D)
    print(f"libgenmodel {gm.version()}: VAE on Fashion-MNIST ({n_train} train, {test.shape[0]} "
          f"test images), seed {seed}, {gm.get_num_threads()} BLAS threads")

    rng = gm.Rng(seed)
    enc, dec = mlp(D, H, 2 * L, rng), mlp(L, H, D, rng)
    vae = gm.VAE(enc, dec, latent=L, seed=seed)  # the VAE owns enc and dec now

    x = np.empty((B, D), np.float32)
    xt = gm.Tensor.wrap(x)  # one tensor over x's memory, as the C program's x
    order = list(range(n_train))
    ranks = np.arange(1, n_train + 1, dtype=np.float32)  # (float)(i + 1)
    nelbo = train_loss = total_secs = 0.0
    for e in range(1, epochs + 1):
        u = rng.uniform(n_train)
        js = (u * ranks).astype(np.int64)  # (size_t)(u[i] * (float)(i + 1)), in float32
        for i in range(n_train - 1, 0, -1):  # Fisher-Yates
            j = min(int(js[i]), i)
            order[i], order[j] = order[j], order[i]
        t0, total = time.monotonic(), 0.0
        for s in range(steps):
            x[:] = train_flat[order[s * B:(s + 1) * B]]
            total += vae.train_step(xt).loss
        secs = time.monotonic() - t0
        total_secs += secs
        train_loss = total / steps
        nelbo = test_nelbo(vae, test)
        print(f"epoch {e:2d}  train loss {train_loss:.2f}  test -ELBO {nelbo:.2f} nats/image  "
              f"{secs:.1f} s  {steps / secs:.0f} steps/s", flush=True)

    # IWAE estimate of -log p(x) on 1000 test images, K = 50
    iwae = vae.iwae(np.ascontiguousarray(test[:1000].reshape(1000, D)), 50)

    os.makedirs(a.out, exist_ok=True)

    # 64 samples
    samples = vae.sample(64, out=np.empty((64, 1, 28, 28), np.float32))
    write_png(a.out, "samples.png", samples, 8, 8)
    if a.samples_out:
        samples.tofile(a.samples_out)
        print(f"wrote {a.samples_out}")

    # reconstructions: rows of 8 originals over their reconstructions
    idx = [i * 37 for i in range(32)]
    orig = pick(test, idx)
    rec = vae.reconstruct(orig)
    grid = np.empty((8, 8, 1, 28, 28), np.float32)
    grid[0::2], grid[1::2] = orig.reshape(4, 8, 1, 28, 28), rec.reshape(4, 8, 1, 28, 28)
    write_png(a.out, "reconstructions.png", grid.reshape(64, 1, 28, 28), 8, 8)

    # interpolation: 6 pairs of test images, 10 steps each
    interp = np.concatenate([vae.interpolate(pick(test, [p * 101 + 3]), pick(test, [p * 211 + 50]),
                                             10) for p in range(6)])
    write_png(a.out, "interpolation.png", interp, 6, 10)

    # inpainting: 8 images with the bottom half, 8 with the centre missing;
    # rows: originals, damaged (missing shown grey), repaired
    truth = pick(test, idx[:16])
    mask = np.ones((16, 1, 28, 28), np.float32)
    mask[:8, :, 14:, :] = 0.0
    mask[8:, :, 7:21, 7:21] = 0.0
    damaged = np.where(mask != 0.0, truth, np.float32(0.5)).astype(np.float32)
    repaired = vae.inpaint(truth, mask, 100)
    # compare with filling the missing pixels by the mean training image,
    # summed in float32 image after image as the C program does
    mean_img = np.zeros(D, np.float32)
    for img in train_flat:
        mean_img += img
    mean_img /= np.float32(n_train)
    missing = (mask == 0.0).reshape(16, D)
    t = truth.reshape(16, D).astype(np.float64)[missing]
    err_model = np.sum((repaired.reshape(16, D).astype(np.float64)[missing] - t) ** 2)
    err_mean = np.sum((np.broadcast_to(mean_img, (16, D)).astype(np.float64)[missing] - t) ** 2)
    n_missing = int(missing.sum())
    write_png(a.out, "inpainting.png", np.concatenate([truth, damaged, repaired]), 6, 8)

    print(f"epochs={epochs} seed={seed} train_loss={train_loss:.3f} test_nelbo={nelbo:.3f} "
          f"test_iwae50_nll={iwae:.3f} inpaint_mse={err_model / n_missing:.5f} "
          f"meanfill_mse={err_mean / n_missing:.5f} train_seconds={total_secs:.1f} "
          f"steps_per_second={epochs * steps / total_secs:.1f}")

    xt.close()
    vae.close()
    rng.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
