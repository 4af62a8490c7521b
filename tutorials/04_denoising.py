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
# # Chapter 4 — Deep Image Prior denoising
#
# Ulyanov, Vedaldi and Lempitsky (2018) made a surprising observation. Take a randomly
# initialised convolutional network $f_\theta$, feed it a *fixed* random input $z$, and
# train it to reproduce a single noisy photograph $x_0$:
#
# $$\theta^\* = \arg\min_\theta \; \lVert f_\theta(z) - x_0 \rVert^2 .$$
#
# No training set, no clean images — and yet, long before the network manages to
# reproduce the noise, it passes through images that are *cleaner* than $x_0$. The
# architecture itself is the prior: a conv net finds natural image structure much easier
# to produce than noise.
#
# In this chapter we build the network, write the fitting loop, watch the PSNR rise and
# fall, and measure what the three tricks of the paper each buy: **input jitter**,
# **best-output tracking** and **exponential smoothing**.
#
# *Running time.* The full version fits the paper's 2.2-million-parameter U-Net to a
# 128x128 image twice — roughly 10–30 minutes on a laptop CPU (a progress bar shows the
# rate). `TINYDIP_QUICK=1` uses a 32x32 image, a narrow three-level U-Net and a few hundred
# iterations, so it finishes in seconds; the curves tell the same story.

# %%
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np

from tinydip.degrade import add_noise
from tinydip.fit import fit, fit_step
from tinydip.images import sample_image, to_image, to_tensor
from tinydip.metrics import psnr
from tinydip.models import skip_unet, unet_config
from tinydip.optim import Adam
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("04", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()


if QUICK:  # a narrow three-level U-Net on a 32x32 image
    SIZE, ITERS = 32, 400
    CONFIG = unet_config("denoise", channels_down=(32,) * 3, channels_up=(32,) * 3,
                         channels_skip=(4,) * 3)
else:  # the paper's denoising network: 5 levels of 128 channels, skips of 4
    SIZE, ITERS = 128, 1800
    CONFIG = unet_config("denoise")
SIGMA = 25  # noise standard deviation on the 0-255 scale, as in the paper
print("quick mode" if QUICK else "full mode", f"- {SIZE}x{SIZE} image, {ITERS} iterations")

# %% [markdown]
# ## 1. The data
#
# The built-in test image (Grace Hopper, shipped with matplotlib), with additive white
# Gaussian noise of standard deviation 25/255, clipped to $[0, 1]$. Image quality is
# measured by the **peak signal-to-noise ratio** against the clean image,
# $\mathrm{PSNR} = 10 \log_{10} (1 / \mathrm{MSE})$ dB: every halving of the squared error
# adds 3 dB.

# %%
clean = sample_image(SIZE)  # (H, W, 3) float32 in [0, 1]
noisy = add_noise(clean, SIGMA, np.random.default_rng(1))
psnr_noisy = psnr(noisy, clean)
print(f"noisy image: PSNR {psnr_noisy:.2f} dB")
truth, observation = to_tensor(clean), to_tensor(noisy)  # (1, 3, H, W) for the network

# %% [markdown]
# ## 2. The network: an hourglass built from `Sequential` and `Concat`
#
# The "skip" network of the paper is a U-Net. Each level halves the resolution on the way
# down (a stride-2 3x3 conv), recurses into the next level, upsamples by 2 on the way
# back, and concatenates a thin 1x1 **skip** branch computed at the level's own
# resolution:
#
# ```
# level i:  Concat( skip_i, deeper_i ) -> BN -> 3x3 conv -> BN+LReLU -> 1x1 conv -> BN+LReLU
#           skip_i   = 1x1 conv -> BN+LReLU
#           deeper_i = 3x3 conv stride 2 -> BN+LReLU -> 3x3 conv -> BN+LReLU
#                      -> level i+1 -> Upsample x2
# ```
#
# In tinydip that is literally nested modules: `Concat(branch_a, branch_b)` runs both
# branches on the same input and stacks their outputs along channels; its backward splits
# the gradient by channels and **adds** the two input gradients. Here is a two-level
# version with 8 channels, small enough to read:

# %%
demo = skip_unet(unet_config("denoise", channels_down=(8, 8), channels_up=(8, 8),
                             channels_skip=(4, 4)), rng=np.random.default_rng(0))
print(demo)
print(f"{demo.num_parameters():,} parameters")

# %% [markdown]
# And the network we fit in this chapter:

# %%
net = skip_unet(CONFIG, rng=np.random.default_rng(0))
kinds = Counter(type(m).__name__ for m in net.modules())
print(f"levels {CONFIG.levels}, channels {tuple(CONFIG.channels_down)}, "
      f"skips {tuple(CONFIG.channels_skip)}, input depth {CONFIG.in_channels}")
print("modules:", dict(kinds))
per_kind = Counter()
for m in net.modules():
    if type(m).__name__ in ("Conv2d", "BatchNorm2d"):
        key = f"Conv2d {m.kernel_size}x{m.kernel_size}" if hasattr(m, "kernel_size") \
            else "BatchNorm2d"
        per_kind[key] += sum(p.data.size for p in (m.weight, m.bias) if p is not None)
for key, n in sorted(per_kind.items()):
    print(f"  {key:<12} {n:>10,} parameters")
n_params = net.num_parameters()
print(f"  {'total':<12} {n_params:>10,} parameters for {observation.size:,} observed values")

# %% [markdown]
# More parameters than pixels — in the full version, about 45 times more. This network
# *can* reproduce the noise exactly. What saves us is *when* it does so.
#
# ## 3. The fitting loop
#
# Stripped to its core, Deep Image Prior is five lines: a fixed input
# $z \sim U(0, 0.1)$ with 32 channels, Adam with learning rate 0.01, and every step a fresh
# jitter $\eta_t \sim \mathcal N(0, I)$ added to $z$ (more on that below):

# %%
rng = np.random.default_rng(0)
z = (rng.random((1, CONFIG.in_channels, SIZE, SIZE)) * 0.1).astype(np.float32)
toy = skip_unet(CONFIG, rng=np.random.default_rng(0))
opt = Adam(toy.parameters(), lr=0.01)
for it in range(5):
    zin = z + np.float32(1 / 30) * rng.standard_normal(z.shape, dtype=np.float32)
    # fit_step: out = toy(zin) (forward); loss, dout = mse_loss(out, observation) (E and
    # dE/dout); toy.zero_grad(); toy.backward(dout) (handwritten backprop, chapters 1-3);
    # opt.step() -- the one step every fitting loop in tinydip runs
    loss = fit_step(toy, opt, zin, observation).loss
    print(f"step {it}: loss {loss:.4f}")

# %% [markdown]
# `tinydip.fit.fit` is that loop plus bookkeeping: it pads sizes that are not a multiple of
# the network's downsampling factor, keeps the output with the lowest loss ("best"), an
# exponential moving average of the outputs ("smoothed"), records loss and — if we pass
# the clean image as `truth`, *for plotting only* — the PSNR at every iteration, and can
# stop early (`stop="none"` runs the whole budget; we want the whole curve).
#
# ## 4. Fitting: the image comes before the noise

# %%
res = fit(net, observation, truth=truth, iters=ITERS, stop="none", seed=0,
          progress=not QUICK)
print(f"{res.iters_run} iterations in {res.seconds:.1f} s "
      f"({res.seconds_per_iter * 1e3:.0f} ms per iteration)")

# %% [markdown]
# The paper's denoising recipe keeps the jitter on and returns the smoothed output. For the
# ablation we fit the same network again from the same initialisation, with the jitter
# switched off.

# %%
peak = {"psnr": -np.inf}


def keep_peak(it, info):
    """Called by fit every iteration: keep the output with the highest PSNR (an oracle!)."""
    if info["psnr"] > peak["psnr"]:
        peak.update(psnr=info["psnr"], iter=it, image=to_image(info["output"]).copy())


res_nojit = fit(skip_unet(CONFIG, rng=np.random.default_rng(0)), observation, truth=truth,
                iters=ITERS, stop="none", seed=0, reg_noise_std=0.0, progress=not QUICK,
                callback=keep_peak, callback_every=1)
print(f"without jitter: {res_nojit.seconds:.1f} s")


def curve(result, key):
    return np.array([h[key] for h in result.history])


its = np.arange(ITERS)
fig, (ax_l, ax_p) = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
ax_l.semilogy(its, curve(res, "loss"), lw=0.8, label="with jitter")
ax_l.semilogy(its, curve(res_nojit, "loss"), lw=0.8, label="without jitter")
noise_var = float(np.mean((noisy - clean) ** 2))
ax_l.axhline(noise_var, color="k", ls=":", lw=1, label="noise energy")
ax_l.set_xlabel("iteration")
ax_l.set_ylabel("training loss  MSE(f(z), noisy)")
ax_l.legend()
ax_l.grid(True, alpha=0.3)
ax_p.plot(its, curve(res_nojit, "psnr"), lw=0.8, color="tab:orange", alpha=0.8,
          label="without jitter (raw)")
ax_p.plot(its, curve(res, "psnr"), lw=0.6, color="tab:blue", alpha=0.5,
          label="with jitter (raw)")
ax_p.plot(its, curve(res, "psnr_smoothed"), lw=1.8, color="tab:blue",
          label="with jitter, smoothed")
ax_p.axhline(psnr_noisy, color="k", ls=":", lw=1, label="noisy input")
ax_p.set_ylim(psnr_noisy - 6, None)
ax_p.set_xlabel("iteration")
ax_p.set_ylabel("PSNR to the clean image [dB]")
ax_p.legend(loc="lower right")
ax_p.grid(True, alpha=0.3)
show(fig, "psnr_curves")

# %% [markdown]
# Read the right panel from left to right. The PSNR climbs far above the noisy input's:
# the network first reproduces the large, smooth, structured parts of the image. Then,
# without jitter, it starts to fit the noise too and the PSNR falls back towards the
# noisy input's, while the training loss (left) keeps going down — through the noise
# energy line, below which it can only be reproducing noise. The training loss alone never
# tells you when to stop: it is the clean image, which we do not have in practice, that
# shows the peak. (Ground-truth-free stopping rules are in `tinydip.stopping`.)

# %%
panels = {
    f"noisy {psnr_noisy:.1f} dB": noisy,
    f"no jitter, peak (it. {peak['iter']}) {peak['psnr']:.1f} dB": peak["image"],
    f"no jitter, last {psnr(res_nojit.last, truth):.1f} dB": to_image(res_nojit.last),
    f"jitter, smoothed {psnr(res.smoothed, truth):.1f} dB": to_image(res.smoothed),
    "clean": clean,
}
fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6),
                         layout="constrained")
for ax, (title, im) in zip(axes, panels.items(), strict=True):
    ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
show(fig, "images")

# %% [markdown]
# ## 5. What each trick buys
#
# **Input jitter.** At every step the input is $z + \sigma\eta_t$ with a fresh
# $\eta_t \sim \mathcal N(0, I)$ and $\sigma = 1/30$. To fit the noise, the network must
# map *every* jittered input to the *same* noisy pixels, which is much harder than
# producing a smooth image that is roughly right for all of them. The jitter slows down
# the fitting of noise (the training loss stays higher) and so flattens the fall.
#
# **Exponential smoothing.** The returned image is
# $\bar x_t = 0.99\,\bar x_{t-1} + 0.01\, f_{\theta_t}(z + \sigma\eta_t)$: an average over
# roughly the last 100 outputs. With jitter each output is a slightly different sample;
# averaging them is a free ensemble that cancels much of their disagreement. (It lags at
# the start — it begins from the grey first output — which is why the smoothed curve
# starts low.)
#
# **Best-output tracking.** `fit` also keeps the output with the lowest training loss.
# For denoising that is the *wrong* thing to want — the lowest loss is the one that fits
# the most noise — and in the table it is no better than the last output, far below the
# peak. Its purpose is different: Adam occasionally takes a bad step and the loss jumps
# (the spikes in the loss curves above, each with a dip in PSNR). Keeping the best output
# protects against such blow-ups in tasks where fitting the observation better really is
# better (inpainting and super-resolution use `output="best"`).

# %%
def summary(result):
    h = result.history
    raw = curve(result, "psnr")
    return {
        "last": psnr(result.last, truth),
        "best (min loss)": psnr(result.best, truth),
        "smoothed": psnr(result.smoothed, truth),
        "peak raw (oracle)": float(raw.max()),
        "peak at iteration": int(raw.argmax()),
        "final loss": h[-1]["loss"],
    }


table = {"with jitter": summary(res), "without jitter": summary(res_nojit)}
print(f"PSNR [dB] after {ITERS} iterations (noisy input: {psnr_noisy:.2f} dB)")
print(f"{'':20}" + "".join(f"{k:>16}" for k in table))
for row in table["with jitter"]:
    cells = "".join(f"{table[k][row]:>16.2e}" if row == "final loss" else
                    f"{table[k][row]:>16d}" if row == "peak at iteration" else
                    f"{table[k][row]:>16.2f}" for k in table)
    print(f"{row:<20}{cells}")

fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
names = ["last", "best (min loss)", "smoothed", "peak raw (oracle)"]
xpos = np.arange(len(names))
for k, (label, row) in enumerate(table.items()):
    ax.bar(xpos + 0.38 * (k - 0.5), [row[n] - psnr_noisy for n in names], 0.38, label=label)
ax.set_xticks(xpos, names)
ax.set_ylabel("PSNR gain over the noisy input [dB]")
ax.axhline(0, color="k", lw=0.8)
ax.legend()
ax.grid(True, axis="y", alpha=0.3)
show(fig, "ablation")

# %% [markdown]
# ## What this chapter promised
#
# * the network passes through images much cleaner than the noisy input (peak PSNR well
#   above it) — with and without jitter;
# * the paper's recipe (jitter + smoothing) returns a clearly denoised image;
# * without jitter the network fits the noise faster (lower final loss) and the PSNR rises
#   and then falls;
# * smoothing beats the raw last output when the input is jittered.

# %%
j, nj = table["with jitter"], table["without jitter"]
print(f"noisy input                    {psnr_noisy:6.2f} dB")
print(f"peak PSNR, jitter / no jitter  {j['peak raw (oracle)']:6.2f} / "
      f"{nj['peak raw (oracle)']:.2f} dB")
print(f"returned (smoothed, jitter)    {j['smoothed']:6.2f} dB")
print(f"no jitter: peak - last         {nj['peak raw (oracle)'] - nj['last']:6.2f} dB")
print(f"final loss jitter / no jitter  {j['final loss']:.2e} / {nj['final loss']:.2e}")
print(f"total time {time.perf_counter() - T0:.1f} s")

assert j["peak raw (oracle)"] > psnr_noisy + 2 and nj["peak raw (oracle)"] > psnr_noisy + 2
assert j["smoothed"] > psnr_noisy + 1  # the returned image is denoised
assert nj["final loss"] < j["final loss"]  # jitter slows down the fitting of noise
assert nj["peak raw (oracle)"] - nj["last"] > 0.5  # rise and fall without jitter
assert j["smoothed"] > j["last"]  # smoothing averages the jittered outputs
print("all chapter 4 checks passed")
