#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The VAE recipe of examples/vae_fashion.c in PyTorch, for bench/vae_mlp.

    /usr/bin/python3 bench/ref/vae_mlp.py [--steps N] [--warmup N] [--threads N]
        [--seed N] [--data DIR] [--sample-batch N] [--sample-reps N] [--max-seconds S]

Encoder Linear(784, 400) ReLU Linear(400, 40) (mu, logvar); decoder
Linear(20, 400) ReLU Linear(400, 784) logits; loss = per-image sum of the
Bernoulli NLL (BCE with logits) + KL to N(0, I), mean over the batch;
Adam 1e-3; batch 128; shuffled epochs. The images stay uint8 and each batch
is converted to float when used, as the C benchmark does. Then sampling:
sigmoid(decoder(z)) for batches of z in inference mode. Prints a last line
of key=value pairs (steps_per_second, cpu_steps_per_second: by process
CPU time, images_per_second, peak_rss_mb at the end of training and
sample_peak_rss_mb through sampling, and the setting it ran with:
torch_threads, blas_threads, malloc; see benchenv.py).
--threads N calls torch.set_num_threads(N); OpenBLAS's threads come from
OPENBLAS_NUM_THREADS (bench/run.sh tries every split). --max-seconds S
ends the timed training, and the sampling, early once they took S seconds
(steps= says how many were timed): bench/run.sh's cap for slow settings.
Uses only Debian's python3-torch and python3-numpy (and benchenv.py here).
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import benchenv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--sample-batch", type=int, default=256)
    ap.add_argument("--sample-reps", type=int, default=200)
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop training, and sampling, after this long (0: no limit)")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_all = benchenv.load_images_u8(a.data + "/train-images-idx3-ubyte.gz")
    n, B, L = x_all.shape[0], 128, 20
    enc = nn.Sequential(nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 2 * L))
    dec = nn.Sequential(nn.Linear(L, 400), nn.ReLU(), nn.Linear(400, 784))
    opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)

    def step(x):
        h = enc(x)
        mu, logvar = h[:, :L], h[:, L:]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(dec(z), x, reduction="sum") / x.shape[0]
        kl = 0.5 * torch.sum(mu * mu + logvar.exp() - 1.0 - logvar) / x.shape[0]
        loss = rec + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    order, pos = torch.randperm(n), 0
    t_train, c_train, loss_sum, done = 0.0, 0.0, 0.0, 0
    for s in range(a.warmup + a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        if pos + B > n:
            order, pos = torch.randperm(n), 0
        x = x_all[order[pos:pos + B]].float().div_(255.0)
        pos += B
        loss = step(x)
        if s >= a.warmup:
            loss_sum += loss.item()
            t_train += time.perf_counter() - t0
            c_train += time.process_time() - c0
            done += 1
            if 0 < a.max_seconds < t_train:
                break
    sps = done / t_train
    train_rss = benchenv.peak_rss_mb()

    with torch.inference_mode():
        dec.eval()
        torch.sigmoid(dec(torch.randn(a.sample_batch, L)))
        t0, reps = time.perf_counter(), 0
        while reps < a.sample_reps:
            torch.sigmoid(dec(torch.randn(a.sample_batch, L)))
            reps += 1
            if 0 < a.max_seconds < time.perf_counter() - t0:
                break
        ips = reps * a.sample_batch / (time.perf_counter() - t0)

    print("impl=torch-%s threads=%d steps=%d seconds=%.2f steps_per_second=%.2f "
          "cpu_steps_per_second=%.2f train_loss=%.2f sample_batch=%d images_per_second=%.0f "
          "peak_rss_mb=%.1f sample_peak_rss_mb=%.1f %s"
          % (torch.__version__, torch.get_num_threads(), done, t_train, sps,
             done / c_train, loss_sum / done, a.sample_batch, ips, train_rss,
             benchenv.peak_rss_mb(), benchenv.setting()))


if __name__ == "__main__":
    main()
