#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""quickstart.py: the README's Python example, as a program the tests run.

    quickstart.py [--epochs N] [--train-limit N] [--data DIR] [--out DIR]

Loads Fashion-MNIST (Debian package dataset-fashion-mnist), fits a VAE with
a progress callback, writes 64 samples as a PNG grid, scores the test set,
saves the model and loads it back. Needs the genmodel package importable
(`pip install ./lib/python`, `cmake --install` with GM_INSTALL_PYTHON, or
lib/python on PYTHONPATH) and numpy. Defaults: 5 epochs over the 60000
training images (an epoch is about 4 s on 2 cores); `--epochs 1
--train-limit 6400` takes a few seconds.
"""
import argparse
import os

ap = argparse.ArgumentParser(description="VAE on Fashion-MNIST: the README's Python example")
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--train-limit", type=int, default=0, help="training images (0: all 60000)")
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
ap.add_argument("--out", default=".", help="directory for samples.png and vae.gmck")
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)

# ---- README: from here to the end, the README's Python section shows this code ----
import genmodel as gm

# the data: numpy float32 arrays [N x 1 x 28 x 28], pixels in [0, 1]
train = gm.load_idx_images(f"{args.data}/train-images-idx3-ubyte.gz", max_items=args.train_limit)
test = gm.load_idx_images(f"{args.data}/t10k-images-idx3-ubyte.gz")

# a VAE: encoder 784-400-(20 means, 20 log-variances), decoder 20-400-784
with gm.Rng(1) as rng:
    encoder = gm.Net([gm.flatten(), gm.dense(784, 400, "torch", rng), gm.relu(),
                      gm.dense(400, 40, "torch", rng)])
    decoder = gm.Net([gm.dense(20, 400, "torch", rng), gm.relu(),
                      gm.dense(400, 784, "torch", rng), gm.reshape(1, 28, 28)])
vae = gm.VAE(encoder, decoder, latent=20, seed=1)  # Adam, lr 1e-3; owns both nets now


def progress(p, mean):
    """Called every 100 steps and at each epoch's end; return True to stop."""
    print(f"epoch {p.epoch}/{p.epochs}  step {p.epoch_step:3}/{p.steps_per_epoch}  "
          f"loss {mean.loss:6.1f}  ({p.seconds:.0f} s)", flush=True)


vae.fit(train, epochs=args.epochs, batch=128, every=100, callback=progress)
print(f"test loss (negative ELBO): {vae.elbo(test).loss:.1f} nats/image")

samples = vae.sample(64)  # [64 x 1 x 28 x 28]
gm.write_png_grid(f"{args.out}/samples.png", samples, rows=8, cols=8)

vae.save(f"{args.out}/vae.gmck")  # nets, optimizer state, generators, step count
with gm.VAE.load(f"{args.out}/vae.gmck") as again:
    assert (again.sample(64) == vae.sample(64)).all()  # the same model, same next samples
print(f"wrote {args.out}/samples.png and {args.out}/vae.gmck")
vae.close()
