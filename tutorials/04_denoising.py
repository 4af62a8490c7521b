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
# fall, measure what three tricks each buy — **input jitter** and **exponential
# smoothing** (both in the paper's code) and **best-output tracking** (tinydip's guard
# against blow-ups, where the paper's code backtracks) — and compare with classical
# denoisers that, like DIP, see only the noisy image.
#
# *Running time.* The full version fits the paper's 2.2-million-parameter U-Net to a
# 128x128 image twice: measured 9.7 minutes on 2 cores (`tutorials/README.md`; a progress
# bar shows the rate). `TINYDIP_QUICK=1` uses a 32x32 image, a narrow three-level U-Net and
# a few hundred iterations, so it finishes in well under a minute; the curves tell the same
# story.

# %%
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage, signal

from tinydip.degrade import add_noise
from tinydip.denoising.grouped_wiener import grouped_wiener
from tinydip.denoising.haar import haar_forward, haar_inverse
from tinydip.denoising.pilot_wiener import OPPONENT, pilot_calibration, pilot_wiener
from tinydip.fitting.fit import fit, fit_step
from tinydip.io.images import sample_image, to_image, to_tensor
from tinydip.metrics import psnr
from tinydip.models import skip_unet, unet_config
from tinydip.optim import Adam
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("04", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()


if QUICK:  # a narrow three-level U-Net on a 32x32 image
    SIZE, ITERS = 32, 400
    CONFIG = unet_config("skip5-128", channels_down=(32,) * 3, channels_up=(32,) * 3,
                         channels_skip=(4,) * 3)
else:  # the paper's denoising network: 5 levels of 128 channels, skips of 4
    SIZE, ITERS = 128, 1800
    CONFIG = unet_config("skip5-128")
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
demo = skip_unet(unet_config("skip5-128", channels_down=(8, 8), channels_up=(8, 8),
                             channels_skip=(4, 4)), rng=np.random.default_rng(0))
print(demo)
print(f"{demo.num_parameters():,} parameters")

# %% [markdown]
# Each level's way back up starts with `Upsample(2, "bilinear")`: every output pixel is a
# fixed weighted average of its nearest input pixels, no weights to learn. Its backward
# is the *adjoint* of that averaging: each input pixel collects the gradients of all the
# output pixels it contributed to, with the same weights.
#
# **Your turn:** `tinydip exercise start upsample_backward`, then
# `tinydip exercise check upsample_backward`: the bilinear x2 upsampling's backward, checked
# against finite differences and the dot-product test.
#
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
# **Your turn:** `tinydip exercise start dip_step` writes a stub of this step (jitter,
# forward, loss, backward, Adam step) to fill in; `tinydip exercise check dip_step` checks
# it against tinydip's own loop.
#
# `tinydip.fitting.fit.fit` is that loop plus bookkeeping: it pads sizes that are not a multiple of
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
# tinydip's denoising recipe keeps the jitter on and returns the smoothed output (what
# `tasks.denoise` does). The paper's official code (the `denoising.ipynb` notebook of
# DmitryUlyanov/deep-image-prior) also fits with jitter and keeps the same exponential
# average, printing its PSNR next to the raw output's. For the ablation we fit the same
# network again from the same initialisation, with the jitter switched off.

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
# shows the peak. (Ground-truth-free stopping rules are in `tinydip.fitting.stopping`.)

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
# the most noise. Without jitter the loss falls almost monotonically, so the lowest-loss
# output is (nearly) the last one and, like it, far below the peak. With jitter each step's
# loss also depends on its random jitter draw, so the lowest-loss output is one lucky late
# iterate; in the table it can land a little above or below the last output, but it stays
# clearly below the smoothed one. (The table and the asserts at the end check exactly this.)
#
# Its purpose is different: Adam occasionally takes a bad step and the loss jumps (the
# spikes in the loss curves above, each with a dip in PSNR). The paper's code guards
# against that by **backtracking**: when the PSNR of the output to the noisy image drops
# by more than 5 dB from one iteration to the next, it restores the previous weights and
# carries on. tinydip does not touch the weights; it keeps the lowest-loss output, which
# is never a blown-up one. That is tinydip's choice, not the paper's: the official
# inpainting and super-resolution notebooks simply return the final output, while
# `tasks.inpaint` and `tasks.super_resolve` return the lowest-loss one (`output="best"`),
# because there fitting the observation better really is better (chapters 5 and 6 print
# both).

# %%
def summary(result):
    h = result.history
    raw = curve(result, "psnr")
    return {
        "last": psnr(result.last, truth),
        "best (min loss)": psnr(result.best, truth),
        "best - last": psnr(result.best, truth) - psnr(result.last, truth),
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
names = ["last", "best (min loss)", "smoothed", "peak raw (oracle)"]  # bars: no differences
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
# ## 6. Against classical denoisers
#
# Is a 2-million-parameter network worth it? The fair comparison is with classical
# denoisers that, like DIP, get **only the noisy image**: no clean image to tune a
# parameter on, not even the noise level. The ones that need the noise level estimate it
# from the noisy image itself, with Donoho's robust estimator: in the finest diagonal Haar
# band, $D = (a - b - c + d)/2$ over each 2x2 block, a natural image is nearly zero and
# white noise keeps its full standard deviation $\sigma$, so
# $\hat\sigma = \mathrm{median}(|D|) / 0.6745$ (0.6745 is the median of $|\mathcal N(0, 1)|$).
#
# * **Gaussian blur**, $\sigma = 1$ pixel, and a **3x3 median** filter: fixed rules of
#   thumb, no parameter estimated;
# * **adaptive Wiener filter** (`scipy.signal.wiener`, 3x3 windows): in each window it
#   shrinks the pixel towards the local mean by how much of the local variance is noise,
#   $\hat\sigma^2$;
# * **wavelet soft-thresholding** (BayesShrink): three levels of the Haar transform
#   (`tinydip.denoising.haar.haar_forward`), every detail coefficient shrunk towards zero by
#   $t = \hat\sigma^2 / \hat\sigma_{\mathrm{band}}$, averaged over the 16 shifts of the
#   image by 0–3 pixels ("cycle spinning", which removes the Haar blocks).
#
# The truth is used only to score the results (and to show how good $\hat\sigma$ is).

# %%
def estimate_sigma(img):
    """Donoho's MAD estimate of white-noise sigma from the finest diagonal Haar band."""
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    a, b = img[0:h:2, 0:w:2], img[0:h:2, 1:w:2]
    c, d = img[1:h:2, 0:w:2], img[1:h:2, 1:w:2]
    return float(np.median(np.abs(a - b - c + d) / 2) / 0.6745)


def haar_shrink(img, sigma, levels=3, shifts=4):
    """BayesShrink soft-thresholding of the Haar details, averaged over shifts."""
    acc = np.zeros(img.shape)
    for dy in range(shifts):
        for dx in range(shifts):
            pyr = haar_forward(np.roll(img, (dy, dx), axis=(0, 1)), levels)
            for lvl, bands in enumerate(pyr.details):
                shrunk = []
                for band in bands:  # per channel: t = sigma^2 / (signal std of the band)
                    sig_band = np.sqrt(np.maximum((band**2).mean(axis=(0, 1)) - sigma**2,
                                                  1e-12))
                    t = sigma**2 / sig_band
                    shrunk.append(np.sign(band) * np.maximum(np.abs(band) - t, 0))
                pyr.details[lvl] = tuple(shrunk)
            acc += np.roll(haar_inverse(pyr), (-dy, -dx), axis=(0, 1))
    return acc / shifts**2


sigma_hat = estimate_sigma(noisy)
channels = range(noisy.shape[2])
classical = {
    "Gaussian blur 1 px": np.stack([ndimage.gaussian_filter(noisy[..., c], 1.0)
                                    for c in channels], axis=-1),
    "median 3x3": ndimage.median_filter(noisy, size=(3, 3, 1)),
    "Wiener 3x3": np.stack([signal.wiener(noisy[..., c], 3, sigma_hat**2) for c in channels],
                           axis=-1),
    "Haar BayesShrink": haar_shrink(noisy, sigma_hat),
}
classical_psnr = {name: psnr(np.clip(im, 0, 1), clean) for name, im in classical.items()}
print(f"estimated noise sigma {sigma_hat * 255:.1f} / 255 (true {SIGMA}, before clipping)")
print(f"{'PSNR [dB]':<28}{'':>8}")
print(f"{'noisy input':<28}{psnr_noisy:8.2f}")
for name, value in classical_psnr.items():
    print(f"{name:<28}{value:8.2f}")
print(f"{'DIP, jitter + smoothing':<28}{table['with jitter']['smoothed']:8.2f}")
best_classical = max(classical_psnr, key=classical_psnr.get)

fig, axes = plt.subplots(1, 4, figsize=(12.8, 3.6), layout="constrained")
for ax, (title, im) in zip(axes, {
        f"noisy {psnr_noisy:.1f} dB": noisy,
        f"{best_classical} {classical_psnr[best_classical]:.1f} dB": classical[best_classical],
        f"DIP smoothed {table['with jitter']['smoothed']:.1f} dB": to_image(res.smoothed),
        "clean": clean}.items(), strict=True):
    ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")
show(fig, "classical")

# %% [markdown]
# The fixed filters blur edges as much as noise and can even score *below* the noisy
# input; the two that adapt to the estimated noise level do much better. DIP's returned
# image beats the best of them (asserted below) — at the cost of minutes of fitting
# against well under a second. It is not state of the art: classical block matching
# (BM3D, not shown) is at least as good as DIP on Gaussian noise in published comparisons,
# and denoisers trained on many images are better still.
#
# ## 7. DIP as a pilot: one classical pass more
#
# DIP's output is smooth where the image is smooth and keeps most edges: a good guess of
# *where the image has energy*, even where its pixel values are off. BM3D's second step
# uses such a guess (a "pilot") in an **empirical Wiener filter**: cut the noisy image into
# overlapping 8x8 windows, take each window's 2-D DCT $y_k$ and the pilot's $p_k$, keep
#
# $$\hat x_k = \frac{p_k^2}{p_k^2 + \sigma^2}\, y_k ,$$
#
# i.e. a coefficient survives where the pilot says the signal is stronger than the noise,
# and average the overlapping windows back. The filter takes its values from the *noisy*
# image, so the pilot's own errors are not copied, only its judgement of what is signal.
# `tinydip.denoising.pilot_wiener.pilot_wiener` is that filter (colour images are first rotated
# to an
# orthonormal opponent colour space, where the noise stays white); `tinydip denoise` runs it
# after the fit (`--quality paper` turns it off). A better pilot should make a better pass:
# compare the DIP pilot with the best classical result as pilot.

# %%
pilots = {"DIP smoothed": np.clip(to_image(res.smoothed), 0, 1),
          best_classical: np.clip(classical[best_classical], 0, 1)}
second = {name: pilot_wiener(noisy, pilot, sigma_hat) for name, pilot in pilots.items()}
second_psnr = {name: psnr(im, clean) for name, im in second.items()}
for name in pilots:
    print(f"pilot {name:<20} {psnr(pilots[name], clean):6.2f} dB -> Wiener pass "
          f"{second_psnr[name]:6.2f} dB")

# %% [markdown]
# ### Two refinements: calibration and grouping
#
# A DIP output stopped before it fits the noise is *smoother* than the image: at high
# frequencies its $p_k^2$ is too small, and the gains above throw away detail that the
# noisy image still holds. Over all windows of the image, the noisy power less the noise,
# $\overline{y_k^2} - \sigma^2$, estimates the clean image's mean power at frequency $k$
# (for white noise $E[y_k^2] = x_k^2 + \sigma^2$), and pooled over thousands of windows it is
# precise. Its ratio $r_k$ to the pilot's mean power says how much the pilot under- (or
# over-) states each frequency; the pass uses $r_k p_k^2$ in place of $p_k^2$
# (`pilot_calibration`; `pilot_wiener(..., calibrate=False)` is the plain filter above —
# the cell above already ran the calibrated one).
#
# BM3D's second step also **groups**: for each reference window it stacks the windows
# that look most like it *in the pilot* and applies the gains in a 3-D transform of the
# stack, whose spectrum is sparser than one window's (`tinydip.denoising.grouped_wiener`, what
# `tinydip denoise` runs). How much grouping adds depends on how large and self-similar
# the image is: on this small portrait it may not pay at all, on 256x256 photos it adds
# about 0.1 dB (benchmarks/README.md measures both passes on four photos). The corner of
# the ratio table (the highest frequencies, where neither image has much power) is noisy
# on a small image; the clip to [1/4, 4] bounds what it can do.

# %%
dip = pilots["DIP smoothed"]
lum = lambda im: (im @ OPPONENT.T)[:, :, 0].astype(np.float64)  # noqa: E731 (luminance)
ratio = pilot_calibration(lum(noisy), lum(dip), sigma_hat)  # (8, 8), low frequencies first
print("r_k of the DIP pilot's luminance (rows: vertical, columns: horizontal frequency):")
print(np.array2string(ratio, precision=2, max_line_width=100))
passes = {"plain (uncalibrated)": pilot_wiener(noisy, dip, sigma_hat, calibrate=False),
          "calibrated": second["DIP smoothed"],
          "grouped + calibrated": grouped_wiener(noisy, dip, sigma_hat)}
passes_psnr = {name: psnr(im, clean) for name, im in passes.items()}
for name, value in passes_psnr.items():
    print(f"Wiener pass {name:<22} {value:6.2f} dB")

# %% [markdown]
# ## What this chapter promised
#
# * the network passes through images much cleaner than the noisy input (peak PSNR well
#   above it) — with and without jitter;
# * jitter + smoothing returns a clearly denoised image, better than the classical
#   denoisers above;
# * without jitter the network fits the noise faster (lower final loss) and the PSNR rises
#   and then falls;
# * smoothing beats the raw last output when the input is jittered;
# * the lowest-loss output is the wrong one for denoising: without jitter it is far below
#   the peak, nearer the last output than the peak, with jitter below the smoothed output;
# * a Wiener pass guided by the DIP output improves on it, and on the same pass guided by
#   the best classical denoiser;
# * the DIP output is mostly too weak (most calibration ratios above 1, the largest at high
#   frequencies), and calibrating the pilot makes the pass better.

# %%
j, nj = table["with jitter"], table["without jitter"]
print(f"noisy input                    {psnr_noisy:6.2f} dB")
print(f"peak PSNR, jitter / no jitter  {j['peak raw (oracle)']:6.2f} / "
      f"{nj['peak raw (oracle)']:.2f} dB")
print(f"returned (smoothed, jitter)    {j['smoothed']:6.2f} dB")
print(f"no jitter: peak - last         {nj['peak raw (oracle)'] - nj['last']:6.2f} dB")
print(f"final loss jitter / no jitter  {j['final loss']:.2e} / {nj['final loss']:.2e}")
print(f"best (min loss) - last, jitter / no jitter  {j['best - last']:+.2f} / "
      f"{nj['best - last']:+.2f} dB")
print(f"best classical ({best_classical})  {classical_psnr[best_classical]:6.2f} dB")
print(f"total time {time.perf_counter() - T0:.1f} s")

assert j["peak raw (oracle)"] > psnr_noisy + 2 and nj["peak raw (oracle)"] > psnr_noisy + 2
assert j["smoothed"] > psnr_noisy + 1  # the returned image is denoised
assert nj["final loss"] < j["final loss"]  # jitter slows down the fitting of noise
assert nj["peak raw (oracle)"] - nj["last"] > 0.5  # rise and fall without jitter
assert j["smoothed"] > j["last"]  # smoothing averages the jittered outputs
# the lowest-loss output: without jitter far below the peak, nearer the last output than the
# peak (Adam's last steps wobble, so the minimum can sit a few tenths of a dB above the last) ...
below_peak = nj["peak raw (oracle)"] - nj["best (min loss)"]
assert below_peak > 1.0 and nj["best - last"] < below_peak
assert j["best (min loss)"] < j["smoothed"]  # ... with jitter below the smoothed output
# the classical denoisers see only the noisy image; DIP's returned image beats them all
assert abs(sigma_hat * 255 - SIGMA) < 0.2 * SIGMA  # the noise estimate is within 20 %
assert j["smoothed"] > max(classical_psnr.values())
# the Wiener pass: better than its DIP pilot, and a better pilot makes a better pass
assert second_psnr["DIP smoothed"] > j["smoothed"] + 0.2
assert second_psnr["DIP smoothed"] > second_psnr[best_classical]
assert np.median(ratio) > 1  # the pilot is mostly too weak (smoother than the image) ...
assert passes_psnr["calibrated"] > passes_psnr["plain (uncalibrated)"]  # ... calibration pays
print("all chapter 4 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. The training loss eventually falls below the noise energy (the dotted line). Why
#    does that prove the network has started to reproduce noise?
# 2. Why does averaging the outputs of *jittered* inputs help more than averaging the
#    outputs of un-jittered ones would?
# 3. The Wiener filter and wavelet shrinkage needed the noise level; DIP did not. What
#    plays the role of the noise level in DIP — what decides how much it removes?
#
# Short answers: `tutorials/ANSWERS.md`.
