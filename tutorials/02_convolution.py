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
# # Chapter 2 — Convolution, from loops to kernels
#
# Convolutions are almost all of Deep Image Prior's running time: the paper's U-Net has
# 26 of them, run forward and backward thousands of times. This chapter builds the
# convolution three times, each time faster, and checks that all three compute *the same
# numbers*:
#
# 1. seven nested Python loops — the definition, written out;
# 2. **im2col** — copy every input patch into the column of a matrix, then do the whole
#    convolution as *one* matrix product;
# 3. tinydip's numba kernels (`tinydip.functional.conv2d_forward`), which do exactly that,
#    without ever building a padded copy of the input.
#
# Then we derive the backward pass as two more matrix products and a `col2im`, the exact
# transpose of `im2col`, and finish with **Winograd's** trick, which computes a 3x3
# convolution with 2.25x fewer multiplications (what `nn.Conv2d` runs on large images).

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tinydip import functional as F
from tinydip.functional.winograd import conv2d_winograd_backward, conv2d_winograd_forward
from tinydip.gradcheck import numerical_grad, rel_error
from tinydip.io.images import sample_image
from tinydip.kernels import col2im, conv_out_size, im2col, winograd_input
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("02", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()


def best_time(f, repeat=5):
    """Best wall-clock time of `repeat` calls (the minimum is the least disturbed run)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


# sizes: (batch, channels in, height = width, filters out)
N, C, H, FILTERS = (1, 3, 12, 4) if QUICK else (1, 8, 24, 16)
BIG_C, BIG_H = (32, 32) if QUICK else (64, 64)  # for timing the fast versions
print("quick mode" if QUICK else "full mode", f"- small problem {N}x{C}x{H}x{H} -> {FILTERS}")

# %% [markdown]
# ## 1. The definition: seven loops
#
# A 2-D convolution layer (really a cross-correlation) with weights $w$ of shape
# $(F, C, K, K)$, bias $b$, stride $S$ and zero padding $P = \lfloor K/2 \rfloor$:
#
# $$\mathrm{out}[n, f, y, x] = b[f] + \sum_{c=0}^{C-1} \sum_{i=0}^{K-1} \sum_{j=0}^{K-1}
#     w[f, c, i, j]\; x_{\mathrm{pad}}[n, c,\; yS + i,\; xS + j],$$
#
# with output size $H_o = \lfloor (H + 2P - K)/S \rfloor + 1$. Four loops over the output
# $(n, f, y, x)$, three over the sum $(c, i, j)$. Written out literally:

# %%
def conv_loops(x, w, b, stride=1):
    """Seven nested loops. Obviously right, hopelessly slow."""
    n_, c_, h_, w_ = x.shape
    f_, _, k, _ = w.shape
    p = k // 2
    ho, wo = conv_out_size(h_, k, stride, p), conv_out_size(w_, k, stride, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # zero padding
    out = np.zeros((n_, f_, ho, wo), dtype=x.dtype)
    for n in range(n_):
        for f in range(f_):
            for y in range(ho):
                for xo in range(wo):
                    acc = b[f]
                    for c in range(c_):
                        for i in range(k):
                            for j in range(k):
                                acc += w[f, c, i, j] * xp[n, c, y * stride + i, xo * stride + j]
                    out[n, f, y, xo] = acc
    return out


rng = np.random.default_rng(0)
x = rng.standard_normal((N, C, H, H))  # float64: we want to compare to ~1e-15
w = rng.standard_normal((FILTERS, C, 3, 3)) / np.sqrt(C * 9)
b = rng.standard_normal(FILTERS)

t_loops = best_time(lambda: conv_loops(x, w, b), repeat=1 if not QUICK else 2)
out_loops = conv_loops(x, w, b)
macs = N * FILTERS * H * H * C * 9
print(f"seven loops: {out_loops.shape}, {macs:,} multiply-adds in {t_loops:.3f} s "
      f"({t_loops / macs * 1e9:.0f} ns each)")

# %% [markdown]
# **Your turn:** `tinydip exercise start conv_forward_loops` — write these loops yourself
# (with stride and padding); `tinydip exercise check conv_forward_loops` compares them with
# tinydip's convolution.
#
# About a microsecond per multiply-add: the interpreter spends its time deciding what
# `*` means, not multiplying. A modern CPU core does a few *billion* multiply-adds per
# second if we let it — that is what matrix-multiplication libraries (BLAS) are for.
#
# ## 2. im2col: a convolution is one matrix product
#
# Look at the inner three loops: for a fixed output pixel $(y, x)$ they take the
# $C \times K \times K$ patch of the input under the kernel and dot it with each filter.
# Stack all those patches as **columns** of a matrix
#
# $$\mathrm{cols}[(c, i, j),\ (y, x)] = x_{\mathrm{pad}}[c,\; yS + i,\; xS + j]
#   \qquad \text{shape } (C K^2,\ H_o W_o)$$
#
# and flatten the weights to $W_2$ of shape $(F, C K^2)$. Then, per image,
#
# $$\mathrm{out} = W_2 \,\mathrm{cols} + b \qquad (F, CK^2) \times (CK^2, H_oW_o).$$
#
# NumPy can build `cols` without any Python loop: `sliding_window_view` gives a *view* of
# all $K \times K$ windows, and one reshape copies them into place.

# %%
def im2col_numpy(x1, k, stride=1):
    """One image (C, H, W) -> cols (C*k*k, Ho*Wo), zero padding k // 2."""
    p = k // 2
    xp = np.pad(x1, ((0, 0), (p, p), (p, p)))
    win = sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::stride, ::stride]  # (C,Ho,Wo,k,k)
    c_, ho, wo = win.shape[:3]
    return win.transpose(0, 3, 4, 1, 2).reshape(c_ * k * k, ho * wo)  # rows ordered (c, i, j)


def conv_im2col(x, w, b, stride=1):
    n_, f_, k = x.shape[0], w.shape[0], w.shape[2]
    w2 = w.reshape(f_, -1)  # (F, C*k*k)
    outs = []
    for n in range(n_):
        cols = im2col_numpy(x[n], k, stride)
        outs.append(w2 @ cols + b[:, None])  # ONE matrix product per image
    ho = conv_out_size(x.shape[2], k, stride, k // 2)
    return np.stack(outs).reshape(n_, f_, ho, -1)


out_im2col = conv_im2col(x, w, b)
t_im2col = best_time(lambda: conv_im2col(x, w, b))
err_im2col = rel_error(out_im2col, out_loops)
print(f"im2col + matmul: rel_error vs loops {err_im2col:.1e}, {t_im2col * 1e3:.2f} ms "
      f"-> {t_loops / t_im2col:,.0f}x faster")

# %% [markdown]
# Here is what `cols` looks like for a tiny two-channel 4x4 image whose pixels are numbered
# (channel 0: 1–16, channel 1: 101–116). Each **column** is one output position's 3x3x2
# receptive field; each **row** is one kernel tap $(c, i, j)$ seen at every position — the
# image shifted by $(i-1, j-1)$. Zeros are the padding.

# %%
demo = np.stack([np.arange(1, 17), np.arange(101, 117)]).reshape(2, 4, 4).astype(float)
demo_cols = im2col_numpy(demo, 3)

fig, axes = plt.subplots(1, 3, figsize=(14, 5), gridspec_kw={"width_ratios": [1, 1, 3.2]},
                         layout="constrained")
for c in range(2):
    axes[c].imshow(demo[c], cmap="viridis")
    axes[c].set_title(f"channel {c}")
    for (i, j), v in np.ndenumerate(demo[c]):
        axes[c].text(j, i, f"{v:.0f}", ha="center", va="center", color="w", fontsize=9)
    axes[c].set_xticks([])
    axes[c].set_yticks([])
ax = axes[2]
ax.imshow(np.where(demo_cols == 0, np.nan, demo_cols % 100), cmap="viridis", aspect="auto")
for (i, j), v in np.ndenumerate(demo_cols):
    ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6,
            color="k" if v == 0 else "w")
ax.set_yticks(range(18), [f"c{r // 9} ({r // 3 % 3},{r % 3})" for r in range(18)], fontsize=7)
ax.set_xticks(range(16), [f"{p // 4},{p % 4}" for p in range(16)], fontsize=7)
ax.set_xlabel("output position (y, x)")
ax.set_ylabel("kernel tap: channel (i, j)")
ax.set_title(f"im2col matrix {demo_cols.shape}: one column per output pixel")
show(fig, "im2col_matrix")
print("cols shape", demo_cols.shape, "- the centre tap row c0 (1,1) is the image itself:",
      demo_cols[4])

# %% [markdown]
# The price: `cols` is $K^2 = 9$ times larger than the input. The reward: all the
# arithmetic happens inside one BLAS call.
#
# **Your turn:** `tinydip exercise start im2col`, then `tinydip exercise check im2col`:
# build the matrix yourself, with stride and zero padding.
#
# ## 3. The numba kernels
#
# `tinydip.kernels.im2col` fills the same matrix with a compiled loop, folding the padding
# into the index arithmetic (no padded copy, and reflection padding for free). It runs on
# one image `(C, H, W)` and writes into a preallocated `cols`:

# %%
k, p = 3, 1
cols_numba = np.empty((C * k * k, H * H))
t = time.perf_counter()
im2col(x[0], k, k, 1, p, False, cols_numba)  # (x, KH, KW, stride, pad, reflect, out)
first_call = time.perf_counter() - t
print(f"first call {first_call * 1e3:.1f} ms (numba loads or compiles the kernel), "
      f"identical to NumPy's: {np.array_equal(cols_numba, im2col_numpy(x[0], k))}")
print(f"second call {best_time(lambda: im2col(x[0], k, k, 1, p, False, cols_numba)) * 1e6:.0f}"
      " us")

# %% [markdown]
# That first call is the **JIT warm-up**: numba compiles each kernel to machine code the
# first time it sees a new combination of argument types (and caches the result on disk,
# so later runs only load it). Always warm up before timing.
#
# `F.conv2d_forward` puts it together: for each image, `im2col` into a buffer, then one
# matrix product `W2 @ cols` written straight into the output. (The product goes through
# `tinydip.functional.gemm`, which cuts large products into column blocks and runs them on
# numba's threads, each block a single-threaded BLAS call — it degrades gracefully when the
# cores are shared with other programs.)

# %%
out_kernel, cache = F.conv2d_forward(x, w, b)
err_kernel = rel_error(out_kernel, out_loops)
t_kernel = best_time(lambda: F.conv2d_forward(x, w, b))
print(f"numba conv2d_forward: rel_error vs loops {err_kernel:.1e}, {t_kernel * 1e3:.3f} ms "
      f"-> {t_loops / t_kernel:,.0f}x faster than the loops")

# %% [markdown]
# On the small problem the fixed costs dominate. A layer the size of the ones in the U-Net
# shows where the time really goes — and that the matrix product is the largest part of it,
# well ahead of building `cols`:

# %%
xb = rng.standard_normal((1, BIG_C, BIG_H, BIG_H)).astype(np.float32)
wb = (rng.standard_normal((BIG_C, BIG_C, 3, 3)) / np.sqrt(BIG_C * 9)).astype(np.float32)
bb = np.zeros(BIG_C, np.float32)
big_cols = np.empty((BIG_C * 9, BIG_H * BIG_H), np.float32)
im2col(xb[0], 3, 3, 1, 1, False, big_cols)  # warm up the float32 specialisation
timings = {
    "im2col (NumPy)": best_time(lambda: im2col_numpy(xb[0], 3)),
    "im2col (numba)": best_time(lambda: im2col(xb[0], 3, 3, 1, 1, False, big_cols)),
    "matmul W2 @ cols": best_time(lambda: wb.reshape(BIG_C, -1) @ big_cols),
    "conv via NumPy im2col": best_time(lambda: conv_im2col(xb, wb, bb)),
    "F.conv2d_forward": best_time(lambda: F.conv2d_forward(xb, wb, bb)),
}
gflop = 2 * BIG_C * BIG_C * 9 * BIG_H * BIG_H / 1e9
print(f"{BIG_C} -> {BIG_C} channels, 3x3, {BIG_H}x{BIG_H} float32 ({gflop * 1e3:.0f} MFLOP):")
for name, sec in timings.items():
    print(f"  {name:<22} {sec * 1e3:8.2f} ms")
print(f"  conv2d_forward runs at {gflop / timings['F.conv2d_forward']:.1f} GFLOP/s")
same_big = rel_error(F.conv2d_forward(xb, wb, bb)[0], conv_im2col(xb, wb, bb))

# %% [markdown]
# ## 4. Backward: two transposed products and a col2im
#
# Per image, forward is $\mathrm{out} = W_2\,\mathrm{cols} + b$ with
# $\mathrm{cols} = \mathrm{im2col}(x)$. Write $D$ for `dout` reshaped to $(F, H_oW_o)$.
# The matrix calculus for $Y = AB$ gives $\partial L/\partial A = D B^\top$ and
# $\partial L/\partial B = A^\top D$, so:
#
# $$\mathrm{dW_2} = D\,\mathrm{cols}^\top \quad (F, CK^2), \qquad
#   \mathrm{dcols} = W_2^\top D \quad (CK^2, H_oW_o), \qquad
#   \mathrm{db}_f = \textstyle\sum_{y,x} D[f, (y,x)].$$
#
# `dcols` is the gradient with respect to every *copy* of every pixel. A pixel was copied
# into up to $K^2$ columns, so its gradient is the **sum** over its copies: scatter-and-add
# `dcols` back into image shape. That is `col2im`, the transpose of `im2col`. (The kernel
# "flip" of chapter 1 is hidden in this transpose.)

# %%
dout = rng.standard_normal(out_kernel.shape)
w2 = w.reshape(FILTERS, -1)
dx_hand = np.zeros_like(x)
dw_hand = np.zeros_like(w2)
for n in range(N):
    cols_n = im2col_numpy(x[n], 3)
    d = dout[n].reshape(FILTERS, -1)  # (F, Ho*Wo)
    dw_hand += d @ cols_n.T  # (F, Ho*Wo) @ (Ho*Wo, C*9)
    dcols = w2.T @ d  # (C*9, F) @ (F, Ho*Wo)
    col2im(dcols, 3, 3, 1, 1, False, dx_hand[n])  # scatter-add into dx[n] (zeroed above)
db_hand = dout.sum(axis=(0, 2, 3))

dx_lib, dw_lib, db_lib = F.conv2d_backward(dout, cache)
err_bw_lib = max(rel_error(dx_hand, dx_lib), rel_error(dw_hand.reshape(w.shape), dw_lib),
                 rel_error(db_hand, db_lib))
print(f"by hand vs F.conv2d_backward: {err_bw_lib:.1e}")

# %% [markdown]
# Two independent confirmations. First, `col2im` really is the transpose of `im2col`: for
# any $x$ and $Y$, $\langle \mathrm{im2col}(x), Y\rangle = \langle x, \mathrm{col2im}(Y)
# \rangle$ (the *adjoint test*, which we will meet again for super-resolution). Second,
# finite differences, as in chapter 1.

# %%
x1 = rng.standard_normal((C, H, H))
Y = rng.standard_normal((C * 9, H * H))
cols1 = np.empty_like(Y)
im2col(x1, 3, 3, 1, 1, False, cols1)
back = np.zeros_like(x1)
col2im(Y, 3, 3, 1, 1, False, back)
lhs, rhs = np.sum(cols1 * Y), np.sum(x1 * back)
err_adjoint = abs(lhs - rhs) / abs(lhs)
print(f"<im2col(x), Y> = {lhs:.10f}\n<x, col2im(Y)> = {rhs:.10f}   rel diff {err_adjoint:.1e}")

dx_num = numerical_grad(lambda: F.conv2d_forward(x, w, b)[0], x, dout)
dw_num = numerical_grad(lambda: F.conv2d_forward(x, w, b)[0], w, dout)
err_bw_num = max(rel_error(dx_hand, dx_num), rel_error(dw_hand.reshape(w.shape), dw_num))
print(f"by hand vs finite differences: {err_bw_num:.1e}")

# %% [markdown]
# **Your turn:** `tinydip exercise start conv_backward`, then
# `tinydip exercise check conv_backward`: dx, dw and db of a convolution, checked against
# finite differences (its hints know the classic mistakes: a transposed kernel, a
# forgotten sum over the batch).
#
# The backward needs `cols` again. `F.conv2d_forward(..., cols=buffer)` keeps it in the
# cache; without that buffer, backward rebuilds it from the saved input with one more
# `im2col`. The `nn.Conv2d` layer keeps it when it is small (`keep_cols="auto"`, the
# default: up to `Conv2d.KEEP_MAX_BYTES`, 64 MB): memory for speed, a 9x larger matrix per
# 3x3 layer in exchange for one `im2col` less per step; larger ones are rebuilt in backward,
# which is what keeps a 512x512 fit below PyTorch's memory.
# Either way the backward costs two matrix products of the same size as the forward one,
# plus a `col2im`: about **twice** the forward.
#
# ## 5. Winograd: the same convolution with fewer multiplies
#
# im2col spends $9$ multiplies per output pixel and channel pair. Winograd's minimal
# filtering algorithm (Lavin & Gray, 2016) needs fewer. In 1-D, two outputs of a 3-tap
# filter $g$ over four inputs $d_0..d_3$ normally take 6 multiplies; these 4 suffice:
#
# $$m_1 = (d_0 - d_2)\,g_0,\quad m_2 = (d_1 + d_2)\tfrac{g_0 + g_1 + g_2}{2},\quad
#   m_3 = (d_2 - d_1)\tfrac{g_0 - g_1 + g_2}{2},\quad m_4 = (d_1 - d_3)\,g_2,$$
# $$y_0 = m_1 + m_2 + m_3, \qquad y_1 = m_2 - m_3 - m_4.$$
#
# The filter sums are computed once per filter, not per pixel. In matrix form
# $y = A^\top[(Gg) \odot (B^\top d)]$, and nesting it in both directions gives a 2x2 block of
# output from a 4x4 input tile with 16 multiplies instead of 36:
# $Y = A^\top[(G g G^\top) \odot (B^\top d B)]A$.

# %%
BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=float)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=float)
d4, g3 = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
y_wino = AT @ ((G @ g3 @ G.T) * (BT @ d4 @ BT.T)) @ AT.T  # 16 multiplies
y_direct = np.array([[np.sum(d4[i:i + 3, j:j + 3] * g3) for j in range(2)] for i in range(2)])
err_tile = rel_error(y_wino, y_direct)
print(f"one 4x4 tile, Winograd vs direct 3x3: rel_error {err_tile:.1e}")

# %% [markdown]
# A whole layer cuts the padded input into 4x4 tiles overlapping by 2. Summing over input
# channels turns the 16 elementwise products of every tile into **16 matrix products**,
# $M[\xi] = U[\xi]\,V[\xi]$ with $U[\xi]$ (F, C) the transformed filters and $V[\xi]$
# (C, tiles) the transformed input: the same GEMM machinery as im2col, on 2.25x less work,
# plus cheap additions (the transforms) before and after. Every step is linear, so backward
# runs the transposed steps in reverse order, exactly as `col2im` transposes `im2col`.

# What does the input transform $B^\top d B$ do to a picture? Applied to every tile of a
# grayscale photo, each of the 16 outputs is one fixed combination of a 4x4 patch: plane
# (1, 1) adds the middle rows and columns (a blurred copy of the image), the others take
# differences along one or both axes (edges). Summing over channels, the 16 products then
# weigh these planes with the transformed filters $G g G^\top$.

# %%
photo = sample_image(64, gray=True)[:, :, 0]  # (64, 64) in [0, 1]
planes = np.empty((16, 1, 32 * 32))
winograd_input(photo[None].astype(np.float64), False, planes)  # (16, C=1, tiles)
fig, axes = plt.subplots(4, 4, figsize=(7, 7))
for xi, ax in enumerate(axes.ravel()):
    ax.imshow(planes[xi, 0].reshape(32, 32), cmap="gray")
    ax.set_title(f"V[{xi // 4},{xi % 4}]", fontsize=8)
    ax.set_axis_off()
fig.suptitle("Winograd input transform B^T d B of every 4x4 tile: 16 planes")
show(fig, "winograd_planes")
blur_corr = np.corrcoef(planes[5, 0], photo[::2, ::2].ravel())[0, 1]  # plane (1, 1)
print(f"plane (1, 1) vs the photo at half size: correlation {blur_corr:.3f}")

# %%
out_w, cache_w = conv2d_winograd_forward(x, w, b)
err_wino = rel_error(out_w, out_kernel)
grads_w = conv2d_winograd_backward(dout, cache_w)
err_wino_bw = max(rel_error(a, c) for a, c in zip(grads_w, (dx_lib, dw_lib, db_lib),
                                                    strict=True))
# more repeats than above: the first calls pay for fresh buffers (page faults)
t_wino = best_time(lambda: conv2d_winograd_forward(xb, wb, bb), repeat=30)
t_im2col_big = best_time(lambda: F.conv2d_forward(xb, wb, bb), repeat=30)
same_big_wino = rel_error(conv2d_winograd_forward(xb, wb, bb)[0], conv_im2col(xb, wb, bb))
print(f"Winograd vs im2col (float64): forward {err_wino:.1e}, backward {err_wino_bw:.1e}")
print(f"float32 big layer: Winograd {t_wino * 1e3:.2f} ms vs im2col {t_im2col_big * 1e3:.2f} ms, "
      f"rel_error {same_big_wino:.1e}")

# %% [markdown]
# On this 64-channel layer, forward only, the two are close (the transforms cost memory
# traffic that the saved multiplies barely repay). The gain grows with channels and image
# size and counts twice in the backward pass: a 128-channel layer at 128x128, forward and
# backward, takes 0.6x im2col's time, and the paper's U-Net at 128x128 runs ~25% faster per
# iteration (`benchmarks/README.md`). On tiny images its fixed costs lose, so
# `nn.Conv2d(..., algo="auto")` uses it for 3x3, stride-1 layers of at least 16x16 pixels
# and im2col elsewhere. Its float32 round-off is a little larger than im2col's (the
# transforms add and subtract), still ~1e-6 relative.
#
# **Your turn:** `tinydip exercise start winograd_input_transform` — write the input
# transform $B^T d B$ of the overlapping 4x4 tiles; the checker combines it with the
# library's filter and output transforms and compares with a direct convolution.
#
# ## What this chapter promised

# %%
speedup_kernel = t_loops / t_kernel
speedup_im2col = t_loops / t_im2col
print(f"loops vs im2col vs numba (float64): rel_error {err_im2col:.1e}, {err_kernel:.1e}")
print(f"float32 big layer, NumPy im2col vs numba: rel_error {same_big:.1e}")
print(f"speedups over seven loops: im2col {speedup_im2col:,.0f}x, numba {speedup_kernel:,.0f}x")
print(f"backward by hand vs library / numerical: {err_bw_lib:.1e} / {err_bw_num:.1e}")
print(f"adjoint test im2col/col2im: {err_adjoint:.1e}")
print(f"Winograd tile / layer forward / backward: {err_tile:.1e} / {err_wino:.1e} / "
      f"{err_wino_bw:.1e}")
print(f"total time {time.perf_counter() - T0:.1f} s")

assert err_im2col < 1e-12 and err_kernel < 1e-12  # same numbers, to float64 round-off
assert same_big < 1e-5  # float32 round-off only
assert speedup_im2col > 10 and speedup_kernel > 10  # (~150-2400x measured)
assert timings["matmul W2 @ cols"] > timings["im2col (numba)"]  # the product dominates
assert np.array_equal(cols_numba, im2col_numpy(x[0], 3))
assert err_bw_lib < 1e-12 and err_bw_num < 1e-8
assert err_adjoint < 1e-12
assert err_tile < 1e-12 and err_wino < 1e-12 and err_wino_bw < 1e-12
assert same_big_wino < 1e-5  # float32: Winograd's round-off is still tiny
assert blur_corr > 0.9  # the (1, 1) plane of the input transform is a blurred image
print("all chapter 2 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. `cols` is 9 times larger than the input for a 3x3 kernel. For which layers of the
#    U-Net (think of channels and image size) does that memory matter most, and what does
#    tinydip's `keep_cols` trade against it?
# 2. Why is `col2im` a scatter-**add** and not a plain copy? What would a copy compute?
# 3. Winograd F(2x2, 3x3) saves multiplies but adds transforms. Why does it pay off less
#    for a layer with few channels or a tiny image?
#
# Short answers: `tutorials/ANSWERS.md`.
