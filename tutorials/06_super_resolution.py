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
# # Chapter 6 — Super-resolution: fitting through a linear operator
#
# Super-resolution asks for a large image $x$ whose *downsampled* version is the small
# image $y$ we have. Deep Image Prior keeps the network's output at the large size and
# compares it to $y$ only after passing it through the degradation:
#
# $$\min_\theta \; \big\lVert A\, f_\theta(z) - y \big\rVert^2 ,$$
#
# where $A$ is a fixed linear operator: blur, then keep every $f$-th pixel. Many large
# images map to the same small one ($A$ has a huge null space); the network's prior picks
# one of them. To backpropagate through $A$ we need its **adjoint** $A^\top$: the gradient
# of the loss with respect to the output is $A^\top$ applied to the gradient with respect
# to $A f$. Getting $A^\top$ exactly right is the first half of this chapter; beating
# bicubic interpolation is the second; the third asks what happens when the $A$ we assume
# is not the one that made the image.
#
# *Running time.* Full version: a 32x32 image upscaled 4x to 128x128 with the paper's
# U-Net, 1500 iterations, twice: about 8 minutes on 2 cores (one fit measured 3.9 min,
# `tutorials/README.md`). `TINYDIP_QUICK=1`: 16x16 to 64x64 with a narrow U-Net, about a
# minute.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from tinydip import tasks
from tinydip.degrade import bicubic_upsample
from tinydip.functional import upsample_forward
from tinydip.gradcheck import numerical_grad, rel_error
from tinydip.io.images import sample_image, to_image, to_tensor
from tinydip.metrics import psnr
from tinydip.operators import Downsampler
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("06", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()


FACTOR = 4
if QUICK:
    SIZE, ITERS = 64, 400
    NET = {"channels_down": (16,) * 4, "channels_up": (16,) * 4, "channels_skip": (4,) * 4}
else:
    SIZE, ITERS = 128, 1500
    NET = {}  # the paper's super-resolution preset
print("quick mode" if QUICK else "full mode",
      f"- {SIZE // FACTOR}x{SIZE // FACTOR} -> {SIZE}x{SIZE}, {ITERS} iterations")

# %% [markdown]
# ## 1. The downsampling operator
#
# `Downsampler(factor, "lanczos2")` is the operator of the DIP paper: a separable
# anti-aliasing filter with $4f$ taps (a Lanczos-2 window stretched by $f$), applied with
# stride $f$. Because it is separable, it is a matrix on each axis: for an $n$-pixel row,
# $A_n$ has shape $(n/f,\ n)$, each row holding the filter taps shifted by $f$ (with the
# image border replicated, folded into the first and last rows). On an image,
#
# $$A x = A_H\, x\, A_W^\top \qquad \text{(per channel)}.$$

# %%
down = Downsampler(FACTOR, "lanczos2")
taps = down.taps()
A16 = down.matrix(16)
print(f"{len(taps)} taps, summing to {taps.sum():.6f}:", np.round(taps, 4))
print(f"A_16 has shape {A16.shape}; every row sums to 1: {np.allclose(A16.sum(axis=1), 1)}")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.2), layout="constrained",
                               gridspec_kw={"width_ratios": [1, 2]})
ax1.stem(np.arange(len(taps)) - len(taps) / 2 + 0.5, taps)
ax1.set_title(f"Lanczos-2 taps, factor {FACTOR}")
ax1.set_xlabel("offset from the block centre [pixels]")
ax2.imshow(A16, cmap="RdBu_r", vmin=-np.abs(A16).max(), vmax=np.abs(A16).max())
ax2.set_title(f"1-D operator A_16: {A16.shape[0]} outputs x {A16.shape[1]} inputs")
ax2.set_xlabel("input pixel")
ax2.set_ylabel("output pixel")
show(fig, "operator")

# %% [markdown]
# ## 2. The adjoint, and the dot-product test
#
# For matrices the adjoint is the transpose, and for $A x = A_H x A_W^\top$ it is
# $A^\top y = A_H^\top\, y\, A_W$ — which is what `Downsampler.adjoint` computes. The
# defining property of an adjoint is
#
# $$\langle A x,\, y \rangle = \langle x,\, A^\top y \rangle
#   \quad \text{for all } x, y,$$
#
# and it is the cheapest possible test of an adjoint implementation: two random arrays,
# two inner products, compare. (Proof for the separable form: $\langle A_H x A_W^\top, y
# \rangle = \mathrm{tr}(A_W x^\top A_H^\top y) = \mathrm{tr}(x^\top A_H^\top y A_W) =
# \langle x, A_H^\top y A_W\rangle$.)

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 3, SIZE, SIZE))
y = rng.standard_normal((1, 3, SIZE // FACTOR, SIZE // FACTOR))
lhs = float(np.sum(down.forward(x) * y))
rhs = float(np.sum(x * down.adjoint(y)))
err_adjoint = abs(lhs - rhs) / abs(lhs)
print(f"<A x, y>   = {lhs:.12f}")
print(f"<x, A^T y> = {rhs:.12f}   relative difference {err_adjoint:.1e}")

# %% [markdown]
# The adjoint is also the backward pass: the gradient of $\langle A x, y\rangle$ with
# respect to $x$ is $A^\top y$. Finite differences agree (on a smaller image — this costs
# four operator applications per pixel):

# %%
xs = rng.standard_normal((1, 1, 16, 16))
ys = rng.standard_normal((1, 1, 16 // FACTOR, 16 // FACTOR))
err_grad = rel_error(numerical_grad(lambda: down.forward(xs), xs, ys), down.adjoint(ys))
print(f"A^T y vs numerical gradient of <A x, y>: {err_grad:.1e}")

# %% [markdown]
# **Your turn:** `tinydip exercise start downsampler_adjoint`, then
# `tinydip exercise check downsampler_adjoint`: write $A^\top$ yourself and let the
# dot-product test judge it.
#
# A tempting mistake is to use an *upsampling* method as the "backward" of a downsampler.
# It has the right shape and looks reasonable, but it is not the adjoint, and the
# dot-product test says so at once. Here is bilinear upsampling (tinydip's `Upsample`
# layer, linear like $A$), rescaled by $1/f^2$ so the magnitudes are comparable:

# %%
fake_adjoint = upsample_forward(y, FACTOR, "bilinear")[0] / FACTOR**2
err_fake = abs(lhs - float(np.sum(x * fake_adjoint))) / abs(lhs)
print(f"bilinear upsampling as a 'backward': dot-product test off by {err_fake:.1%}")

# %% [markdown]
# ## 3. The problem and the classical answer
#
# We make the low-resolution image with the *same* operator the fit will assume,
# $y = A x_{\mathrm{true}}$. That is the most favourable case there is — the fit knows the
# degradation exactly (the paper's experiments do the same; in inverse problems this is
# called the "inverse crime"). Section 5 drops that assumption. We compare against
# **bicubic interpolation** (Pillow's, Keys $a = -0.5$), the standard baseline.

# %%
clean = sample_image(SIZE)
low = to_image(down.forward(to_tensor(clean)))  # (SIZE/f, SIZE/f, 3)
bicubic = bicubic_upsample(low, FACTOR)
psnr_bicubic = psnr(bicubic, clean)
print(f"low-resolution image {low.shape[:2]}, bicubic x{FACTOR}: PSNR {psnr_bicubic:.2f} dB")

# %% [markdown]
# ## 4. Deep Image Prior super-resolution
#
# `tasks.super_resolve(low, factor)` fits the U-Net with $E = \lVert A f_\theta(z) -
# y\rVert^2$: `fit` calls `operator.forward` on the output and `operator.adjoint` on the
# loss gradient, exactly as derived above. We run the whole budget (`stop="none"`) and
# take the lowest-loss output (`output="best"`). That is tinydip's choice; the paper's
# official super-resolution notebook returns the final output. We print both.

# %%
res = tasks.super_resolve(low, FACTOR, truth=clean, seed=0, iters=ITERS, net_options=NET,
                          stop="none", output="best", progress=not QUICK)
dip = res.output
psnr_dip = res.psnr["output"]
print(f"U-Net with {res.params:,} parameters, {res.fit.iters_run} iterations in "
      f"{res.fit.seconds:.1f} s: PSNR {psnr_dip:.2f} dB (bicubic {psnr_bicubic:.2f} dB); "
      f"last output {res.psnr['last']:.2f} dB")

# %% [markdown]
# Both answers are plausible large images. Are they *consistent* with what we observed —
# does downsampling them give back $y$? DIP enforces that by construction; bicubic
# interpolation does not even try.

# %%
def consistency(img):
    """RMS difference between A(img) and the observed low-resolution image."""
    return float(np.sqrt(np.mean((down.forward(to_tensor(img)) - to_tensor(low)) ** 2)))


cons_dip, cons_bicubic = consistency(dip), consistency(bicubic)
print(f"RMS of A(x) - y:  DIP {cons_dip:.4f}   bicubic {cons_bicubic:.4f}")

crop = slice(SIZE // 4, 3 * SIZE // 4)  # the centre, enlarged
panels = {
    f"input {SIZE // FACTOR}x{SIZE // FACTOR}": np.kron(low, np.ones((FACTOR, FACTOR, 1))),
    f"bicubic {psnr_bicubic:.1f} dB": bicubic,
    f"Deep Image Prior {psnr_dip:.1f} dB": dip,
    "truth": clean,
}
fig, axes = plt.subplots(2, 4, figsize=(13, 6.6), layout="constrained")
for col, (title, im) in enumerate(panels.items()):
    axes[0, col].imshow(np.clip(im, 0, 1), interpolation="nearest")
    axes[0, col].set_title(title)
    axes[1, col].imshow(np.clip(im[crop, crop], 0, 1), interpolation="nearest")
    for ax in axes[:, col]:
        ax.axis("off")
show(fig, "results")

hist = res.fit.history
fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
ax.plot([h["iter"] for h in hist], [h["psnr"] for h in hist], lw=0.8, label="DIP (raw)")
ax.axhline(psnr_bicubic, color="k", ls=":", label="bicubic")
ax.set_xlabel("iteration")
ax.set_ylabel("PSNR [dB]")
ax.set_ylim(psnr_bicubic - 5, None)
ax.legend()
ax.grid(True, alpha=0.3)
show(fig, "psnr_curve")

# %% [markdown]
# Bicubic interpolation only ever sees a 4x4 neighbourhood of low-resolution pixels and
# blurs edges across them. The network sees the whole image at once, must explain every
# observed pixel through the exact degradation $A$, and — by its prior — prefers sharp,
# coherent structure. It cannot invent detail that the low-resolution image does not
# hint at, but edges come out cleaner.
#
# ## 5. When the real downsampler is a different one
#
# A real low-resolution image was not made by our Lanczos operator. Take a sensor with
# pixels 4x4 times larger: each low-resolution pixel is the **average** of the 4x4 block
# it covers (a box filter, "binning"). We observe that, and fit exactly as before — still
# assuming Lanczos. The fit does what it is told: its output, passed through *Lanczos*,
# reproduces the observation closely. But the image it had to invent for that is not the
# truth's, and the prior's advantage over bicubic (which assumes no operator at all)
# shrinks.

# %%
n_low = SIZE // FACTOR
low_box = clean.reshape(n_low, FACTOR, n_low, FACTOR, 3).mean(axis=(1, 3))  # 4x4 means
op_gap = float(np.sqrt(np.mean((low_box - low) ** 2)))
res_box = tasks.super_resolve(low_box, FACTOR, truth=clean, seed=0, iters=ITERS,
                              net_options=NET, stop="none", output="best",
                              progress=not QUICK)
psnr_dip_box = res_box.psnr["output"]
psnr_bicubic_box = psnr(bicubic_upsample(low_box, FACTOR), clean)
cons_box = float(np.sqrt(np.mean((down.forward(to_tensor(res_box.output))
                                  - to_tensor(low_box)) ** 2)))
print(f"RMS of A_lanczos(truth) - y_box = {op_gap:.4f} (the truth under the assumed model)")
print(f"{'observation made by':<22}{'bicubic':>9}{'DIP':>8}{'DIP - bicubic':>15}")
print(f"{'Lanczos (assumed)':<22}{psnr_bicubic:9.2f}{psnr_dip:8.2f}"
      f"{psnr_dip - psnr_bicubic:15.2f}")
print(f"{'box 4x4 (mismatch)':<22}{psnr_bicubic_box:9.2f}{psnr_dip_box:8.2f}"
      f"{psnr_dip_box - psnr_bicubic_box:15.2f}")
print(f"RMS of A_lanczos(x_dip) - y_box = {cons_box:.4f} (the mismatched fit; the matched "
      f"fit's own: {cons_dip:.4f})")

# %% [markdown]
# The two observations of the same truth differ by only a few grey levels per pixel (the
# first RMS number: the truth passed through the assumed Lanczos operator, against the
# box-filtered observation), yet the mismatched fit loses PSNR against the truth. And the
# loss cannot tell: the fitted image, passed through Lanczos, matches the observation
# *better* than the truth itself does (the second RMS number is the smaller one). Under
# the wrong model the loss prefers a wrong image to the truth. The network explains the
# box-filtered pixels as if they were Lanczos-filtered, and the difference between the two
# filters ends up in the image as wrong detail — nothing in the fit warns you. The remedy is to
# model the degradation you really have: measure the camera's blur, or estimate it along
# with the image ("blind" super-resolution); the U-Net cannot guess it for you.
#
# ## What this chapter promised

# %%
print(f"adjoint (dot-product) test: {err_adjoint:.1e}; gradient check: {err_grad:.1e}")
print(f"bilinear upsampling as a 'backward' fails the test by {err_fake:.1%}")
print(f"PSNR: DIP {psnr_dip:.2f} dB vs bicubic {psnr_bicubic:.2f} dB "
      f"(+{psnr_dip - psnr_bicubic:.2f} dB)")
print(f"consistency |A x - y|: DIP {cons_dip:.4f} vs bicubic {cons_bicubic:.4f}")
print(f"box-filtered observation, Lanczos assumed: DIP {psnr_dip_box:.2f} dB vs bicubic "
      f"{psnr_bicubic_box:.2f} dB (matched: {psnr_dip:.2f} vs {psnr_bicubic:.2f})")
print(f"total time {time.perf_counter() - T0:.1f} s")

assert err_adjoint < 1e-12 and err_grad < 1e-8
assert err_fake > 0.1  # an upsampler is not the adjoint (off by 25-50 % measured)
assert psnr_dip > psnr_bicubic + 0.3  # the prior beats interpolation
assert cons_dip < cons_bicubic  # and agrees better with what was observed
# a wrong operator costs: lower PSNR than the matched fit, a smaller lead over bicubic,
assert psnr_dip_box < psnr_dip - 0.2
assert psnr_dip_box - psnr_bicubic_box < psnr_dip - psnr_bicubic
assert cons_box < op_gap  # and under the wrong model the fit "explains" y better than the truth
print("all chapter 6 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. The dot-product test compares two numbers. Why is one random pair $(x, y)$ enough to
#    catch a wrong adjoint, almost surely?
# 2. DIP's output is consistent with the observation by construction. Name two different
#    large images that are *both* perfectly consistent with it. What decides which one the
#    fit returns?
# 3. If you knew the observation came from 4x4 binning, what would you change in the fit?
#
# Short answers: `tutorials/ANSWERS.md`.
