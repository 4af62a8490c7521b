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
# # Chapter 11 — Watching a fit
#
# The previous chapters measured fits by numbers: loss, PSNR, a stopping statistic. This
# one looks inside. We take snapshots of the output while the U-Net is being fitted to a
# noisy image, then open the fitted network and look at its **feature maps** — what the
# intermediate layers compute from the fixed random input $z$ — and at the last hidden
# layer of a **Deep Decoder**, whose channels are the building blocks its output is mixed
# from.
#
# *Running time.* Full version: a 128x128 image, a five-level U-Net with 32 channels
# (600 iterations) and a Deep Decoder with k = 64 (1500 iterations) — 2.4 minutes of CPU
# time on two cores (4.9 minutes measured on a busy machine). `TINYDIP_QUICK=1`: 32x32,
# three levels, about 12 seconds.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from tinydip.degrade import add_noise
from tinydip.fitting.fit import fit
from tinydip.io.images import sample_image, to_image, to_tensor
from tinydip.metrics import psnr
from tinydip.models import deep_decoder, skip_unet, unet_config
from tinydip.nn import Concat, Sequential
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("11", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()

if QUICK:
    SIZE, ITERS, LEVELS, WIDTH = 32, 200, 3, 32
    DECODER, DEC_ITERS = {"k": 16, "layers": 4}, 300
else:
    SIZE, ITERS, LEVELS, WIDTH = 128, 600, 5, 32
    DECODER, DEC_ITERS = {"k": 64, "layers": 6}, 1500
CONFIG = unet_config("skip5-128", channels_down=(WIDTH,) * LEVELS, channels_up=(WIDTH,) * LEVELS,
                     channels_skip=(4,) * LEVELS)
print("quick mode" if QUICK else "full mode", f"- {SIZE}x{SIZE} image, {ITERS} iterations")

# %% [markdown]
# ## 1. Snapshots of the output
#
# `fit` calls `callback(it, info)` every `callback_every` iterations with the iteration's
# output (`info["output"]`, the raw network output for the jittered input), the running
# average (`info["smoothed"]`), the loss and — when a `truth` is given — the PSNR. We keep
# copies at roughly logarithmically spaced iterations, because most of the change happens
# early.

# %%
clean = sample_image(SIZE)
noisy = add_noise(clean, 25, np.random.default_rng(1))
truth, observation = to_tensor(clean), to_tensor(noisy)  # (1, 3, H, W)
SNAP_AT = sorted({int(round(x)) for x in np.geomspace(5, ITERS - 1, 7)} | {0})
snaps = {}


def keep(it, info):
    if it in SNAP_AT:
        snaps[it] = {"output": info["output"].copy(), "psnr": info["psnr"],
                     "loss": info["loss"]}


net = skip_unet(CONFIG, rng=np.random.default_rng(0))
res = fit(net, observation, truth=truth, iters=ITERS, stop="none", seed=0, callback=keep,
          callback_every=1, progress=not QUICK)
print(f"{ITERS} iterations in {res.seconds:.1f} s")
for it, s in snaps.items():
    mse_noisy = float(np.mean((s["output"] - observation) ** 2))
    print(f"iteration {it:>4}: MSE to the noisy target {mse_noisy:.5f}, PSNR to the clean "
          f"image {s['psnr']:.2f} dB")

fig, axes = plt.subplots(2, len(snaps) + 1, figsize=(2.2 * (len(snaps) + 1), 4.8),
                         layout="constrained")
for col, (it, s) in enumerate(snaps.items()):
    out = to_image(s["output"])
    axes[0, col].imshow(np.clip(out, 0, 1), interpolation="nearest")
    axes[0, col].set_title(f"it. {it}\n{s['psnr']:.1f} dB", fontsize=9)
    resid = np.abs(out - noisy).mean(axis=2)
    axes[1, col].imshow(resid, cmap="magma", vmin=0, vmax=0.25, interpolation="nearest")
axes[0, -1].imshow(noisy, interpolation="nearest")
axes[0, -1].set_title(f"target (noisy)\n{psnr(noisy, clean):.1f} dB", fontsize=9)
axes[1, -1].imshow(np.abs(noisy - clean).mean(axis=2), cmap="magma", vmin=0, vmax=0.25,
                   interpolation="nearest")
axes[1, -1].set_title("|noise|", fontsize=9)
axes[1, 0].set_ylabel("|output - target|")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
show(fig, "snapshots")

# %% [markdown]
# The top row is what the network outputs, the bottom row how far that is from the noisy
# target. The first output is a faint, smooth random pattern (an untrained network's
# output is already smooth, chapter 8); within a few iterations it is a blurred version of
# the image — large shapes and colours, no edges; then the edges sharpen, and the residual
# turns from "everything" into a spatially uniform grain that looks like the noise itself
# (last column). Fitted longer, the network would go on to reproduce that grain too
# (chapter 4). This is the order of section 2 of chapter 8, seen directly: coarse before
# fine, image before noise.
#
# ## 2. Inside the U-Net: feature maps
#
# The U-Net is nested `Sequential`s and `Concat`s (chapter 4), and every part is an
# ordinary module we can call on its own. Level $i$ of the network is a `Sequential` whose
# first layer is `Concat(skip_i, deeper_i)`; `deeper_i` starts with four layers (a strided
# 3x3 conv, BN + LeakyReLU, a 3x3 conv, BN + LeakyReLU) that compute the **encoder**
# features at $1/2^{i+1}$ of the resolution, then holds level $i+1$ and an upsampling. So
# we walk down the levels, calling those four layers, and then call each level as a whole
# to get its **decoder** output (the part before its parent's upsampling).
#
# Batch statistics: the network is in training mode (as during fitting, chapter 3), so
# every call normalises with the statistics of this one input — exactly what the fit saw.


# %%
def unet_features(model, x):
    """Encoder and decoder feature maps of a fitted skip_unet for input x (1, C, H, W)."""
    encoder, decoder = [], []
    level, inp = model, x
    while True:
        concat = level[0]
        assert isinstance(concat, Concat)
        deeper = concat.branches[-1]  # (skip_i, deeper_i)
        enc = Sequential(*deeper.layers[:4])(inp)  # (1, C_i, H / 2^(i+1), W / 2^(i+1))
        encoder.append(enc)
        if len(deeper.layers) == 6:  # [conv, BN, conv, BN, level i+1, Upsample]
            level, inp = deeper.layers[4], enc
            decoder.append(level(inp))  # decoder output of level i+1, before upsampling
        else:
            break
    decoder.insert(0, Sequential(*model.layers[:-2])(x))  # level 0: before the 1x1 conv
    return encoder, decoder


encoder, decoder = unet_features(net, res.z)
for i, (e, d) in enumerate(zip(encoder, decoder, strict=False)):
    print(f"level {i}: encoder {e.shape}, decoder {d.shape}")


def high_share(fmap):
    """Share of each channel's energy (mean removed) above 1/4 cycle per pixel, averaged."""
    x = np.asarray(fmap[0], dtype=np.float64)  # (C, h, w)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    power = np.abs(np.fft.fft2(x)) ** 2  # (C, h, w)
    fy, fx = np.fft.fftfreq(x.shape[1])[:, None], np.fft.fftfreq(x.shape[2])[None, :]
    high = np.sqrt(fy**2 + fx**2) >= 0.25
    total = power.sum(axis=(1, 2))
    ok = total > 1e-12 * total.max()  # skip dead (constant) channels
    return float(np.mean(power[:, high].sum(axis=1)[ok] / total[ok]))


shares_z = high_share(res.z)
shares_enc = [high_share(e) for e in encoder]
shares_dec = [high_share(d) for d in decoder]
print(f"share of energy above 1/4 cycle per pixel (of each map's own grid): input z "
      f"{shares_z:.2f}")
print("  encoder levels 0..: " + ", ".join(f"{s:.2f}" for s in shares_enc))
print("  decoder levels 0..: " + ", ".join(f"{s:.2f}" for s in shares_dec))


def strongest(fmap, n):
    """The n channels with the largest spatial standard deviation."""
    sd = fmap[0].std(axis=(1, 2))
    return np.argsort(sd)[::-1][:n]


NCH = 4
rows = [("input z", res.z)] + [(f"encoder {i}", e) for i, e in enumerate(encoder)] + \
       [(f"decoder {i}", d) for i, d in reversed(list(enumerate(decoder)))]
fig, axes = plt.subplots(NCH, len(rows), figsize=(1.9 * len(rows), 1.9 * NCH + 0.6),
                         layout="constrained")
for col, (name, fmap) in enumerate(rows):
    for row, c in enumerate(strongest(fmap, NCH)):
        axes[row, col].imshow(fmap[0, c], cmap="gray", interpolation="nearest")
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
    axes[0, col].set_title(f"{name}\n{fmap.shape[2]}x{fmap.shape[3]}", fontsize=9)
show(fig, "unet_features")

# %% [markdown]
# Read the columns left to right as the path of the data: the random input $z$, the
# encoder halving the resolution at each level, the decoder coming back up (each column
# shows the four channels that vary most). The printed shares say what the pictures show:
# the **encoder maps stay noise-like** at every level — as much energy at high
# frequencies (of their own grid) as the white-noise input. The encoder has nothing but
# noise to encode; what it learns is a fixed random code, different for every pixel
# block, that the decoder can read positions from. The **image is made on the way up**:
# the decoder maps are smooth, much of their energy at low frequencies, and the last ones,
# just before the 1x1 convolution that mixes them into RGB, look like soft region and
# edge maps of *this* image. Every decoder level's output passes through a bilinear
# upsampling before the next level sees it — the fixed low-pass filter of chapter 8.
#
# ## 3. Inside the Deep Decoder: the last hidden layer
#
# The Deep Decoder has no skips and no 3x3 convolutions. Its output is
#
# $$x = \operatorname{sigmoid}\Big(\sum_{c=1}^{k} w_{:,c}\; h_c\Big),$$
#
# a per-pixel mix of the $k$ channels $h_c$ of its last hidden layer by a $3\times k$
# matrix. So the $h_c$ are the *basis images* the output is built from — and every one of
# them is made from $z$ by 1x1 convolutions, ReLUs, BatchNorms and bilinear upsamplings
# only. We fit one to the noisy image and look at its channels.

# %%
dnet = deep_decoder(**DECODER, rng=np.random.default_rng(0))
dres = fit(dnet, observation, truth=truth, iters=DEC_ITERS, stop="none", seed=0,
           reg_noise_std=0.0, output="last", progress=not QUICK)
dec_out = dnet(dres.z)  # (1, 3, H, W): the fitted decoder's output
hidden = Sequential(*dnet.layers[:-2])(dres.z)  # (1, k, H, W): the last BN's output
w_out = dnet.layers[-2].weight.data[:, :, 0, 0]  # (3, k), the final 1x1 conv
rebuilt = 1 / (1 + np.exp(-np.einsum("ok,khw->ohw", w_out, hidden[0])))  # (3, H, W)
rebuild_err = float(np.abs(rebuilt - dec_out[0]).max())
print(f"Deep Decoder {DECODER}: {dnet.num_parameters():,} parameters, output "
      f"{psnr(dec_out, truth):.2f} dB vs the clean image (noisy {psnr(noisy, clean):.2f} dB)")
print(f"sigmoid(w_out @ hidden) reproduces the output to {rebuild_err:.1e}")
share_hidden = high_share(hidden)
share_noisy = high_share(observation)
share_clean = high_share(truth)
print(f"share of energy above 1/4 cycle per pixel: hidden channels {share_hidden:.3f}, "
      f"clean image {share_clean:.3f}, noisy image {share_noisy:.3f}")

order = np.argsort(np.abs(w_out).sum(axis=0))[::-1]  # channels by the weight they get
NSHOW = min(16, hidden.shape[1])
fig, axes = plt.subplots(2, NSHOW // 2, figsize=(1.9 * NSHOW // 2, 4.4), layout="constrained")
for ax, c in zip(axes.flat, order[:NSHOW], strict=True):
    ax.imshow(hidden[0, c], cmap="gray", interpolation="nearest")
    ax.set_title(f"ch {c}: |w| {np.abs(w_out[:, c]).sum():.2f}", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
show(fig, "decoder_channels")

# %% [markdown]
# The channels are smooth, blob- and band-like images, piecewise constant-ish with soft
# edges: products of the repeated bilinear upsampling, cut and recombined by the ReLUs.
# None of them holds pixel-scale grain, and the output is a mix of these: that is the
# Deep Decoder's prior made visible (chapter 8's argument — it *cannot* produce the
# noise — is the same statement counted in parameters).
#
# ## What this chapter promised
#
# * the snapshots get closer to the noisy target over the iterations (the MSE to it falls
#   from snapshot to snapshot), and the PSNR to the clean image rises above the noisy
#   input's on the way;
# * the encoder's feature maps stay noise-like, while the decoder's full-resolution maps
#   carry far less high-frequency energy than the white-noise input;
# * the Deep Decoder's output is exactly a sigmoid of a linear mix of its last hidden
#   channels, and those channels carry less high-frequency energy than the noisy target.

# %%
mses = [float(np.mean((s["output"] - observation) ** 2)) for s in snaps.values()]
snap_psnr = [s["psnr"] for s in snaps.values()]
print("MSE to the target at the snapshots: " + ", ".join(f"{m:.4f}" for m in mses))
print(f"total time {time.perf_counter() - T0:.1f} s")

assert all(a > b for a, b in zip(mses, mses[1:]))  # closer to the target every snapshot
assert max(snap_psnr) > psnr(noisy, clean) + 1 and snap_psnr[0] < psnr(noisy, clean)
assert min(shares_enc) > 0.5 * shares_z  # the encoder maps are noise-like
assert shares_dec[0] < 0.5 * shares_z  # the last decoder maps are smooth
assert rebuild_err < 1e-5
assert share_hidden < share_noisy
print("All chapter 11 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. The encoder's maps stay noise-like. What would the network output if $z$ were a
#    constant instead of noise?
# 2. In a longer fit, when does the network start reproducing the noise? What would you
#    look for in the residual row of the snapshot strip, and what number tells you?
# 3. The Deep Decoder's output is a sigmoid of $3k$ weights times $k$ hidden channels. Why
#    is that not a way to store the image in $3k$ numbers?
#
# Short answers: `tutorials/ANSWERS.md`.
