#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The ring MLP GAN of examples/gan_ring.c in PyTorch, for bench/gan_ring.

    /usr/bin/python3 bench/ref/gan_ring.py [--steps N] [--warmup N] [--threads N]
        [--seed N] [--sample-batch N] [--sample-reps N] [--max-seconds S]

8 Gaussians on a circle (radius 2, std 0.02); G: 2-128-128-2 ReLU; D:
2-128-128-1 LeakyReLU(0.2); non-saturating loss (BCE with logits); Adam
1e-3, betas (0.5, 0.999); batch 256; one D update on real + fake, then one
G update on fresh z, as gm_gan_train_step does. The real batch is drawn
inside the timed loop, as in the C benchmark. Prints a last line of
key=value pairs (steps_per_second, cpu_steps_per_second: by process CPU
time, images_per_second, peak_rss_mb at the end of training,
sample_peak_rss_mb after sampling, and the setting: torch_threads,
blas_threads, malloc; see benchenv.py). --threads N calls
torch.set_num_threads(N); OpenBLAS's threads come from OPENBLAS_NUM_THREADS.
--max-seconds S ends the timed training, and the sampling, early once they
took S seconds (steps= says how many were timed).
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import benchenv


def mlp(n_in, n_out, act):
    return nn.Sequential(nn.Linear(n_in, 128), act(), nn.Linear(128, 128), act(),
                         nn.Linear(128, n_out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample-batch", type=int, default=2500)
    ap.add_argument("--sample-reps", type=int, default=200)
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop training, and sampling, after this long (0: no limit)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    B, Z = 256, 2
    G = mlp(Z, 2, nn.ReLU)
    D = mlp(2, 1, lambda: nn.LeakyReLU(0.2))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    ones, zeros = torch.ones(B, 1), torch.zeros(B, 1)
    angles = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    centres = torch.stack([2 * torch.cos(angles), 2 * torch.sin(angles)], 1)

    t_train, c_train, done = 0.0, 0.0, 0
    for s in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        real = centres[torch.randint(0, 8, (B,))] + 0.02 * torch.randn(B, 2)
        fake = G(torch.randn(B, Z))
        d_loss = (F.binary_cross_entropy_with_logits(D(real), ones) +
                  F.binary_cross_entropy_with_logits(D(fake.detach()), zeros))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.binary_cross_entropy_with_logits(D(G(torch.randn(B, Z))), ones)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if s >= a.warmup:
            t_train += time.perf_counter() - t0
            c_train += time.process_time() - c0
            done += 1
            if 0 < a.max_seconds < t_train:
                break
    sps = done / t_train
    train_rss = benchenv.peak_rss_mb()

    with torch.inference_mode():
        G.eval()
        G(torch.randn(a.sample_batch, Z))
        t0, reps = time.perf_counter(), 0
        while reps < a.sample_reps:
            G(torch.randn(a.sample_batch, Z))
            reps += 1
            if 0 < a.max_seconds < time.perf_counter() - t0:
                break
        ips = reps * a.sample_batch / (time.perf_counter() - t0)

    print("impl=torch-%s threads=%d steps=%d seconds=%.2f steps_per_second=%.1f "
          "cpu_steps_per_second=%.1f d_loss=%.3f g_loss=%.3f sample_batch=%d images_per_second=%.0f "
          "peak_rss_mb=%.1f sample_peak_rss_mb=%.1f %s"
          % (torch.__version__, torch.get_num_threads(), done, t_train, sps,
             done / c_train, d_loss.item(), g_loss.item(), a.sample_batch, ips, train_rss,
             benchenv.peak_rss_mb(), benchenv.setting()))


if __name__ == "__main__":
    main()
