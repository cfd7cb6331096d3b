#!/usr/bin/python3
"""The VAE recipe of examples/vae_fashion.c in PyTorch, for bench/vae_mlp.

    /usr/bin/python3 bench/ref/vae_mlp.py [--steps N] [--warmup N] [--threads N]
        [--seed N] [--data DIR] [--sample-batch N] [--sample-reps N]

Encoder Linear(784, 400) ReLU Linear(400, 40) (mu, logvar); decoder
Linear(20, 400) ReLU Linear(400, 784) logits; loss = per-image sum of the
Bernoulli NLL (BCE with logits) + KL to N(0, I), mean over the batch;
Adam 1e-3; batch 128; shuffled epochs. The images stay uint8 and each batch
is converted to float when used, as the C benchmark does. Then sampling:
sigmoid(decoder(z)) for batches of z in inference mode. Prints a last line
of key=value pairs (steps_per_second, cpu_steps_per_second: by process
CPU time, images_per_second, peak_rss_mb).
Uses only Debian's python3-torch and python3-numpy.
"""
import argparse
import gzip
import resource
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_images_u8(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", data[:16])
    assert magic == 2051, path
    x = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    return torch.from_numpy(x.copy())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--sample-batch", type=int, default=256)
    ap.add_argument("--sample-reps", type=int, default=200)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_all = load_images_u8(a.data + "/train-images-idx3-ubyte.gz")
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
    t_train, c_train, loss_sum = 0.0, 0.0, 0.0
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
    sps = a.steps / t_train

    with torch.inference_mode():
        dec.eval()
        torch.sigmoid(dec(torch.randn(a.sample_batch, L)))
        t0 = time.perf_counter()
        for _ in range(a.sample_reps):
            torch.sigmoid(dec(torch.randn(a.sample_batch, L)))
        ips = a.sample_reps * a.sample_batch / (time.perf_counter() - t0)

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("impl=torch-%s threads=%d steps=%d seconds=%.2f steps_per_second=%.2f "
          "cpu_steps_per_second=%.2f train_loss=%.2f sample_batch=%d images_per_second=%.0f peak_rss_mb=%.1f"
          % (torch.__version__, torch.get_num_threads(), a.steps, t_train, sps,
             a.steps / c_train, loss_sum / a.steps, a.sample_batch, ips, rss))


if __name__ == "__main__":
    main()
