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
# # Chapter 5 — Inpainting: filling in what was never observed
#
# In denoising every pixel was observed, just badly. In **inpainting** some pixels were not
# observed at all — covered by overlaid text, or cut out by a hole — and we know exactly
# which. Deep Image Prior handles this with a one-line change: the loss only looks at the
# known pixels,
#
# $$E(\theta) = \frac{\sum_i m_i\,\big(f_\theta(z)_i - x_{0,i}\big)^2}{\sum_i m_i},
#   \qquad m_i = 1 \text{ if pixel } i \text{ is known, else } 0,$$
#
# and whatever the network puts in the unknown pixels is decided entirely by its prior.
#
# We compare two priors on the same task: the DIP **U-Net** of chapter 4 (big, with skip
# connections) and the **Deep Decoder** (Heckel & Hand 2019), met here for the first time
# and taken apart in chapter 7. What you need to know now: it is a plain stack of $d$
# identical layers, each a 1x1 convolution (a $k \times k$ matrix mixing $k$ channels at
# every pixel), a fixed bilinear x2 upsampling, a ReLU and a BatchNorm, ending in a 1x1
# convolution to 3 colours and a sigmoid; its input is a fixed random tensor of
# $k$ channels at $1/2^{d-1}$ of the image size. There are no 3x3 convolutions: all spatial
# structure comes from the upsampling. That makes it *small*: $d k^2 + 2dk + 3k$ weights,
# a fraction of the U-Net's (printed below) and, in the full version, fewer than half the
# image's 49,152 values — too few to reproduce everything, where the U-Net, with many more
# weights than values, could.
#
# *Running time.* Full version: 128x128 image, the paper's inpainting U-Net (wide skips,
# nearest upsampling) for 1200 iterations plus a Deep Decoder for 2000: measured 6.2
# minutes on 2 cores (`tutorials/README.md`). `TINYDIP_QUICK=1`: 64x64, narrow networks,
# well under a minute.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from tinydip import tasks
from tinydip.degrade import apply_mask, hole_mask, text_mask
from tinydip.functional import mse_loss
from tinydip.io.images import sample_image, to_tensor
from tinydip.metrics import psnr
from tinydip.models import decoder_num_parameters
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("05", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()


if QUICK:
    SIZE = 64
    UNET = {"iters": 300, "net_options": {"channels_down": (16,) * 4, "channels_up": (16,) * 4,
                                          "channels_skip": (16,) * 4}}
    DECODER = {"iters": 600, "net_options": {"k": 64, "layers": 4}}
else:
    SIZE = 128
    UNET = {"iters": 1200, "net_options": {}}  # the paper's inpainting preset as is
    DECODER = {"iters": 2000, "net_options": {"k": 64, "layers": 5}}
# the Deep Decoder is fitted without input jitter, as in its paper
DECODER.update(reg_noise_std=0.0)
for settings in (UNET, DECODER):  # the whole iteration budget, the lowest-loss output
    settings.update(stop="none", output="best")
print("quick mode" if QUICK else "full mode", f"- {SIZE}x{SIZE} image")

# %% [markdown]
# ## 1. Two kinds of damage
#
# `tinydip.degrade` makes both. Masks are boolean `(H, W)` arrays with **True = known**.
#
# * `text_mask` overlays lines of random words — thin strokes everywhere, each missing
#   pixel close to known ones;
# * `hole_mask` cuts out one rectangle — a large region with no information inside at all.
#
# We apply both at once and score them separately.

# %%
clean = sample_image(SIZE)
rng = np.random.default_rng(0)
text = text_mask(SIZE, SIZE, rng)
hole = hole_mask(SIZE, SIZE, 0.25, rng)
mask = text & hole
observed = apply_mask(clean, mask)  # unknown pixels set to 0 (black)
print(f"unknown pixels: text {1 - text.mean():.1%}, hole {1 - hole.mean():.1%}, "
      f"together {1 - mask.mean():.1%}")

fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
for ax, (title, im) in zip(axes, {"text mask (white = known)": text, "hole mask": hole,
                                  "observed image": observed}.items(), strict=True):
    ax.imshow(im, cmap="gray" if im.ndim == 2 else None, interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
show(fig, "masks")

# %% [markdown]
# ## 2. The masked loss
#
# `mse_loss(pred, target, mask)` averages the squared error over known entries only.
# Its gradient, $2 m_i (f_i - x_{0,i}) / \sum m$, is **exactly zero** at unknown pixels: the
# optimiser never receives a single bit of information about them. Two quick checks — the
# gradient vanishes there, and the loss does not change whatever the unknown pixels of
# the target contain:

# %%
pred = to_tensor(sample_image(SIZE, gray=True) * 0.5 + 0.25)  # any image will do
pred = np.repeat(pred, 3, axis=1)
target, m4 = to_tensor(observed), mask[None, None].astype(np.float32)  # (1, 1, H, W)
loss, dpred = mse_loss(pred, target, m4)
scrambled = np.where(m4 > 0, target, np.random.default_rng(1).random(target.shape))
loss2, _ = mse_loss(pred, scrambled.astype(np.float32), m4)
grad_unknown = float(np.abs(dpred[:, :, ~mask]).max())
print(f"masked loss {loss:.6f}; with garbage in the unknown pixels {loss2:.6f}")
print(f"max |gradient| at unknown pixels: {grad_unknown}, "
      f"at known pixels: {np.abs(dpred[:, :, mask]).max():.2e}")

# %% [markdown]
# **Your turn:** `tinydip exercise start masked_mse`, then `tinydip exercise check
# masked_mse`: the masked loss and its gradient (the hints know the classic slip: dividing
# by all pixels instead of the known ones).

# %% [markdown]
# ## 3. Fitting both priors
#
# `tinydip.tasks.inpaint(image, mask, truth=...)` builds the network (the paper's
# inpainting preset for `net="unet"`, or `net="decoder"`), fits it with the masked loss
# and returns HxWxC images and PSNRs. We run the whole iteration budget (`stop="none"`;
# tinydip can also stop by itself, see `tinydip.fitting.stopping`) and return the lowest-loss
# output, `output="best"` — here the best fit to what we know (chapter 4 explained why
# that is wrong for denoising and right here). That is tinydip's choice: the paper's
# official inpainting notebook returns the final output. We print both; on a noise-free
# observation they are usually close, and "best" only differs when a late Adam spike
# spoils the last iterate.

# %%
res_unet = tasks.inpaint(observed, mask, truth=clean, net="unet", seed=0, progress=not QUICK,
                         **UNET)
print(f"U-Net: {res_unet.params:,} parameters, {res_unet.fit.iters_run} iterations in "
      f"{res_unet.fit.seconds:.1f} s; PSNR lowest-loss (returned) "
      f"{res_unet.psnr['best']:.2f} dB, last {res_unet.psnr['last']:.2f} dB")
res_dd = tasks.inpaint(observed, mask, truth=clean, net="decoder", seed=0,
                       progress=not QUICK, **DECODER)
k, layers = DECODER["net_options"]["k"], DECODER["net_options"]["layers"]
print(f"Deep Decoder (k={k}, {layers} layers): {res_dd.params:,} parameters "
      f"(= {layers}k^2 + {2 * layers}k + 3k = {decoder_num_parameters(k, layers, 3):,}), "
      f"{res_dd.fit.iters_run} iterations in {res_dd.fit.seconds:.1f} s; PSNR lowest-loss "
      f"{res_dd.psnr['best']:.2f} dB, last {res_dd.psnr['last']:.2f} dB")

# %% [markdown]
# ## 4. How good is the fill?
#
# Scoring the whole image mixes two things: how well the net *reproduces* the known
# pixels (which we already have) and how well it *invents* the unknown ones. So we do what
# one does in practice — keep the known pixels, paste the network's output into the
# unknown ones — and score each kind of damage separately.
#
# Two classical baselines keep us honest: filling with the mean colour of the known
# pixels, and **harmonic** (diffusion) inpainting, which repeatedly replaces every unknown
# pixel by the average of its four neighbours until (nearly) nothing changes — the
# smoothest possible fill: its result solves Laplace's equation $\Delta u = 0$ inside the
# unknown region, with the known pixels as boundary values. We print how much the last
# sweep still changed.

# %%
def paste(fill):
    return np.where(mask[:, :, None], clean, fill)


def harmonic_fill(observed, mask, steps=3000):
    """Jacobi sweeps of the 4-neighbour average; returns the fill and the last change."""
    u = np.where(mask[:, :, None], observed, observed[mask].mean(axis=0))
    for _ in range(steps):
        p = np.pad(u, ((1, 1), (1, 1), (0, 0)), mode="edge")
        avg = (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]) / 4
        u, previous = np.where(mask[:, :, None], observed, avg), u
    return u, float(np.abs(u - previous).max())


harmonic, harmonic_change = harmonic_fill(observed, mask)
print(f"harmonic fill: the last of 3000 sweeps changed a pixel by at most {harmonic_change:.1e}")


fills = {
    "observed (zeros)": observed,
    "mean colour": paste(observed[mask].mean(axis=0)),
    "harmonic": harmonic,
    "U-Net": paste(res_unet.output),
    "Deep Decoder": paste(res_dd.output),
}
text_only, hole_only = ~text, ~hole & text  # score each region once
scores = {name: {"whole image": psnr(im, clean), "text pixels": psnr(im[text_only],
                 clean[text_only]), "hole": psnr(im[hole_only], clean[hole_only])}
          for name, im in fills.items()}
print(f"{'PSNR [dB]':<18}{'whole image':>12}{'text pixels':>13}{'hole':>8}")
for name, s in scores.items():
    print(f"{name:<18}{s['whole image']:>12.2f}{s['text pixels']:>13.2f}{s['hole']:>8.2f}")
print(f"raw network outputs (not pasted): U-Net {res_unet.psnr['output']:.2f} dB, "
      f"Deep Decoder {res_dd.psnr['output']:.2f} dB")

fig, axes = plt.subplots(1, 5, figsize=(16, 3.6), layout="constrained")
for ax, (name, im) in zip(axes, {"observed": observed, "harmonic": fills["harmonic"],
                                 "U-Net": fills["U-Net"], "Deep Decoder": fills["Deep Decoder"],
                                 "clean": clean}.items(), strict=True):
    ax.imshow(np.clip(im, 0, 1), interpolation="nearest")
    title = name if name in ("observed", "clean") else \
        f"{name} {scores[name]['whole image']:.1f} dB"
    ax.set_title(title)
    ax.axis("off")
show(fig, "results")

# %% [markdown]
# What to look for:
#
# * **Thin text** is where a learned-free prior shines: every missing pixel has known
#   neighbours, and both networks fill the strokes with the surrounding texture and edges
#   rather than a blur. They leave the mean-colour fill far behind and compete with the
#   harmonic fill, which is very good at exactly this job on a small, smooth image.
# * **The hole** is much harder: nothing inside it constrains the fit, so each prior
#   paints what it finds easiest to produce — smooth colour for the Deep Decoder, a
#   blurry continuation of the surrounding structure for the U-Net. No method can recover
#   what was never observed; the question is only what looks plausible. PSNR is a poor
#   judge of that: it rewards a smooth, grey-ish guess over a sharp but misplaced one,
#   which is why the harmonic fill scores so well in the hole (compare the table).
# * **Size and speed.** The Deep Decoder has a small fraction of the U-Net's parameters
#   and each of its iterations is much cheaper (only 1x1 convolutions), but it needs more
#   iterations — and without jitter — to fit. Chapter 7 uses its small size for image
#   compression.
#
# ## What this chapter promised

# %%
u, d = scores["U-Net"], scores["Deep Decoder"]
mean_text = scores["mean colour"]["text pixels"]
print(f"gradient at unknown pixels: {grad_unknown}; loss independent of them: "
      f"{loss == loss2}")
print(f"text pixels: U-Net {u['text pixels']:.2f}, Deep Decoder {d['text pixels']:.2f}, "
      f"harmonic {scores['harmonic']['text pixels']:.2f}, mean colour {mean_text:.2f} dB")
print(f"harmonic fill: last sweep changed {harmonic_change:.1e}")
print(f"whole image: U-Net {u['whole image']:.2f}, Deep Decoder {d['whole image']:.2f}, "
      f"observed {scores['observed (zeros)']['whole image']:.2f} dB")
print(f"parameters: U-Net {res_unet.params:,}, Deep Decoder {res_dd.params:,}")
print(f"total time {time.perf_counter() - T0:.1f} s")

h_text = scores["harmonic"]["text pixels"]
assert grad_unknown == 0.0 and loss == loss2  # unknown pixels are invisible to the fit
assert harmonic_change < 1e-4  # the harmonic fill has converged (Laplace's equation)
assert h_text > mean_text + 5  # and it is a strong baseline on thin text ...
assert max(u["text pixels"], d["text pixels"]) > h_text - 1  # ... the networks compete
for r in (res_unet, res_dd):  # tinydip's lowest-loss output vs the paper code's last one
    assert abs(r.psnr["best"] - r.psnr["last"]) < 1.0
assert u["text pixels"] > mean_text + 5 and d["text pixels"] > mean_text + 5
assert min(u["whole image"], d["whole image"]) > scores["observed (zeros)"]["whole image"] + 5
assert res_dd.params == decoder_num_parameters(k, layers, 3) < res_unet.params / 2
print("all chapter 5 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. The gradient at unknown pixels is exactly zero, yet the network fills them with
#    plausible content. Where does the information come from?
# 2. Why does the Deep Decoder fill the hole with smooth colour rather than texture?
#    (Think of what its layers can and cannot produce.)
# 3. If the observed pixels were also noisy, would `output="best"` still be a good choice?
#
# Short answers: `tutorials/ANSWERS.md`.
