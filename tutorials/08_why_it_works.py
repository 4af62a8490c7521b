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
# # Chapter 8 — Why it works
#
# Chapters 4–7 *used* the fact that an untrained convolutional network, fitted to one
# image, reproduces the image before the noise. This chapter looks at the fact itself.
#
# 1. **The central experiment of the paper** (Ulyanov et al. 2018, their Figure 2): the
#    same network, from the same initialisation, fitted to four targets — a natural image,
#    the image plus noise, the image with its pixels shuffled, and pure noise. All four can
#    be fitted (the network has more parameters than the targets have values), but not
#    equally fast.
# 2. **Why: spectral bias.** We split the fitting error of the noisy image into frequency
#    bands and watch them over the iterations: the low frequencies are fitted first. Part
#    of the reason is built into the architecture — the *fixed* interpolation of the
#    upsampling layers, which passes low frequencies and damps high ones.
# 3. **The Deep Decoder's argument** (Heckel & Hand 2019): with *fewer* parameters than
#    pixels the network cannot fit the noise at all, however long it runs.
#
# *Running time.* Full version: a 64x64 image, a four-level U-Net with 32 channels, four
# fits of 500 iterations and two Deep Decoder fits of 3000 — 2 minutes of CPU time on two
# cores (5.6 minutes measured on a busy machine). `TINYDIP_QUICK=1`: 32x32, three levels,
# 100 iterations per fit, about 15 seconds.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from tinydip.degrade import add_noise
from tinydip.fitting.fit import fit
from tinydip.functional import upsample_forward
from tinydip.io.images import sample_image, to_image, to_tensor
from tinydip.metrics import psnr
from tinydip.models import deep_decoder, skip_unet, unet_config
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("08", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()

if QUICK:  # a narrow three-level U-Net on a 32x32 image
    SIZE, ITERS, LEVELS, WIDTH = 32, 100, 3, 32
    DECODER = {"k": 16, "layers": 4}
    DEC_ITERS = 1500  # 400 stopped short of the floor: +0.7 dB with one BLAS, -0.4 with another
else:
    SIZE, ITERS, LEVELS, WIDTH = 64, 500, 4, 32
    DECODER = {"k": 32, "layers": 5}
    DEC_ITERS = 3000
CONFIG = unet_config("skip5-128", channels_down=(WIDTH,) * LEVELS, channels_up=(WIDTH,) * LEVELS,
                     channels_skip=(4,) * LEVELS)
SIGMA = 25
print("quick mode" if QUICK else "full mode", f"- {SIZE}x{SIZE} image, {ITERS} iterations")

# %% [markdown]
# ## 1. Four targets, one network
#
# * **image**: the clean sample photo;
# * **image + noise**: the same with Gaussian noise of $\sigma = 25/255$ (chapter 4);
# * **shuffled**: the image's pixels in a random order — the *same* values, the same
#   histogram, the same mean and variance, but no spatial structure;
# * **noise**: independent $U(0, 1)$ values in every pixel and channel.
#
# Each is fitted by the same U-Net from the same initial weights and the same input $z$,
# with Adam at lr 0.01 and *without* input jitter (we want to see how fast the network can
# fit each target, not regularise it). The targets have different variances — $U(0,1)$ has
# $1/12 \approx 0.083$, the image less — so we plot the loss **relative to the target's
# variance**, $\mathrm{MSE}(f_\theta(z), y) / \mathrm{Var}(y)$: the fraction of the target
# not yet explained (1 = no better than a flat grey image of the right mean).

# %%
rng = np.random.default_rng(1)
clean = sample_image(SIZE)  # (H, W, 3) float32 in [0, 1]
noisy = add_noise(clean, SIGMA, rng)
flat = clean.reshape(-1, 3)
shuffled = flat[rng.permutation(flat.shape[0])].reshape(clean.shape)  # same pixels, new order
noise = rng.random(clean.shape, dtype=np.float32)  # U(0, 1)
targets = {"image": clean, "image + noise": noisy, "shuffled": shuffled, "noise": noise}
noise_var = float(np.mean((noisy - clean) ** 2))  # the noise actually added (after clipping)
print(f"variance: image {clean.var():.4f}, shuffled {shuffled.var():.4f}, "
      f"noise {noise.var():.4f}; added noise {noise_var:.5f} (sigma^2 = {(SIGMA / 255)**2:.5f})")

# %% [markdown]
# While fitting the noisy image we also record the output every few iterations (the
# `callback` of `fit`), for the frequency analysis of section 2.

# %%
SNAP_EVERY = 5 if QUICK else 10
snaps = {name: {} for name in targets}  # target -> {iteration: output (1, 3, H, W)}

curves, results = {}, {}
for name, target in targets.items():
    y = to_tensor(target)  # (1, 3, H, W)
    net = skip_unet(CONFIG, rng=np.random.default_rng(0))  # the same initial weights
    res = fit(net, y, iters=ITERS, stop="none", seed=0, reg_noise_std=0.0,
              progress=not QUICK, callback_every=SNAP_EVERY,
              callback=lambda it, info, keep=snaps[name]: keep.update({it: info["output"].copy()}))
    curves[name] = np.array([h["loss"] for h in res.history]) / float(target.var())
    results[name] = res
    print(f"{name:>14}: relative loss after {ITERS // 10:>4} / {ITERS // 2:>4} / {ITERS:>4} "
          f"iterations: {curves[name][ITERS // 10 - 1]:.3f} / {curves[name][ITERS // 2 - 1]:.3f}"
          f" / {curves[name][-1]:.4f}   ({res.seconds:.1f} s)")
n_params = net.num_parameters()
print(f"the U-Net has {n_params:,} parameters for {clean.size:,} target values")

# %% [markdown]
# How long does each target take until 80% of its variance is explained (relative loss
# below 0.2)? (For the noisy image that is short of its noise: the noise is 11% of its
# variance.)

# %%
THRESHOLD = 0.2


def first_below(curve, level):
    """First iteration with curve < level (len(curve) if never)."""
    hit = np.flatnonzero(curve < level)
    return int(hit[0]) if hit.size else len(curve)


reach = {name: first_below(c, THRESHOLD) for name, c in curves.items()}
for name, it in reach.items():
    print(f"{name:>14}: {'never within the budget' if it == ITERS else f'iteration {it}'}")

fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
for name, c in curves.items():
    ax.semilogy(np.arange(1, ITERS + 1), c, lw=1.2, label=name)
ax.axhline(THRESHOLD, color="k", ls=":", lw=1)
ax.set_xlabel("iteration")
ax.set_ylabel("MSE(f(z), target) / Var(target)")
ax.set_title("the same U-Net fitted to four targets")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
show(fig, "four_targets")

# %% [markdown]
# The network fits all four — it has far more parameters than there are values — but the
# natural image comes first, the noisy image next, and the two targets without spatial
# structure last. The shuffled image has exactly the same values as the natural image:
# only their *arrangement* differs, and the arrangement decides the speed. A natural image
# is something this architecture produces easily; noise is something it produces only
# when pushed for long. That gap in *time* is the whole prior: stop in between and you
# keep the image and leave the noise. Note how the noisy image's curve bends near 0.1 —
# the noise's share of its variance: once the image part is explained, what is left is
# noise, and it falls no faster than the structureless targets, which catch up with it in
# a long enough run.

# %%
EARLY = reach["image"] // SNAP_EVERY * SNAP_EVERY  # a snapshot near the image's threshold
fig, axes = plt.subplots(3, 4, figsize=(12, 9.4), layout="constrained")
for col, (name, target) in enumerate(targets.items()):
    axes[0, col].imshow(target, interpolation="nearest")
    axes[0, col].set_title(f"target: {name}", fontsize=10)
    for row, it in ((1, EARLY), (2, ITERS - 1)):
        axes[row, col].imshow(np.clip(to_image(snaps[name][it]), 0, 1),
                              interpolation="nearest")
        axes[row, col].set_title(f"iteration {it} (rel. loss {curves[name][it]:.3f})",
                                 fontsize=10)
for ax in axes.flat:
    ax.axis("off")
show(fig, "four_fits")

# %% [markdown]
# ## 2. Spectral bias: low frequencies first
#
# Write the residual of the noisy fit, $r_t = f_{\theta_t}(z) - y$, in the Fourier domain
# and split the frequency plane into rings by radial frequency
# $\lvert\omega\rvert = \sqrt{\omega_x^2 + \omega_y^2}$ (in cycles per pixel; 0.5 is the
# finest pattern a pixel grid holds). For each band $B$ the relative error
#
# $$e_B(t) = \frac{\sum_{\omega \in B} \lvert \hat r_t(\omega)\rvert^2}
#                 {\sum_{\omega \in B} \lvert \hat y(\omega)\rvert^2}$$
#
# is the fraction of the target's content in that band not yet reproduced. White noise
# spreads its energy evenly over the plane, a natural image concentrates its energy at low
# frequencies: so the high bands of the noisy target are mostly noise, the low bands mostly
# image.

# %%
BANDS = [(0.0, 1 / 16), (1 / 16, 1 / 8), (1 / 8, 1 / 4), (1 / 4, 1.0)]
BAND_NAMES = ["< 1/16", "1/16 - 1/8", "1/8 - 1/4", "> 1/4"]


def radial_frequency(h, w):
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    return np.sqrt(fy**2 + fx**2)  # (h, w), cycles per pixel


def band_energy(x):
    """Energy of x (..., H, W) in each band of BANDS, summed over the leading axes."""
    power = np.abs(np.fft.fft2(np.asarray(x, dtype=np.float64))) ** 2
    power = power.reshape(-1, *power.shape[-2:]).sum(axis=0)  # (H, W)
    rad = radial_frequency(*power.shape)
    return np.array([power[(rad >= lo) & (rad < hi)].sum() for lo, hi in BANDS])


y_noisy = to_tensor(noisy)
target_bands = band_energy(y_noisy)
snapshots = snaps["image + noise"]
snap_its = np.array(sorted(snapshots))
band_err = np.array([band_energy(snapshots[i] - y_noisy) / target_bands for i in snap_its])
noise_bands = band_energy(to_tensor(noisy - clean))
print("share of the noisy target's energy that is noise, per band: "
      + ", ".join(f"{n} {s:.2f}" for n, s in zip(BAND_NAMES, noise_bands / target_bands,
                                                  strict=True)))
HALF = 0.5
band_reach = [int(snap_its[np.argmax(e < HALF)]) if (e < HALF).any() else ITERS
              for e in band_err.T]
for name, it, e in zip(BAND_NAMES, band_reach, band_err[-1], strict=True):
    print(f"band {name:>10}: half fitted at iteration {it:>4}, final relative error {e:.3f}")

fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
for name, e in zip(BAND_NAMES, band_err.T, strict=True):
    ax.semilogy(snap_its, e, lw=1.5, label=f"|w| {name}")
ax.axhline(HALF, color="k", ls=":", lw=1)
ax.set_xlabel("iteration")
ax.set_ylabel("relative error in the band")
ax.set_title("fitting the noisy image, band by band (cycles per pixel)")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
show(fig, "bands")

# %% [markdown]
# The bands are fitted in order of frequency: the coarse content within the first few
# dozen iterations, the finest band — where the noise is a large share of the energy
# (printed above) — far later. This is the
# **spectral bias** of neural networks (Rahaman et al. 2019): gradient descent fits the
# low-frequency components of a target first. For the noisy image, "low frequencies
# first" is almost "image first".
#
# ### Where the bias comes from: the fixed interpolation
#
# The U-Net makes its output by upsampling coarse feature maps, and its upsampling layers
# have **no parameters**: bilinear upsampling by 2 is a fixed filter. In one dimension
# each output sample is $\tfrac34$ of the nearer and $\tfrac14$ of the farther input
# sample, the kernel $[\tfrac14, \tfrac34, \tfrac34, \tfrac14]$, whose frequency response
# falls from 1 at $\omega = 0$ to 0 at the new Nyquist frequency $\omega = \tfrac12$.
# Whatever the coarse levels produce, they reach the output only through this low-pass
# filter. We see it by passing white noise through one, two and three bilinear x2
# upsamplings, and by looking at what a *random, untrained* U-Net outputs for its random
# input $z$: its output spectrum, compared with white noise's.


# %%
def radial_profile(x, nbins=16):
    """Mean power per radial frequency bin of x (..., H, W), normalised to total 1."""
    power = np.abs(np.fft.fft2(np.asarray(x, dtype=np.float64))) ** 2
    power = power.reshape(-1, *power.shape[-2:]).sum(axis=0)
    rad = radial_frequency(*power.shape)
    rad[0, 0] = -1.0  # the mean (zero frequency) falls in no bin
    edges = np.linspace(1 / power.shape[-1], 0.5, nbins + 1)
    prof = np.array([power[(rad >= lo) & (rad < hi)].mean()
                     for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    return 0.5 * (edges[:-1] + edges[1:]), prof / prof.sum()


def high_share(x):
    """Share of x's energy (mean removed) above 1/4 cycle per pixel."""
    e = band_energy(x - np.mean(x, axis=(-2, -1), keepdims=True))
    return float(e[-1] / e.sum())


white = np.random.default_rng(2).standard_normal((8, 1, SIZE, SIZE)).astype(np.float32)
spectra = {"white noise": white}
for times in (1, 2, 3):
    small = np.random.default_rng(2).standard_normal(
        (8, 1, SIZE >> times, SIZE >> times)).astype(np.float32)
    for _ in range(times):
        small, _ = upsample_forward(small, 2, "bilinear")
    spectra[f"bilinear x2, {times}x"] = small
outs = []
for seed in range(4):
    rnet = skip_unet(CONFIG, rng=np.random.default_rng(10 + seed))
    z = (np.random.default_rng(seed).random((1, CONFIG.in_channels, SIZE, SIZE))
         * 0.1).astype(np.float32)
    outs.append(rnet(z))  # (1, 3, H, W), untrained
untrained = np.concatenate(outs)
spectra["untrained U-Net output"] = untrained
spectra["natural image"] = to_tensor(clean)
shares = {name: high_share(x) for name, x in spectra.items()}
for name, s in shares.items():
    print(f"{name:>24}: {100 * s:5.1f}% of the energy above 1/4 cycle per pixel")

fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
for name, x in spectra.items():
    f, prof = radial_profile(x)
    ax.semilogy(f, prof, lw=1.5, ls="--" if "bilinear" in name else "-", label=name)
ax.set_xlabel("radial frequency |w| [cycles per pixel]")
ax.set_ylabel("power (normalised)")
ax.legend(fontsize=9)
ax.grid(True, which="both", alpha=0.3)
show(fig, "spectra")

# %% [markdown]
# White noise is flat: about 80% of its energy lies above 1/4 cycle per pixel simply
# because most of the frequency plane does. A single bilinear upsampling leaves a fraction
# of that; two or three leave almost nothing up there. The untrained network — random
# weights, random input — already outputs a smooth image whose spectrum falls off steeply,
# in the same range as a natural image's. Training moves the weights, not the upsampling:
# to produce high frequencies the network has to work against its own interpolation
# (through the thin full-resolution skip branches and the 3x3 convs after each
# upsampling), and that is slow.
# Content that is smooth at coarse scales is cheap, independent pixel values are expensive.
#
# ## 3. The Deep Decoder: too small to fit noise
#
# The U-Net above has far more parameters than pixels, so in the end it fits anything; it
# relies on being stopped in time. The Deep Decoder (chapter 7) is built the other way
# round: 1x1 convolutions, bilinear upsampling, ReLU and BatchNorm, with **fewer parameters
# than the image has values**. Heckel and Hand's argument: with $N$ parameters and $n$
# pixel values, the outputs the network can produce form (locally) an $N$-dimensional
# family; noise is spread evenly over all $n$ dimensions, so at most a fraction of about
# $N/n$ of its energy can be absorbed, *no matter how long we fit*. The smooth image, on
# the other hand, lies close to what the upsampling chain produces.
#
# We fit a decoder to the noisy image for many iterations (no early stopping), and to pure
# noise. If it reproduced the image and none of the noise, its loss against the noisy
# target would settle at the noise variance $\sigma^2$.

# %%
def fit_decoder(target, iters):
    dnet = deep_decoder(**DECODER, rng=np.random.default_rng(0))
    return fit(dnet, to_tensor(target), iters=iters, stop="none", seed=0, reg_noise_std=0.0,
               progress=not QUICK), dnet.num_parameters()


dec_noisy, n_dec = fit_decoder(noisy, DEC_ITERS)
dec_noise, _ = fit_decoder(noise, DEC_ITERS)
dec_loss = np.array([h["loss"] for h in dec_noisy.history])
dec_psnr = psnr(dec_noisy.last, to_tensor(clean))
dec_noise_rel = dec_noise.history[-1]["loss"] / float(noise.var())
unet_noisy_loss = curves["image + noise"] * float(noisy.var())
print(f"Deep Decoder {DECODER}: {n_dec:,} parameters for {clean.size:,} values "
      f"(N/n = {n_dec / clean.size:.2f})")
print(f"  fitted to the noisy image for {DEC_ITERS} iterations: final loss {dec_loss[-1]:.5f}"
      f" = {dec_loss[-1] / noise_var:.2f} x the noise variance {noise_var:.5f}")
print(f"  its output vs the clean image: {dec_psnr:.2f} dB (noisy input "
      f"{psnr(noisy, clean):.2f} dB)")
print(f"  fitted to U(0,1) noise: relative loss {dec_noise_rel:.3f} (explains "
      f"{100 * (1 - dec_noise_rel):.0f}% of the noise's variance)")
print(f"U-Net ({n_params:,} parameters) on the noisy image: final loss {unet_noisy_loss[-1]:.5f}"
      f" = {unet_noisy_loss[-1] / noise_var:.2f} x the noise variance after {ITERS} iterations")

fig, ax = plt.subplots(figsize=(7.5, 4.2), layout="constrained")
ax.semilogy(np.arange(1, DEC_ITERS + 1), dec_loss, lw=1.2,
            label=f"Deep Decoder, {n_dec:,} parameters")
ax.semilogy(np.arange(1, ITERS + 1), unet_noisy_loss, lw=1.2,
            label=f"U-Net, {n_params:,} parameters")
ax.axhline(noise_var, color="k", ls=":", lw=1, label="noise variance")
ax.set_xlabel("iteration")
ax.set_ylabel("MSE to the noisy image")
ax.set_title(f"fitting the noisy image ({clean.size:,} values)")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
show(fig, "decoder_floor")

# %% [markdown]
# The decoder's loss creeps down to about the noise variance and no further, after
# thousands of iterations: it has reproduced roughly the image and not the noise — its
# output is clearly closer to the clean image than the noisy input is, with no stopping
# rule at all. Fitted to pure noise it explains only a small part of the variance. The
# U-Net, with many times more parameters than values, goes below the noise line: it is
# fitting noise. Underparameterisation trades early stopping for a capacity limit — at the
# price of detail: the decoder also cannot reproduce the finest *image* structure, which
# limits its denoised PSNR too.
#
# ## What this chapter promised
#
# * fitting speed: natural image < noisy image < shuffled image and noise (iterations to
#   explain 80% of the target's variance);
# * the low-frequency band of the noisy target is fitted before the highest band;
# * bilinear upsampling and an untrained U-Net put much less of their energy at high
#   frequencies than white noise;
# * the Deep Decoder has fewer parameters than the image has values, and its loss on the
#   noisy image stays near the noise variance (it does not fit the noise; its output is
#   better than the noisy input without any stopping rule), while the U-Net goes below it.

# %%
print(f"iterations to relative loss {THRESHOLD}: " +
      ", ".join(f"{k} {v}" for k, v in reach.items()))
print(f"bands half fitted at iterations {band_reach}")
print(f"decoder loss / noise variance {dec_loss[-1] / noise_var:.2f}, "
      f"U-Net {unet_noisy_loss[-1] / noise_var:.2f}")
print(f"total time {time.perf_counter() - T0:.1f} s")

assert reach["image"] < reach["image + noise"] < min(reach["shuffled"], reach["noise"])
assert band_reach[0] < band_reach[-1]  # low frequencies first
assert band_err[len(band_err) // 4, 0] < band_err[len(band_err) // 4, -1]
assert shares["bilinear x2, 1x"] < shares["white noise"] - 0.2
assert shares["untrained U-Net output"] < 0.5 * shares["white noise"]
assert n_dec < clean.size  # fewer parameters than values
assert dec_loss[-1] > 0.7 * noise_var  # it cannot fit the noise
assert dec_noise_rel > 0.5  # nor pure noise
assert dec_psnr > psnr(noisy, clean) + 0.5  # it denoises without being stopped
assert unet_noisy_loss[-1] < dec_loss[-1]  # the overparameterised U-Net can
print("All chapter 8 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. The shuffled image has exactly the values of the natural image. Why is it fitted so
#    much more slowly — what does the network "know" about the arrangement of values?
# 2. The highest band of the noisy target is still far from fitted at the end of section
#    2. What would happen to it if the U-Net ran ten times longer? And the Deep Decoder?
# 3. The Deep Decoder explained a smaller fraction of pure noise's variance than its
#    parameter ratio $N/n$. Why is $N/n$ the natural yardstick, and why can it do less?
#
# Short answers: `tutorials/ANSWERS.md`.
