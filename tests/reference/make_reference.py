#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch reference fixtures read by tests/test_reference.c.

Run once, from anywhere, with an interpreter that has torch and numpy
(Debian: /usr/bin/python3 with python3-torch):

    /usr/bin/python3 tests/reference/make_reference.py

It rewrites tests/data/reference_{net,loss,optim,conv}.txt. The output is
deterministic (fixed seeds, no threads-dependent reductions in float64), so
rerunning it on the same torch version leaves the files unchanged. The
C test does not need Python.

Precision: every input (x, parameters, upstream gradients, targets,
hyperparameters) is drawn in float32 and written exactly (%.9g round-trips
a float32). Every result (outputs, gradients, losses, optimizer
trajectories) is then computed by torch in float64 from those float32
values, so the fixture holds the exact answer to the float32 question and
the C test measures only the library's own float32 rounding.

File format (version 1), plain text:
    line 1: "genmodel-reference 1"
    '#' starts a comment that runs to the end of the line
    records:  <name> <ndim> <d0> ... <d{ndim-1}>
              followed by prod(d) numbers (whitespace separated, %.9g)
Names are [A-Za-z0-9_.]+; integers (labels, layer codes, counts) are
stored as numbers with an exact float value.
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MAGIC = "genmodel-reference 1"
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data"))

# gm_layer_kind values (include/genmodel/layer.h)
DENSE, RELU, LEAKY, SIGMOID, TANH, SOFTPLUS, ELU, DROPOUT, RESHAPE, FLATTEN = \
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10
# gm_optimizer_kind values (include/genmodel/optim.h)
OPT_SGD, OPT_ADAM, OPT_ADAMW = 0, 1, 2

torch.set_num_threads(1)


def f32(v):
    """The float32 value nearest to v, as a Python float (exact)."""
    return float(np.float32(v))


class Writer:
    def __init__(self, path, comment):
        self.path = path
        self.lines = [MAGIC]
        for c in comment.strip().splitlines():
            self.lines.append("# " + c)
        self.names = set()

    def rec(self, name, value, shape=None):
        a = np.asarray(value.detach().cpu().numpy() if torch.is_tensor(value)
                       else value, dtype=np.float64)
        if shape is None:
            shape = a.shape if a.ndim > 0 else (1,)
        a = a.reshape(-1)
        assert int(np.prod(shape)) == a.size, name
        assert np.all(np.isfinite(a)), name
        assert name not in self.names, name
        self.names.add(name)
        self.lines.append("%s %d %s" % (name, len(shape),
                                        " ".join(str(int(d)) for d in shape)))
        for i in range(0, a.size, 8):
            self.lines.append(" ".join("%.9g" % v for v in a[i:i + 8]))

    def close(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        print("wrote %s (%d bytes)" % (self.path, os.path.getsize(self.path)))


# --------------------------------------------------------------------------
# Nets: each layer spec is (kind, a, b, c) as in the fixture's "arch" record.

class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class DenseND(nn.Linear):
    """torch.nn.Linear that reads an [N x ...] input as [N x prod(...)],
    as gm_dense does."""

    def forward(self, x):
        return super().forward(x.reshape(x.shape[0], -1))


def build(arch):
    mods = []
    for kind, a, b, c in arch:
        if kind == DENSE:
            mods.append(DenseND(int(a), int(b)))
        elif kind == RELU:
            mods.append(nn.ReLU())
        elif kind == LEAKY:
            mods.append(nn.LeakyReLU(a))
        elif kind == SIGMOID:
            mods.append(nn.Sigmoid())
        elif kind == TANH:
            mods.append(nn.Tanh())
        elif kind == SOFTPLUS:
            mods.append(nn.Softplus())
        elif kind == ELU:
            mods.append(nn.ELU(a))
        elif kind == DROPOUT:
            mods.append(nn.Dropout(a))
        elif kind == RESHAPE:
            mods.append(Reshape(*[int(d) for d in (a, b, c) if d > 0]))
        elif kind == FLATTEN:
            mods.append(nn.Flatten())
        else:
            raise ValueError(kind)
    return nn.Sequential(*mods)


def flat_params(model):
    # dense: weight [out x in] row-major, then bias; layer after layer
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def flat_grads(model):
    return torch.cat([p.grad.detach().reshape(-1) for p in model.parameters()])


def min_kink_distance(model, x):
    """Smallest |input| seen by a ReLU/LeakyReLU: the C pass must take the
    same branch as the reference, so no input may sit near the kink."""
    m = float("inf")
    h = x
    for mod in model:
        if isinstance(mod, (nn.ReLU, nn.LeakyReLU)):
            m = min(m, float(h.abs().min()))
        h = mod(h)
    return m


# Net A: an MLP over [4 x 6] using every parametrised / non-trivial layer.
ARCH_A = [
    (DENSE, 6, 8, 0), (LEAKY, f32(0.2), 0, 0),
    (DENSE, 8, 8, 0), (TANH, 0, 0, 0),
    (DENSE, 8, 7, 0), (ELU, f32(1.0), 0, 0),
    (DENSE, 7, 6, 0), (RELU, 0, 0, 0),
    (DENSE, 6, 5, 0), (SOFTPLUS, 0, 0, 0),
    (DENSE, 5, 5, 0), (SIGMOID, 0, 0, 0),
]
X_SHAPE_A = (4, 6)

# Net B: shapes. A rank-3 input straight into a dense layer, reshape to a
# rank-3 activation, dropout in evaluation mode (identity), flatten, and a
# rank-3 output.
ARCH_B = [
    (DENSE, 6, 12, 0), (RELU, 0, 0, 0),
    (RESHAPE, 3, 4, 0), (DROPOUT, f32(0.5), 0, 0), (TANH, 0, 0, 0),
    (FLATTEN, 0, 0, 0),
    (DENSE, 12, 6, 0), (RESHAPE, 2, 3, 0), (SIGMOID, 0, 0, 0),
]
X_SHAPE_B = (4, 2, 3)


def make_net(arch, x_shape, seed, training):
    """Draws float32 params/x/dy with `seed`; returns float64 model, x, dy."""
    torch.manual_seed(seed)
    model = build(arch)  # float32 torch.nn.Linear init: U(+-1/sqrt(in))
    x = torch.randn(*x_shape)
    model = model.double()
    model.train(training)
    x = x.double()
    with torch.no_grad():
        y = model(x)
    dy = torch.randn(*y.shape, dtype=torch.float32).double()
    return model, x, dy


def net_case(w, prefix, arch, x_shape, seed, training):
    model, x, dy = make_net(arch, x_shape, seed, training)
    kink = min_kink_distance(model, x)
    assert kink > 1e-3, "%s: pre-activation %g too near a kink; change seed" \
        % (prefix, kink)
    x.requires_grad_(True)
    y = model(x)
    model.zero_grad()
    y.backward(dy)
    w.rec(prefix + ".arch", np.array(arch, dtype=np.float64))
    w.rec(prefix + ".training", [1.0 if training else 0.0])
    w.rec(prefix + ".x", x)
    w.rec(prefix + ".params", flat_params(model))
    w.rec(prefix + ".y", y)
    w.rec(prefix + ".dy", dy)
    w.rec(prefix + ".grads", flat_grads(model))
    w.rec(prefix + ".dx", x.grad)
    print("%s: %d params, y %s, min |pre-activation at kink| %.3g"
          % (prefix, flat_params(model).numel(), tuple(y.shape), kink))
    return model, x, dy


# --------------------------------------------------------------------------
# Losses, in float64 from float32 inputs.

def reduce(l, how):
    if how == "batch_mean":
        return l.reshape(l.shape[0], -1).sum(1).mean()
    if how == "mean":
        return l.mean()
    return l.sum()


def loss_case(w, name, pred, fn, target):
    w.rec(name + ".pred", pred)
    if target is not None:
        w.rec(name + ".target", target)
    for how in ("batch_mean", "mean", "sum"):
        p = pred.detach().clone().requires_grad_(True)
        v = fn(p, how)
        v.backward()
        w.rec("%s.%s.loss" % (name, how), [v.item()])
        w.rec("%s.%s.grad" % (name, how), p.grad)


def losses(w):
    torch.manual_seed(2)
    # MSE, 2-D and 4-D (D = product of the per-sample dims)
    for name, shape in (("mse", (5, 7)), ("mse4d", (3, 2, 2, 3))):
        p = torch.randn(*shape).double()
        t = torch.randn(*shape).double()
        loss_case(w, name, p,
                  lambda q, how, t=t: reduce((q - t) ** 2, how), t)

    # BCE from logits: large |z| (stability), z = 0, targets 0, 1, fractional
    z = (3 * torch.randn(5, 7)).double()
    t = torch.rand(5, 7).double()
    z[0, :6] = torch.tensor([30.0, -30.0, 30.0, -30.0, 100.0, -100.0])
    t[0, :6] = torch.tensor([1.0, 0.0, 0.0, 1.0, f32(0.25), f32(0.75)])
    z[1, 0] = 0.0
    t[2, :3] = torch.tensor([0.0, 1.0, 0.5])
    loss_case(w, "bce", z,
              lambda q, how, t=t: reduce(
                  F.binary_cross_entropy_with_logits(q, t, reduction="none"),
                  how), t)

    # Softmax cross-entropy: [6 x 5] logits with large values, labels
    z = (2 * torch.randn(6, 5)).double()
    z[0] = torch.tensor([50.0, -40.0, 3.0, 0.0, 49.0])
    z[1] = torch.tensor([-60.0, -61.0, -59.5, -80.0, -60.0])
    labels = torch.tensor([0, 2, 4, 1, 3, 0])
    labels[2] = int(z[2].argmin())  # make at least one row wrong
    w.rec("xent.labels", labels.double())
    correct = int((z.argmax(1) == labels).sum())
    assert 0 < correct < 6
    # float32 argmax must agree (no near-ties)
    assert correct == int((z.float().argmax(1) == labels).sum())
    w.rec("xent.correct", [float(correct)])

    def xent(q, how):
        l = F.cross_entropy(q, labels, reduction="none")
        return l.sum() if how == "sum" else l.mean()
    loss_case(w, "xent", z, xent, None)


# --------------------------------------------------------------------------
# Optimizer trajectories on net A: each step is zero_grad, forward,
# loss = sum(y * dy) (so dL/dy = dy), backward, [clip], step.

STEPS = 5


def run_traj(cfg, model0, x, dy, dtype):
    model = build(ARCH_A).to(dtype)
    model.load_state_dict(model0.state_dict())
    model.train(True)
    if cfg["frozen"] >= 0:
        for p in model[cfg["frozen"]].parameters():
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    lr0 = cfg["lr"][0]
    if cfg["kind"] == OPT_SGD:
        opt = torch.optim.SGD(params, lr=lr0, momentum=cfg["momentum"],
                              nesterov=bool(cfg["nesterov"]),
                              weight_decay=cfg["wd"])
    elif cfg["kind"] == OPT_ADAM:
        opt = torch.optim.Adam(params, lr=lr0,
                               betas=(cfg["beta1"], cfg["beta2"]),
                               eps=cfg["eps"], weight_decay=cfg["wd"])
    else:
        opt = torch.optim.AdamW(params, lr=lr0,
                                betas=(cfg["beta1"], cfg["beta2"]),
                                eps=cfg["eps"], weight_decay=cfg["wd"])
    x = x.to(dtype)
    dy = dy.to(dtype)
    snaps = []
    for s in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = cfg["lr"][s]
        opt.zero_grad()
        loss = (model(x) * dy).sum()
        loss.backward()
        if cfg["clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, cfg["clip"])
        opt.step()
        snaps.append(flat_params(model).double())
    return snaps


def optim(w, model0, x, dy):
    # Global grad norm at the start, to choose clip norms that do clip.
    m = build(ARCH_A).double()
    m.load_state_dict(model0.state_dict())
    (m(x) * dy).sum().backward()
    g0 = float(flat_grads(m).norm())
    gabs = flat_grads(m).abs()
    print("optim: initial grad norm %.6g, min |g| %.3g, median |g| %.3g"
          % (g0, float(gabs.min()), float(gabs.median())))
    clip = f32(0.5 * g0)

    base = dict(kind=OPT_SGD, momentum=0.0, nesterov=0, beta1=f32(0.9),
                beta2=f32(0.999), eps=f32(1e-8), wd=0.0, clip=0.0,
                frozen=-1, lr=[f32(0.1)] * STEPS)
    adam = dict(base, kind=OPT_ADAM, lr=[f32(1e-2)] * STEPS)
    runs = [
        ("sgd", dict(base)),
        ("sgd_momentum", dict(base, momentum=f32(0.9), wd=f32(1e-2))),
        ("sgd_nesterov", dict(base, momentum=f32(0.9), nesterov=1,
                              wd=f32(1e-2))),
        ("sgd_clip", dict(base, momentum=f32(0.9), clip=clip)),
        ("adam", dict(adam, wd=f32(1e-2))),
        ("adamw", dict(adam, kind=OPT_ADAMW, wd=f32(0.1))),
        ("adam_clip", dict(adam, clip=clip)),
        ("adam_lr_schedule", dict(adam, lr=[f32(v) for v in
                                            (1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3)])),
        ("adamw_frozen", dict(adam, kind=OPT_ADAMW, wd=f32(0.1), frozen=2)),
    ]
    w.rec("optim.arch", np.array(ARCH_A, dtype=np.float64))
    w.rec("optim.x", x)
    w.rec("optim.dy", dy)
    w.rec("optim.params0", flat_params(model0))
    w.rec("optim.runs", [float(len(runs))])
    for i, (name, cfg) in enumerate(runs):
        p = "run%d" % i
        # config: kind momentum nesterov beta1 beta2 eps weight_decay
        #         clip_norm frozen_layer(-1 none) steps
        w.lines.append("# %s: %s" % (p, name))
        w.rec(p + ".config", [cfg["kind"], cfg["momentum"], cfg["nesterov"],
                              cfg["beta1"], cfg["beta2"], cfg["eps"],
                              cfg["wd"], cfg["clip"], cfg["frozen"], STEPS])
        w.rec(p + ".lr", cfg["lr"])
        ref = run_traj(cfg, model0, x, dy, torch.float64)
        w.rec(p + ".params_step1", ref[0])
        w.rec(p + ".params_final", ref[-1])
        # Diagnostic only: how far float32 torch lands from the float64
        # truth, i.e. what a correct float32 implementation can expect.
        r32 = run_traj(cfg, model0, x, dy, torch.float32)
        d = (r32[-1] - ref[-1]).abs()
        rel = d / ref[-1].abs().clamp_min(1e-3)
        print("  %-17s torch-float32 vs float64 final: max abs %.3g, "
              "max rel %.3g" % (name, float(d.max()), float(rel.max())))


# --------------------------------------------------------------------------
# A convolutional net with batch normalization and spectral normalization:
#   Conv2d(2, 4, k3, s2, p1) + spectral norm -> BatchNorm2d(4) -> LeakyReLU(0.2)
#   -> ConvTranspose2d(4, 3, k4, s2, p1) + spectral norm (dim=1)
#   -> Tanh -> Flatten -> Linear(108, 5) + spectral norm
# on x [3 x 2 x 6 x 6], in training mode: two forwards (each runs one power
# iteration and updates the running statistics), then a backward of the
# second; then an evaluation-mode forward.

CONV_SN = (0, 3, 6)  # indices of the spectrally normalized modules


def weight_then_bias(model, grad):
    """Parameters (or their grads) in the library's order: per module the
    weight, then the bias. (spectral_norm re-registers the weight as
    weight_orig after the bias, so model.parameters() has them swapped.)"""
    out = []
    for m in model:
        for name in ("weight_orig", "weight", "bias"):
            t = m._parameters.get(name)
            if t is not None:
                out.append((t.grad if grad else t).detach().reshape(-1))
    return torch.cat(out)


def conv_case(w):
    torch.manual_seed(11)
    mods = [nn.Conv2d(2, 4, 3, 2, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
            nn.ConvTranspose2d(4, 3, 4, 2, 1), nn.Tanh(), nn.Flatten(),
            nn.Linear(108, 5)]
    with torch.no_grad():  # gamma, beta away from their defaults
        mods[1].weight.uniform_(0.5, 1.5)
        mods[1].bias.normal_(0.0, 0.1)
    for i in CONV_SN:
        mods[i] = nn.utils.spectral_norm(mods[i])  # draws u, v in float32
    model = nn.Sequential(*mods)
    x = torch.randn(3, 2, 6, 6)
    dy = torch.randn(3, 5)
    # the float32 draws, exactly, before anything runs
    params = weight_then_bias(model, False)
    uv = [torch.cat([model[i].weight_u, model[i].weight_v]) for i in CONV_SN]
    model = model.double()
    model.train(True)
    x = x.double().requires_grad_(True)
    dy = dy.double()
    with torch.no_grad():
        model(x)
    y = model(x)
    model.zero_grad()
    y.backward(dy)
    w.rec("conv.x", x)
    w.rec("conv.params", params)  # conv W b, bn gamma beta, convT W b, dense W b
    for k, i in enumerate(CONV_SN):
        w.rec("conv.uv0_%d" % k, uv[k])
        w.rec("conv.uv2_%d" % k, torch.cat([model[i].weight_u, model[i].weight_v]))
    w.rec("conv.y", y)
    w.rec("conv.dy", dy)
    w.rec("conv.grads", weight_then_bias(model, True))
    w.rec("conv.dx", x.grad)
    w.rec("conv.running", torch.cat([model[1].running_mean, model[1].running_var]))
    model.train(False)
    with torch.no_grad():
        w.rec("conv.y_eval", model(x))
    print("conv: %d params, y %s" % (params.numel(), tuple(y.shape)))


def main():
    os.makedirs(DATA, exist_ok=True)
    hdr = ("Generated by tests/reference/make_reference.py (torch %s).\n"
           "Inputs are float32 values; results computed in float64.\n"
           % torch.__version__)

    w = Writer(os.path.join(DATA, "reference_net.txt"), hdr +
               "Nets A (MLP) and B (reshape/flatten/dropout-eval): x, params,\n"
               "y = net(x), upstream dy, parameter grads and dx.\n"
               "arch rows: gm_layer_kind, a, b, c (dense: in out; leaky/elu:\n"
               "alpha; dropout: p; reshape: per-sample dims, 0 = unused).")
    model_a, x_a, dy_a = net_case(w, "netA", ARCH_A, X_SHAPE_A, 1, True)
    net_case(w, "netB", ARCH_B, X_SHAPE_B, 4, False)
    w.close()

    w = Writer(os.path.join(DATA, "reference_loss.txt"), hdr +
               "Losses: <case>.pred [.target | xent.labels], and per reduction\n"
               "(batch_mean, mean, sum) the value and d value / d pred.")
    losses(w)
    w.close()

    w = Writer(os.path.join(DATA, "reference_optim.txt"), hdr +
               "Optimizer trajectories on netA (optim.arch, .x, .dy): each step\n"
               "zero_grad, y = net(x), loss = sum(y * dy), backward, clip,\n"
               "step with run<i>.lr[step]. Params after step 1 and the last.")
    optim(w, model_a, x_a.detach(), dy_a)
    w.close()

    w = Writer(os.path.join(DATA, "reference_conv.txt"), hdr +
               "Conv net with batchnorm and spectral norm (see conv_case):\n"
               "x, params, the initial u|v of each normalized layer (uv0_k)\n"
               "and after two training forwards (uv2_k), the second forward's\n"
               "y, upstream dy, grads, dx, the running mean|var after, and an\n"
               "evaluation-mode forward y_eval.")
    conv_case(w)
    w.close()


if __name__ == "__main__":
    sys.exit(main())
