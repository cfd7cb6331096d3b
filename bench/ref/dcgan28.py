#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The DCGAN of examples/dcgan_fashion.c in PyTorch: the reference it is
compared with, for speed (bench/) and for sample quality after an epoch.

    /usr/bin/python3 bench/ref/dcgan28.py [--epochs N] [--steps N] [--warmup N]
        [--threads N] [--seed N] [--data DIR] [--png FILE]
        [--sample-batch N] [--sample-reps N] [--max-seconds S]

Same recipe: Fashion-MNIST in [-1, 1]; G: z100 -> dense 6272 -> BatchNorm
-> ReLU -> 128x7x7 -> ConvT(128->64, k4 s2 p1) -> BatchNorm -> ReLU ->
ConvT(64->1) -> tanh; D: Conv(1->64) -> LeakyReLU 0.2 -> Conv(64->128) ->
BatchNorm -> LeakyReLU 0.2 -> flatten -> dense 1; non-saturating loss
(BCE with logits), Adam 2e-4 (0.5, 0.999), batch 64; one D update on
real + fake, then one G update on fresh z, as gm_gan_train_step does.
--warmup N runs N untimed steps first (bench/run.sh: as bench/dcgan28);
--sample-reps N > 0 then times G in evaluation and inference mode on
batches of --sample-batch z (images_per_second), as bench/dcgan28 does.
The images stay uint8 and each batch is scaled to [-1, 1] when used, as
bench/dcgan28 does. Prints a last line of key=value pairs
(steps_per_second, cpu_steps_per_second by process CPU time, peak_rss_mb
at the end of training, sample_peak_rss_mb after sampling,
images_per_second when sampling was timed, and the setting: torch_threads,
blas_threads, malloc; see benchenv.py). --threads N calls
torch.set_num_threads(N); OpenBLAS's threads come from OPENBLAS_NUM_THREADS.
--max-seconds S ends the timed training, and the sampling, early once they
took S seconds (steps= says how many were timed).
Uses only Debian's python3-torch and python3-numpy (and benchenv.py here).
"""
import argparse
import struct
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import benchenv



def write_png_grid(path, images, rows, cols, pad=2):
    """images: [N x 1 x H x W] in [0, 1] -> one 8-bit grayscale PNG."""
    n, _, h, w = images.shape
    H, W = rows * h + (rows + 1) * pad, cols * w + (cols + 1) * pad
    canvas = np.ones((H, W), dtype=np.float32)
    for i in range(min(n, rows * cols)):
        r, c = divmod(i, cols)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y0:y0 + h, x0:x0 + w] = images[i, 0]
    px = np.floor(255.0 * np.clip(canvas, 0.0, 1.0) + 0.5).astype(np.uint8)
    raw = b"".join(b"\x00" + px[y].tobytes() for y in range(H))

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body +
                struct.pack(">I", zlib.crc32(tag + body) & 0xffffffff))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" +
                chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


class Reshape(nn.Module):
    def forward(self, x):
        return x.reshape(x.shape[0], 128, 7, 7)


def generator():
    return nn.Sequential(
        nn.Linear(100, 6272), nn.BatchNorm1d(6272), nn.ReLU(), Reshape(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())


def discriminator():
    return nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(6272, 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: epochs)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--png", default="")
    ap.add_argument("--warmup", type=int, default=0, help="untimed steps first")
    ap.add_argument("--sample-batch", type=int, default=256)
    ap.add_argument("--sample-reps", type=int, default=0, help="time sampling (0: no)")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop training, and sampling, after this long (0: no limit)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    # uint8 (47 MB), each batch scaled to [-1, 1] when used, as bench/dcgan28
    x_all = benchenv.load_images_u8(a.data + "/train-images-idx3-ubyte.gz").view(-1, 1, 28, 28)
    n, B, Z = x_all.shape[0], 64, 100
    G, D = generator(), discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    fixed_z = torch.randn(64, Z)
    ones, zeros = torch.ones(B, 1), torch.zeros(B, 1)
    steps_per_epoch = n // B
    total = a.steps if a.steps > 0 else a.epochs * steps_per_epoch
    total += a.warmup
    step, t_train, c_train = 0, 0.0, 0.0
    while step < total:
        order = torch.randperm(n)
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(steps_per_epoch):
            if step >= total:
                break
            if step == a.warmup and a.warmup > 0:  # the timed part starts here
                t0, c0 = time.perf_counter(), time.process_time()
            real = x_all[order[s * B:(s + 1) * B]].float().mul_(2.0 / 255.0).sub_(1.0)
            # D: real and fake
            fake = G(torch.randn(B, Z))
            d_loss = (F.binary_cross_entropy_with_logits(D(real), ones) +
                      F.binary_cross_entropy_with_logits(D(fake.detach()), zeros))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # G: non-saturating, fresh z
            g_loss = F.binary_cross_entropy_with_logits(D(G(torch.randn(B, Z))), ones)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            step += 1
            if 0 < a.max_seconds < t_train + time.perf_counter() - t0 and step > a.warmup:
                total = step
            if step % 100 == 0:
                print("step %5d  D loss %.3f  G loss %.3f" % (step, d_loss.item(), g_loss.item()),
                      flush=True)
        t_train += time.perf_counter() - t0
        c_train += time.process_time() - c0
    step -= a.warmup
    train_rss = benchenv.peak_rss_mb()
    sampling = ""
    if a.sample_reps > 0:
        G.eval()
        with torch.inference_mode():
            G(torch.randn(a.sample_batch, Z))
            t0, reps = time.perf_counter(), 0
            while reps < a.sample_reps:
                G(torch.randn(a.sample_batch, Z))
                reps += 1
                if 0 < a.max_seconds < time.perf_counter() - t0:
                    break
            ips = reps * a.sample_batch / (time.perf_counter() - t0)
        G.train()
        sampling = " sample_batch=%d images_per_second=%.0f" % (a.sample_batch, ips)
    if a.png:
        G.eval()
        with torch.no_grad():
            write_png_grid(a.png, (G(fixed_z).numpy() + 1.0) / 2.0, 8, 8)
        print("wrote %s" % a.png)
    print("impl=torch-%s threads=%d steps=%d seconds=%.2f steps_per_second=%.3f "
          "cpu_steps_per_second=%.3f%s peak_rss_mb=%.1f sample_peak_rss_mb=%.1f %s"
          % (torch.__version__, torch.get_num_threads(), step, t_train, step / t_train,
             step / c_train, sampling, train_rss, benchenv.peak_rss_mb(), benchenv.setting()))


if __name__ == "__main__":
    main()
