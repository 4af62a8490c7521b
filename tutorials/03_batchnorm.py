# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 3 — BatchNorm's backward, step by step
#
# Batch normalisation is the one layer in Deep Image Prior whose gradient is not obvious:
# every output depends on *every* input of its channel, through the mean and the variance.
# In this chapter we
#
# 1. split the forward pass into a computational graph of six small steps,
# 2. push the gradient back through the graph one node at a time,
# 3. collapse the result into the compact three-term formula tinydip's kernel uses,
# 4. check all of it numerically,
# 5. compare train mode (batch statistics) with eval mode (running statistics), and
# 6. see why DIP fits — and *produces its output* — with the statistics of a batch of one
#    image.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from tinydip import functional as F
from tinydip import nn
from tinydip.degrade import add_noise
from tinydip.fitting.fit import fit
from tinydip.gradcheck import check_module, numerical_grad, rel_error
from tinydip.io.images import sample_image, to_image, to_tensor
from tinydip.metrics import psnr
from tinydip.models import skip_unet, unet_config
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("03", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()


# the DIP experiment at the end: image size, U-Net width, iterations
SIZE, WIDTH, ITERS = (64, 16, 300) if QUICK else (64, 32, 600)
print("quick mode" if QUICK else "full mode", f"- DIP demo: {SIZE}x{SIZE}, width {WIDTH}, "
      f"{ITERS} iterations")

# %% [markdown]
# ## 1. The forward pass as a graph
#
# For an input $x$ of shape $(N, C, H, W)$, BatchNorm normalises each channel over its
# $M = N H W$ values, then applies a learned scale $\gamma$ and shift $\beta$:
#
# | step | node | shape (per channel) |
# |---|---|---|
# | 1 | $\mu = \frac1M \sum x$ | scalar |
# | 2 | $x_c = x - \mu$ | $M$ values |
# | 3 | $\sigma^2 = \frac1M \sum x_c^2$ | scalar |
# | 4 | $r = (\sigma^2 + \epsilon)^{-1/2}$ | scalar |
# | 5 | $\hat x = x_c \, r$ | $M$ values |
# | 6 | $y = \gamma \hat x + \beta$ | $M$ values |
#
# $x$ reaches $y$ along three paths: directly through $x_c$, through $\mu$, and through
# $\sigma^2$ (which itself depends on $\mu$). We keep every intermediate in the cache.

# %%
rng = np.random.default_rng(0)
N, C, H, W = 2, 3, 4, 5
EPS = 1e-5
x = rng.normal(0.5, 2.0, (N, C, H, W))
gamma = rng.uniform(0.5, 1.5, C)
beta = rng.uniform(-0.5, 0.5, C)
AX = (0, 2, 3)  # reduce over batch and pixels, keep channels


def bn_forward_graph(x, gamma, beta, eps=EPS):
    g4, b4 = gamma.reshape(1, -1, 1, 1), beta.reshape(1, -1, 1, 1)
    mu = x.mean(axis=AX, keepdims=True)  # 1
    xc = x - mu  # 2
    var = (xc**2).mean(axis=AX, keepdims=True)  # 3
    r = 1 / np.sqrt(var + eps)  # 4
    xhat = xc * r  # 5
    y = g4 * xhat + b4  # 6
    return y, (xc, var, r, xhat, g4)


y, graph = bn_forward_graph(x, gamma, beta)
y_lib, bn_cache = F.batchnorm_forward(x, gamma, beta, np.zeros(C), np.ones(C))
print(f"graph forward vs F.batchnorm_forward: {rel_error(y, y_lib):.1e}")
print("per-channel mean of y:", y.mean(axis=AX), "(= beta)")
print("per-channel std  of y:", y.std(axis=AX), "(= gamma, up to eps)")

# %% [markdown]
# ## 2. Backward, one node at a time
#
# Walk the table bottom-up with $g = \partial L/\partial y$. Each line is the local
# derivative of one node times the gradient arriving from above; where a variable feeds
# several nodes, the contributions **add**.
#
# * step 6: $\partial L/\partial\beta = \sum g$, $\partial L/\partial\gamma = \sum g\hat x$,
#   $\;d\hat x = \gamma g$
# * step 5: $dx_c = d\hat x\, r$ (first path), $\;dr = \sum d\hat x\, x_c$
# * step 4: $d\sigma^2 = dr \cdot (-\tfrac12)(\sigma^2+\epsilon)^{-3/2}$
# * step 3: $dx_c \mathrel{+}= d\sigma^2 \cdot \tfrac{2}{M} x_c$ (second path)
# * step 2: $dx = dx_c$, $\;d\mu = -\sum dx_c$
# * step 1: $dx \mathrel{+}= d\mu / M$ (third path)

# %%
def bn_backward_graph(g, graph):
    xc, var, r, xhat, g4 = graph
    M = g.size // g.shape[1]
    dbeta = g.sum(axis=AX)  # step 6
    dgamma = (g * xhat).sum(axis=AX)
    dxhat = g4 * g
    dxc = dxhat * r  # step 5, path through x_c directly
    dr = (dxhat * xc).sum(axis=AX, keepdims=True)
    dvar = dr * -0.5 * (var + EPS) ** -1.5  # step 4
    dxc = dxc + dvar * 2 * xc / M  # step 3: second path into x_c
    dmu = -dxc.sum(axis=AX, keepdims=True)  # step 2
    dx = dxc + dmu / M  # step 1: the path through the mean
    return dx, dgamma, dbeta


g = rng.standard_normal(y.shape)
dx_graph, dgamma_graph, dbeta_graph = bn_backward_graph(g, graph)

# %% [markdown]
# ## 3. The compact formula
#
# Now simplify, using $x_c = \hat x / r$ and the two facts $\sum \hat x = 0$ and
# $\frac1M\sum \hat x^2 = \sigma^2 r^2 \approx 1$:
#
# * $dr = \gamma \sum g\, x_c = \frac{\gamma}{r} \sum g \hat x$, so
#   $d\sigma^2 = -\tfrac12 r^3 dr = -\tfrac{\gamma r^2}{2}\sum g\hat x$;
# * $dx_c = \gamma r g + d\sigma^2 \tfrac{2}{M} x_c
#   = \gamma r \big(g - \hat x\, \overline{g \hat x}\big)$, writing $\bar a$ for the
#   channel mean of $a$;
# * $d\mu = -\sum dx_c = -\gamma r \big(\sum g - \overline{g\hat x} \sum \hat x\big)
#   = -\gamma r \sum g$ because $\sum\hat x = 0$.
#
# Adding $d\mu/M$:
#
# $$\boxed{\;\frac{\partial L}{\partial x}
#   = \frac{\gamma}{\sqrt{\sigma^2+\epsilon}}
#     \Big(g - \bar g - \hat x\;\overline{g\hat x}\Big)\;}$$
#
# Three terms: the gradient itself, minus its mean, minus its component along $\hat x$.
# That is a *projection*: BN's output does not change if you shift $x$ (add a constant)
# or scale it, so the gradient has no component along those two directions — per channel
# $\sum dx = 0$ exactly, and $\sum dx\,\hat x = 0$ up to a relative $\epsilon/\sigma^2$
# (the $\epsilon$ makes the normalisation not *quite* scale-invariant). This is also why a
# convolution bias right before a train-mode BN has exactly zero gradient: its gradient is
# $\sum dx$.
#
# **Your turn:** `tinydip exercise start batchnorm_backward`, then
# `tinydip exercise check batchnorm_backward`: the train-mode backward, yours, checked by
# finite differences (the hints recognise a missing $1/M$ and a forgotten path).
#
# tinydip's kernel (`tinydip/kernels/batchnorm.py`) computes exactly this, in two passes
# over the data: one for the sums $\sum g$ and $\sum g\hat x$, one to write $dx$. It
# *recomputes* $\hat x$ from the saved input instead of storing it — cheaper in memory
# traffic than keeping another full-size array alive.

# %%
def bn_backward_compact(g, x, gamma, eps=EPS):
    mu = x.mean(axis=AX, keepdims=True)
    r = 1 / np.sqrt(x.var(axis=AX, keepdims=True) + eps)
    xhat = (x - mu) * r
    gbar = g.mean(axis=AX, keepdims=True)
    gxbar = (g * xhat).mean(axis=AX, keepdims=True)
    return gamma.reshape(1, -1, 1, 1) * r * (g - gbar - xhat * gxbar)


dx_compact = bn_backward_compact(g, x, gamma)
dx_lib, dgamma_lib, dbeta_lib = F.batchnorm_backward(g, bn_cache)
dx_num = numerical_grad(lambda: bn_forward_graph(x, gamma, beta)[0], x, g)

errs_dx = {
    "graph vs compact": rel_error(dx_graph, dx_compact),
    "graph vs library": rel_error(dx_graph, dx_lib),
    "graph vs numerical": rel_error(dx_graph, dx_num),
}
err_params = max(rel_error(dgamma_graph, dgamma_lib), rel_error(dbeta_graph, dbeta_lib))
for k, v in errs_dx.items():
    print(f"dx {k:<20} {v:.1e}")
print(f"dgamma, dbeta graph vs library {err_params:.1e}")

xhat = graph[3]
scale = np.abs(dx_compact).sum(axis=AX) * np.abs(xhat).max()  # size of the sums' terms
sum_dx = float(np.max(np.abs(dx_compact.sum(axis=AX)) / scale))
sum_dx_xhat = float(np.max(np.abs((dx_compact * xhat).sum(axis=AX)) / scale))
print(f"per channel, relative to the size of the terms: |sum dx| = {sum_dx:.1e}, "
      f"|sum dx * xhat| = {sum_dx_xhat:.1e}")
print(f"eps / var = {EPS / x.var(axis=AX).min():.1e}")

# %% [markdown]
# ### With the fused LeakyReLU
#
# In the U-Net every BatchNorm is followed by a LeakyReLU(0.2), and tinydip fuses the two
# into one pass (`BatchNorm2d(..., slope=0.2)`): out $= y$ if $y > 0$ else $0.2\,y$. The
# backward just multiplies the incoming gradient by the activation's slope first,
# $g = \mathrm{dout} \cdot (1 \text{ or } 0.2)$, and then applies the formula above.
# `check_module` confirms every gradient of the fused module:

# %%
fused = nn.BatchNorm2d(C, slope=0.2, dtype=np.float64)
fused.weight.data[:], fused.bias.data[:] = gamma, beta
err_fused = check_module(fused, x)
print("fused BN + LeakyReLU:", {k: f"{v:.1e}" for k, v in err_fused.items()})

# %% [markdown]
# ## 4. Train mode vs eval mode
#
# In **train mode** BN uses the statistics of the current batch and updates *running*
# estimates as a side effect (PyTorch's convention, momentum $m = 0.1$):
#
# $$\mu_{\mathrm{run}} \leftarrow (1-m)\,\mu_{\mathrm{run}} + m\,\mu, \qquad
#   \sigma^2_{\mathrm{run}} \leftarrow (1-m)\,\sigma^2_{\mathrm{run}}
#     + m\,\sigma^2\,\tfrac{M}{M-1}$$
#
# (the running variance uses the unbiased estimate). In **eval mode** BN uses the running
# statistics instead: each sample is normalised independently of the rest of the batch,
# and since $\mu, \sigma$ are constants the backward is just $dx = \gamma r\, g$.

# %%
bn = nn.BatchNorm2d(C, dtype=np.float64)
for _ in range(3):
    bn(x)  # three train-mode calls on the same batch
print("batch mean      ", x.mean(axis=AX))
print("running mean    ", bn.running_mean, " = (1 - 0.9^3) * batch mean")
running_ok = np.allclose(bn.running_mean, (1 - 0.9**3) * x.mean(axis=AX))

x_other = x.copy()
x_other[1] += 3.0  # change the SECOND sample only
for mode in ("train", "eval"):
    bn.train(mode == "train")
    a, b_ = bn(x)[0], bn(x_other)[0]  # output of the FIRST sample, both times
    print(f"{mode:5} mode: first sample's output changed by {np.abs(a - b_).max():.3f} "
          "when only the second sample changed")
bn.train()
sample_dependence = np.abs(bn(x)[0] - bn(x_other)[0]).max()

bn.eval()
err_eval = check_module(bn, x)
print("eval-mode gradients:", {k: f"{v:.1e}" for k, v in err_eval.items()})
bn.train()

# %% [markdown]
# ## 5. Deep Image Prior: a batch of one
#
# DIP fits a network to **one** image, so $N = 1$: "batch statistics" are statistics over
# the $H W$ pixels of each channel of that one image (what is elsewhere called instance
# normalisation, here with learned $\gamma, \beta$). They are still perfectly well
# defined — as long as a feature map has more than one pixel. Deep in the U-Net the maps
# get small: with five stride-2 levels, a 64x64 input reaches 2x2 = 4 pixels.
#
# Let's fit a small U-Net to a noisy image for a few hundred iterations, then look inside
# its BatchNorms. The fitting is done by `tinydip.fitting.fit.fit`, which chapter 4 builds step by
# step; for now it is enough to know what it does: it draws a fixed random input $z$ and
# then, for `iters` steps, feeds $z$ plus a little fresh noise ("jitter") through the
# network, takes the mean squared error to the noisy image, backpropagates through every
# layer (BatchNorm's backward included) and lets the Adam optimiser update the weights. It
# returns the outputs and a history of the loss; `res.z` is the input it used.

# %%
img = sample_image(SIZE)
truth = to_tensor(img)
noisy = to_tensor(add_noise(img, 25, np.random.default_rng(1)))
cfg = unet_config("skip5-128", channels_down=(WIDTH,) * 5, channels_up=(WIDTH,) * 5,
                  channels_skip=(4,) * 5)
net = skip_unet(cfg, rng=np.random.default_rng(0))
res = fit(net, noisy, iters=ITERS, stop="none", progress=False, seed=0)
print(f"{net.num_parameters():,} parameters, {res.iters_run} iterations in "
      f"{res.seconds:.1f} s, training loss {res.history[-1]['loss']:.2e}")

net.train()
net(res.z)  # a train-mode forward pass fills each BatchNorm's cache with its input
print("first BatchNorm at each feature-map size, channel 0:")
print(f"{'pixels M':>8} {'batch var':>10} {'running var':>12} {'ratio':>6}")
seen = set()
for m in net.modules():
    if isinstance(m, nn.BatchNorm2d) and m._cache is not None:
        xin, _, istd = m._cache[:3]
        M = xin.shape[2] * xin.shape[3]
        if M in seen:
            continue
        seen.add(M)
        bvar = 1 / float(istd[0]) ** 2 - m.eps
        print(f"{M:>8} {bvar:>10.4f} {m.running_var[0]:>12.4f} {m.running_var[0] / bvar:>6.2f}")

# %% [markdown]
# The running variance is not the batch variance: it averages the last ~$1/m = 10$
# iterations, each computed on a *different* input (DIP jitters its input
# $z + \sigma_t\eta_t$ at every step, which roughly doubles the variance of the first
# layers' features compared with the clean $z$) with *older* parameters, and it carries the
# $\frac{M}{M-1}$ factor — $\frac43$ at a 2x2 map.
#
# ## 6. Why tinydip produces its output in train mode
#
# The loss was minimised for the **train-mode** function $z \mapsto f_\theta(z)$. Eval
# mode swaps in different normalisation constants, i.e. a *different* function that
# nobody optimised. Let's compare both on the fitting objective (MSE to the noisy
# observation) and against the clean truth — after the full run, and for a copy of the
# same run stopped after only 20 iterations, when the running statistics still remember
# their initial values $(0, 1)$ ($0.9^{20} \approx 12\,\%$ of them).

# %%
def mse(a, b):
    return float(np.mean((a - b) ** 2))


def train_and_eval_outputs(net, z):
    net.eval()
    out_eval = net(z)
    net.train()
    return net(z), out_eval


early_net = skip_unet(cfg, rng=np.random.default_rng(0))
early = fit(early_net, noisy, iters=20, stop="none", progress=False, seed=0)  # same run, cut
early_train, early_eval = train_and_eval_outputs(early_net, early.z)
out_train, out_eval = train_and_eval_outputs(net, res.z)

rows = {"20 iterations": (early_train, early_eval), f"{ITERS} iterations": (out_train, out_eval)}
print(f"{'':15} {'loss to observation':>24} {'PSNR to truth [dB]':>22}")
print(f"{'':15} {'train':>11} {'eval':>12} {'train':>10} {'eval':>11}")
for name, (a, b_) in rows.items():
    print(f"{name:15} {mse(a, noisy):11.2e} {mse(b_, noisy):12.2e} {psnr(a, truth):10.2f} "
          f"{psnr(b_, truth):11.2f}")
print(f"noisy input: PSNR {psnr(noisy, truth):.2f} dB")

psnr_train, psnr_eval = psnr(out_train, truth), psnr(out_eval, truth)

fig, axes = plt.subplots(1, 5, figsize=(15, 3.4), layout="constrained")
panels = {"clean": truth, f"noisy {psnr(noisy, truth):.1f} dB": noisy,
          f"train mode {psnr_train:.1f} dB": out_train, f"eval mode {psnr_eval:.1f} dB": out_eval,
          f"eval mode, 20 it. {psnr(early_eval, truth):.1f} dB": early_eval}
for ax, (title, im) in zip(axes, panels.items(), strict=True):
    ax.imshow(np.clip(to_image(im), 0, 1))
    ax.set_title(title)
    ax.axis("off")
show(fig, "train_vs_eval")

# %% [markdown]
# One fit is one sample: a different seed, or the same seed on a machine whose BLAS rounds
# differently, follows another trajectory. So let's repeat the comparison over a few seeds
# (each seed draws its own network weights, noise and input) and look at what holds in
# every one of them.

# %%
SEEDS = range(5) if QUICK else range(3)


def train_vs_eval(seed, iters):
    """(loss ratio eval/train, PSNR train - eval) of a fit of `iters` steps with this seed."""
    obs = to_tensor(add_noise(img, 25, np.random.default_rng(seed + 1)))
    seed_net = skip_unet(cfg, rng=np.random.default_rng(seed))
    r = fit(seed_net, obs, iters=iters, stop="none", progress=False, seed=seed)
    a, b_ = train_and_eval_outputs(seed_net, r.z)
    return mse(b_, obs) / mse(a, obs), psnr(a, truth) - psnr(b_, truth), psnr(a, truth) - \
        psnr(obs, truth)


seed_rows = {seed: {it: train_vs_eval(seed, it) for it in (20, ITERS)} for seed in SEEDS}
print(f"{'seed':>4} {'loss eval/train':>22} {'PSNR train - eval [dB]':>25} {'denoised by':>12}")
print(f"{'':>4} {'20 it.':>10} {f'{ITERS} it.':>11} {'20 it.':>12} {f'{ITERS} it.':>12}")
for seed, r in seed_rows.items():
    print(f"{seed:>4} {r[20][0]:10.2f} {r[ITERS][0]:11.2f} {r[20][1]:12.1f} {r[ITERS][1]:12.1f} "
          f"{r[ITERS][2]:+11.1f} dB")
ratios = [r[it][0] for r in seed_rows.values() for it in (20, ITERS)]
dpsnr = [r[it][1] for r in seed_rows.values() for it in (20, ITERS)]
gains = [r[ITERS][2] for r in seed_rows.values()]

# %% [markdown]
# In every seed, at both points, the eval-mode output fits the observation worse than the
# train-mode one — measured over seeds 0–4 with both of OpenBLAS's kernel choices and with
# 1 and 2 threads: 1.8–3.5x the loss after 20 iterations, 1.2–1.9x after 300 (quick
# mode) and 1.2–3.3x after 600 (full mode) — and it is 1–9 dB worse against the truth. The gap
# does **not** close reliably as the fit goes on: it jumps around from seed to seed and
# from checkpoint to checkpoint, because the running averages lag behind parameters that
# keep moving, and average over jittered inputs. Eval mode is a perturbation of the fitted
# function, not a better estimate of it. (Against the truth it can occasionally come out
# close in a long run, because the running averages act a bit like the output smoothing
# of chapter 4 — but that is luck, not a method.) tinydip therefore keeps BatchNorm in
# train mode from the first iteration to the returned image:
#
# * the returned image is the function that was actually fitted;
# * every image `fit` returns (last, best, the stopping rule's pick, and the smoothed
#   average of outputs) is built from outputs it actually computed and scored during
#   fitting — so "best" and early stopping mean what they say;
# * nothing depends on running statistics, which lag, average over jittered inputs, and
#   are biased at tiny feature maps.
#
# ## What this chapter promised

# %%
print(f"backward: graph vs compact / library / numerical: "
      f"{errs_dx['graph vs compact']:.1e} / {errs_dx['graph vs library']:.1e} / "
      f"{errs_dx['graph vs numerical']:.1e}")
print(f"gradient is a projection: sum dx {sum_dx:.1e}, sum dx*xhat {sum_dx_xhat:.1e}")
print(f"fused BN+LeakyReLU check: {max(err_fused.values()):.1e}, "
      f"eval-mode check: {max(err_eval.values()):.1e}")
print(f"DIP output over {len(SEEDS)} seeds: eval/train loss {min(ratios):.2f}-{max(ratios):.2f}, "
      f"train - eval {min(dpsnr):.1f}-{max(dpsnr):.1f} dB, denoised by {min(gains):+.1f} dB "
      f"or more")
print(f"total time {time.perf_counter() - T0:.1f} s")

assert errs_dx["graph vs compact"] < 1e-12 and errs_dx["graph vs library"] < 1e-12
assert errs_dx["graph vs numerical"] < 1e-8 and err_params < 1e-12
assert sum_dx < 1e-12  # sum dx = 0 per channel, exactly
assert sum_dx_xhat < 10 * EPS / x.var(axis=AX).min()  # sum dx * xhat = 0, up to eps / var
assert max(err_fused.values()) < 1e-7 and max(err_eval.values()) < 1e-7
assert sample_dependence > 1e-3  # train mode mixes the samples of a batch ...
bn.eval()
assert np.array_equal(bn(x)[0], bn(x_other)[0])  # ... eval mode does not
assert min(ratios) > 1.1  # the fitted function is the train-mode one: eval fits worse
assert min(dpsnr) > 0.5  # ... and is further from the truth, in every seed, early and late
assert running_ok  # running mean after three calls = (1 - 0.9^3) * batch mean
assert min(gains) > 1  # and train mode already denoises, in every seed
print("all chapter 3 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. Per channel, $\sum dx = 0$ exactly. What does that say about the gradient of a
#    convolution's bias placed right before a train-mode BatchNorm — and could you drop
#    that bias?
# 2. A 32x32 image reaches a 1x1 feature map after five stride-2 levels. What does a
#    train-mode BN output there, what gradient does it pass back, and how can the U-Net
#    still work?
# 3. Why is the eval-mode output of a DIP fit a different function from the one that was
#    fitted, even though the weights are the same?
#
# Short answers: `tutorials/ANSWERS.md`.
