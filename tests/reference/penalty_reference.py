#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/reference_penalty.txt for tests/test_penalty.c:
R1 and WGAN-GP penalties and their parameter gradients from torch
(torch.autograd.grad(..., create_graph=True), float64) on the two critics
of test_penalty.c (a dense critic with every activation kind; a conv
critic: transposed conv, tanh, conv, ELU, flatten, dense).

    /usr/bin/python3 tests/reference/penalty_reference.py

Inputs and parameters are float32 draws written exactly; results are
computed in float64 from them (format: tests/reference/make_reference.py).
For GP the fixture holds the interpolates x^ themselves (the library draws
eps from its own generator): the C test passes real = fake = x^.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_reference import Writer, weight_then_bias  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def dense_model():
    return nn.Sequential(
        nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(),
        nn.Linear(8, 8), nn.Softplus(), nn.Linear(8, 8), nn.ELU(0.7),
        nn.Linear(8, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.ReLU(),
        nn.Linear(8, 1))


def conv_model():
    return nn.Sequential(
        nn.ConvTranspose2d(2, 3, 3, 1, 1), nn.Tanh(), nn.Conv2d(3, 4, 3, 2, 1),
        nn.ELU(1.0), nn.Flatten(), nn.Linear(36, 1))


def grads_of(model):
    """weight_then_bias(model, True) with zeros for parameters the penalty
    does not reach (the last layer's bias)."""
    for m in model:
        for t in (getattr(m, "weight", None), getattr(m, "bias", None)):
            if t is not None and t.grad is None:
                t.grad = torch.zeros_like(t)
    return weight_then_bias(model, True)


def case(w, name, model, x, gamma, lam):
    params = weight_then_bias(model, False)
    model = model.double()
    x = x.double()
    w.rec(name + ".x", x)
    w.rec(name + ".params", params)
    for kind, c in (("r1", gamma), ("gp", lam)):
        xi = x.clone().requires_grad_(True)
        out = model(xi).sum()
        (g,) = torch.autograd.grad(out, xi, create_graph=True)
        g = g.reshape(g.shape[0], -1)
        if kind == "r1":
            p = c / 2 * (g * g).sum(1).mean()
        else:
            p = c * ((g.norm(dim=1) - 1) ** 2).mean()
        model.zero_grad()
        p.backward()
        w.rec(name + "." + kind, p.detach().reshape(1))
        w.rec(name + "." + kind + "_grads", grads_of(model))
    print("%s: %d params" % (name, params.numel()))


def main():
    w = Writer(os.path.join(HERE, "..", "data", "reference_penalty.txt"),
               "gradient penalties: tests/reference/penalty_reference.py "
               "(torch %s)" % torch.__version__)
    torch.manual_seed(21)
    case(w, "dense", dense_model(), torch.randn(5, 6), 1.5, 2.5)
    case(w, "conv", conv_model(), torch.randn(3, 2, 5, 5), 1.5, 2.5)
    w.close()


if __name__ == "__main__":
    main()
