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
# # Chapter 1 — Gradients by hand
#
# tinydip has no autograd. Every layer — convolution, batch norm, activations, upsampling —
# comes with a backward pass written by hand, and Deep Image Prior trains by following those
# gradients for thousands of steps. A wrong index in a backward pass does not crash anything:
# the loss still goes down, just more slowly or towards the wrong place. Bugs like that are
# invisible in the results, so we *prove* every backward pass against an independent
# computation: finite differences.
#
# In this chapter you will
#
# 1. run one layer's forward and backward by hand and see what the cache is for,
# 2. write a central-difference gradient and a relative-error measure,
# 3. see why the check must run in float64 (and watch float32 fail to resolve a real bug),
# 4. check every tinydip layer with `check_module`,
# 5. plant bugs — a LeakyReLU that forgets its slope, a convolution backward that forgets to
#    flip its kernel — and watch `check_module` and `check_vjp` catch them.
#
# Run it as a script (`python tutorials/01_gradients.py`) or as a notebook
# (`tinydip notebooks`, then `jupyter lab tutorials/`). `TINYDIP_QUICK=1` makes every
# tutorial small and fast; this one is fast either way.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from tinydip import functional as F
from tinydip import nn
from tinydip.gradcheck import check_module, check_vjp, numerical_grad, rel_error
from tinydip.models import skip_unet
from tinydip.tutorial import Tutorial

TUTORIAL = Tutorial("01", globals().get("__file__"))  # quick mode, figure folder
QUICK, OUT, show = TUTORIAL.quick, TUTORIAL.out, TUTORIAL.show
T0 = time.perf_counter()


np.set_printoptions(precision=4, suppress=True)
print("quick mode" if QUICK else "full mode")

# %% [markdown]
# ## 1. A layer's forward and backward
#
# Every operation in `tinydip.functional` comes as a pair:
#
# ```
# out, cache = op_forward(x, ...)
# dx = op_backward(dout, cache)
# ```
#
# The backward pass receives `dout` $= \partial L / \partial\,\mathrm{out}$ — how the
# final loss $L$ (whatever it is) changes with each output — and returns
# $\partial L/\partial x$. By the chain rule that is a *vector–Jacobian product*:
#
# $$\frac{\partial L}{\partial x_i} = \sum_j \frac{\partial L}{\partial\,\mathrm{out}_j}
#   \frac{\partial\,\mathrm{out}_j}{\partial x_i} = (J^\top \mathrm{dout})_i .$$
#
# The *cache* holds whatever forward computed that backward needs. For the LeakyReLU
# $\mathrm{out} = x$ if $x>0$ else $a x$ the local derivative is $1$ or $a$, so the cache is
# $(x, a)$. Let's run it.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 4, 4))
x += 0.1 * np.sign(x)  # keep every entry at least 0.1 away from the kink at 0 (see below)

out, cache = F.leaky_relu_forward(x, 0.2)
dout = rng.standard_normal(out.shape)  # stands in for dL/dout coming from later layers
dx = F.leaky_relu_backward(dout, cache)

print("x[0, 0, 0]    ", x[0, 0, 0])
print("out[0, 0, 0]  ", out[0, 0, 0])
print("dout[0, 0, 0] ", dout[0, 0, 0])
print("dx[0, 0, 0]   ", dx[0, 0, 0], " (= dout where x > 0, 0.2 * dout elsewhere)")
print("cache holds:", type(cache[0]).__name__, cache[0].shape, "and slope", cache[1])

# %% [markdown]
# For the sigmoid $s = 1/(1+e^{-x})$ the derivative is $s(1-s)$, so the cache is the
# *output* — no need to keep $x$ at all:

# %%
s, s_cache = F.sigmoid_forward(x)
ds = F.sigmoid_backward(dout, s_cache)
print("sigmoid cache is the output itself:", s_cache is s)
print("dx = dout * s * (1 - s):", np.allclose(ds, dout * s * (1 - s)))

# %% [markdown]
# **Your turn:** write these two backward passes yourself.
# `tinydip exercise start leaky_relu_backward` writes a stub file to fill in, and
# `tinydip exercise check leaky_relu_backward` checks your version (shapes, values,
# finite differences) and gives a hint for each failing check. The same for
# `sigmoid_backward`.

# %% [markdown]
# ## 2. Central finite differences
#
# To test a backward pass on its own we need a scalar loss. Take a fixed random `dout` and
#
# $$L(x) = \sum_j \mathrm{out}_j(x)\,\mathrm{dout}_j ,$$
#
# whose gradient is *exactly* $J^\top \mathrm{dout}$ — the very thing backward claims to
# compute. A random `dout` exercises every row of the Jacobian at once.
#
# Now nudge one input at a time. Taylor expansion around $x$ gives
#
# $$L(x \pm h e_i) = L \pm h L' + \tfrac{h^2}{2} L'' \pm \tfrac{h^3}{6} L''' + \dots$$
#
# so the **central difference**
#
# $$\frac{L(x + h e_i) - L(x - h e_i)}{2h} = \frac{\partial L}{\partial x_i}
#   + \frac{h^2}{6} L''' + O(h^4)$$
#
# is accurate to $O(h^2)$, where the one-sided $(L(x+he_i) - L(x))/h$ would only be $O(h)$.

# %%
def central_diff(loss, x, h):
    """Central-difference gradient of loss() w.r.t. x, perturbing x in place."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views into x and grad
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = loss()
        flat[i] = old - h
        minus = loss()
        flat[i] = old  # restore exactly
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def leaky_loss():
    return np.sum(F.leaky_relu_forward(x, 0.2)[0] * dout)


dx_num = central_diff(leaky_loss, x, h=1e-5)
print("max |analytic - numerical| =", np.abs(dx - dx_num).max())

# %% [markdown]
# How do we judge such a difference? Gradients can be huge or tiny, so we use a **relative
# error** — normalised by the largest entry, not entry by entry (tiny entries are pure
# round-off on both sides and would otherwise dominate the verdict):
#
# $$\mathrm{rel\_error}(a, b) = \frac{\max_i |a_i - b_i|}{\max(\max_i |a_i|, \max_i |b_i|)} .$$
#
# In float64, a correct backward lands around $10^{-10}$; anything above $10^{-7}$ deserves
# suspicion, and bugs typically score $10^{-3}$ to $1$.

# %%
err_leaky = rel_error(dx, dx_num)
print(f"LeakyReLU: rel_error = {err_leaky:.2e}")

# %% [markdown]
# **Your turn:** `tinydip exercise start numerical_gradient`, then
# `tinydip exercise check numerical_gradient`: the central difference and the relative
# error, written and checked by you.

# %% [markdown]
# **Why keep away from the kink?** At $x = 0$ the LeakyReLU is not differentiable: if
# $x_i$ sits within $h$ of zero, the two evaluations straddle the kink and the difference
# quotient averages the two slopes. Here is what happens to one such entry:

# %%
x_kink = x.copy()
x_kink[0, 0, 0, 0] = 3e-6  # closer to 0 than h = 1e-5
dx_kink = F.leaky_relu_backward(dout, F.leaky_relu_forward(x_kink, 0.2)[1])


def kink_loss():
    return np.sum(F.leaky_relu_forward(x_kink, 0.2)[0] * dout)


err_kink = rel_error(dx_kink, central_diff(kink_loss, x_kink, h=1e-5))
print(f"one entry 3e-6 from the kink: rel_error = {err_kink:.2e}  (a false alarm)")

# %% [markdown]
# ## 3. Choosing $h$ — and why float64
#
# Two errors fight each other:
#
# * **truncation**, $\approx \frac{h^2}{6}|L'''|$, shrinks as $h$ shrinks;
# * **round-off**: each $L$ is only known to about $\varepsilon |L|$ (machine epsilon
#   $\varepsilon$), and dividing by $2h$ amplifies that to $\approx \varepsilon |L| / h$.
#
# The total is smallest near $h_{\mathrm{opt}} \sim \varepsilon^{1/3}$ where it is about
# $\varepsilon^{2/3}$. For float64 ($\varepsilon \approx 2\times10^{-16}$) that is
# $\sim 10^{-11}$; for float32 ($\varepsilon \approx 1.2\times10^{-7}$) it is only
# $\sim 10^{-5}$, and often worse. Let's measure it on the sigmoid, whose $L'''$ is not zero.

# %%
hs = np.logspace(-1, -9, 17)
curves, zeros32, x_unchanged32 = {}, [], []
for dtype in (np.float64, np.float32):
    xs = x.astype(dtype)
    d = dout.astype(dtype)
    analytic = F.sigmoid_backward(d, F.sigmoid_forward(xs)[1])

    def sig_loss(xs=xs, d=d):
        return np.sum(F.sigmoid_forward(xs)[0] * d)

    curves[dtype.__name__] = []
    for h in hs:
        num = central_diff(sig_loss, xs, dtype(h))
        curves[dtype.__name__].append(rel_error(analytic, num))
        if dtype is np.float32:
            zeros32.append(float(np.mean(num == 0)))  # difference quotient exactly 0
            x_unchanged32.append(float(np.mean(xs + dtype(h) == xs)))  # x + h rounds to x
    best = int(np.argmin(curves[dtype.__name__]))
    print(f"{dtype.__name__}: best rel_error {curves[dtype.__name__][best]:.1e} "
          f"at h = {hs[best]:.0e}")
L32 = float(np.sum(F.sigmoid_forward(x.astype(np.float32))[0] * dout.astype(np.float32)))
print(f"L = {L32:.4f}; float32 spacing near |L|: {np.spacing(np.float32(abs(L32))):.1e}, "
      f"near the largest |x| = {np.abs(x).max():.2f}: "
      f"{np.spacing(np.float32(np.abs(x).max())):.1e}")
print(f"{'h':>7} {'float64':>9} {'float32':>9} {'f32 grad == 0':>14} {'f32 x+h == x':>13}")
for i, h in enumerate(hs):
    print(f"{h:7.0e} {curves['float64'][i]:9.1e} {curves['float32'][i]:9.1e} "
          f"{zeros32[i]:14.0%} {x_unchanged32[i]:13.0%}")

fig, ax = plt.subplots(figsize=(6, 4))
for name, errs in curves.items():
    ax.loglog(hs, errs, "o-", label=name)
ax.set_xlabel("step h")
ax.set_ylabel("relative error (sigmoid backward)")
ax.set_title("truncation (large h, left) vs round-off (small h, right)")
ax.invert_xaxis()
ax.grid(True, which="both", alpha=0.3)
ax.legend()
show(fig, "error_vs_h")

best64, best32 = min(curves["float64"]), min(curves["float32"])
i6 = int(np.argmin(np.abs(hs - 1e-6)))  # h = 1e-6: x + h != x, yet float32 is lost

# %% [markdown]
# Read the V shapes from left to right: truncation error falls like $h^2$ (slope 2 on the
# log-log plot), until round-off takes over and the error grows like $1/h$. The float64
# curve bottoms out near $10^{-10}$ (at $h \approx 3\times10^{-5}$); float32 bottoms out
# around $5\times10^{-5}$ at $h \approx 10^{-2}$, close to $\varepsilon^{1/3}$.
#
# Where exactly does float32 break down? Not where $x + h$ rounds back to $x$: the last
# column of the table shows that happens only below $h \approx 10^{-7}$. Long before, the
# table shows numerical gradients that are *exactly zero*. The culprit is the loss, not
# the input: $L$ is a sum of 96 terms and float32 stores it with about seven significant
# digits, so two values of $L$ that differ by less than the spacing of float32 numbers near
# $|L|$ (printed above) come out identical. An entry whose gradient $g_i$ changes $L$ by
# $2h\,|g_i|$ less than that spacing gets a difference quotient of 0 — already a few
# entries at $h = 10^{-4}$, about half at $h = 10^{-6}$ (a 76 % error), where $x + h$
# still differs from $x$ for every single entry. That is the round-off
# term $\varepsilon |L| / h$ of the analysis above: it is governed by the size of the
# *loss*, not of $x$.
#
# The floor of the V is the **resolution** of the checker: a bug that changes the gradient
# by less than the floor is invisible. tinydip's own `numerical_grad` uses the five-point stencil
#
# $$\frac{-L(x+2h) + 8L(x+h) - 8L(x-h) + L(x-2h)}{12h}$$
#
# whose truncation error is $O(h^4)$, so $h = 10^{-5}$ in float64 is comfortably in the
# flat bottom of the V. Same answer as ours, better margin:

# %%
dx_lib = numerical_grad(lambda: F.leaky_relu_forward(x, 0.2)[0], x, dout)
print(f"numerical_grad vs analytic: {rel_error(dx, dx_lib):.2e}")

# %% [markdown]
# ## 4. Checking modules: `check_module`
#
# `check_module(module, x)` does all of this for a whole `nn.Module`: it draws a random
# `dout`, runs forward and backward, and compares **dx and every parameter gradient** with
# `numerical_grad`, returning one relative error per tensor. (It also restores BatchNorm's
# running statistics after every evaluation, so the check has no side effects.)
# Modules are float32 by default; `dtype=np.float64` or `module.astype(np.float64)` makes a
# float64 module for checking (`astype` converts in place).

# %%
def away_from_zero(shape, margin=0.1):
    v = rng.standard_normal(shape)
    return np.sign(v) * (np.abs(v) + margin)


F64 = np.float64
bn = nn.BatchNorm2d(3, slope=0.2, dtype=F64)  # BN with a fused LeakyReLU(0.2)
bn.weight.data[:] = rng.uniform(0.5, 1.5, 3)  # non-trivial gamma and beta
bn.bias.data[:] = rng.uniform(-0.3, 0.3, 3)

cases = {
    "Conv2d 3x3, zeros": (nn.Conv2d(2, 3, 3, rng=rng, dtype=F64), (2, 2, 6, 5)),
    "Conv2d 3x3 stride 2, reflect": (
        nn.Conv2d(2, 3, 3, stride=2, padding="reflect", rng=rng, dtype=F64), (2, 2, 6, 5)),
    "Conv2d 1x1": (nn.Conv2d(3, 4, 1, rng=rng, dtype=F64), (2, 3, 4, 4)),
    "BatchNorm2d": (nn.BatchNorm2d(3, dtype=F64), (2, 3, 4, 4)),
    "BatchNorm2d + LeakyReLU(0.2)": (bn, (2, 3, 4, 4)),
    "LeakyReLU(0.2)": (nn.LeakyReLU(0.2), (2, 3, 4, 4)),
    "Sigmoid": (nn.Sigmoid(), (2, 3, 4, 4)),
    "Upsample bilinear x2": (nn.Upsample(2, "bilinear"), (1, 2, 3, 4)),
    "Upsample nearest x2": (nn.Upsample(2, "nearest"), (1, 2, 3, 4)),
}
layer_errors = {}
print(f"{'layer':<32} {'worst rel_error':>15}   per tensor")
for name, (module, shape) in cases.items():
    errs = check_module(module, away_from_zero(shape), rng=rng)
    layer_errors[name] = max(errs.values())
    detail = ", ".join(f"{k}: {v:.1e}" for k, v in errs.items())
    print(f"{name:<32} {layer_errors[name]:>15.2e}   {detail}")

# %% [markdown]
# Every layer agrees with finite differences to about $10^{-10}$.
#
# ## 5. float32 cannot tell a right backward from a wrong one
#
# Here is a realistic, *subtle* bug. BatchNorm divides by $\sqrt{\sigma^2 + \epsilon}$. A
# backward pass that forgets the $\epsilon$ and uses $1/\sqrt{\sigma^2}$ is wrong by a
# relative $\approx \epsilon / (2\sigma^2) \approx 5\times 10^{-6}$ — small, but a real
# bug. We plant it by editing the cached inverse standard deviation before calling the
# correct backward:

# %%
class ForgotEpsBatchNorm(nn.BatchNorm2d):
    """BUG: backward uses 1/sqrt(var) where forward used 1/sqrt(var + eps)."""

    def backward(self, dout):
        x, mean, istd, *rest = self._need_cache(self._cache)
        var = 1 / istd**2 - self.eps  # undo the eps the forward pass added
        self._cache = (x, mean, 1 / np.sqrt(var), *rest)
        return super().backward(dout)


subtle = {}
xb = rng.standard_normal((2, 3, 4, 4))
for dtype in (np.float64, np.float32):
    for cls in (nn.BatchNorm2d, ForgotEpsBatchNorm):
        errs = check_module(cls(3, dtype=dtype), xb.astype(dtype), rng=np.random.default_rng(1))
        subtle[dtype.__name__, cls.__name__] = errs["x"]
        print(f"{dtype.__name__:8} {cls.__name__:20} dx rel_error = {errs['x']:.1e}")

# %% [markdown]
# In float64 the correct layer scores $\sim 10^{-10}$ and the buggy one $\sim 10^{-6}$ —
# four orders of magnitude apart, an unambiguous verdict. In float32 *both* score several
# $10^{-2}$: the round-off of the check is some ten thousand times larger than the bug, and
# the correct layer may even score worse than the buggy one. That is why every check in tinydip
# runs in float64, even though training runs in float32.
#
# ## 6. Planting bugs and watching the checker catch them
#
# ### A LeakyReLU that forgets its slope
#
# A classic copy-paste bug: the backward of ReLU reused for LeakyReLU, so the gradient on
# the negative side is 0 instead of $a\cdot$dout.

# %%
class ForgetfulLeakyReLU(nn.LeakyReLU):
    """BUG: backward passes no gradient where x <= 0 (forgets the slope)."""

    def backward(self, dout):
        x, slope = self._need_cache(self._cache)
        return np.where(x > 0, dout, 0.0)


xl = away_from_zero((2, 3, 4, 4))
leaky_good = check_module(nn.LeakyReLU(0.2), xl)["x"]
leaky_bad = check_module(ForgetfulLeakyReLU(0.2), xl)["x"]
print(f"LeakyReLU            check_module {leaky_good:.1e}")
print(f"ForgetfulLeakyReLU   check_module {leaky_bad:.1e}   <- caught")

# %% [markdown]
# `check_module` costs four forward passes *per entry* of every tensor — fine for a layer,
# hopeless for a network with millions of weights. `check_vjp` (the HIPS/autograd trick)
# needs only **two** forward passes whatever the size: draw a random direction $v$ over the
# input and all parameters, and compare the directional derivative
#
# $$\frac{\langle u, f(\theta + h v)\rangle - \langle u, f(\theta - h v)\rangle}{2h}
#   \quad\text{with}\quad \langle \mathrm{backward}(u), v \rangle .$$
#
# A single number, and it still catches the bug:

# %%
vjp_leaky_good = check_vjp(nn.LeakyReLU(0.2), xl)
vjp_leaky_bad = check_vjp(ForgetfulLeakyReLU(0.2), xl)
print(f"LeakyReLU            check_vjp {vjp_leaky_good:.1e}")
print(f"ForgetfulLeakyReLU   check_vjp {vjp_leaky_bad:.1e}   <- caught")

# %% [markdown]
# ### A convolution backward that forgets to flip the kernel
#
# A "convolution" layer actually computes a cross-correlation (for one channel, stride 1,
# padding $p = (K-1)/2$):
#
# $$\mathrm{out}[y, x] = \sum_{i,j} w[i, j]\; x_{\mathrm{pad}}[y + i, x + j].$$
#
# Each input pixel $x[u, v]$ feeds the outputs $[u - i + p, v - j + p]$, so
#
# $$\frac{\partial L}{\partial x[u,v]} = \sum_{i,j} w[i,j]\;
#   \mathrm{dout}_{\mathrm{pad}}[u - i + 2p,\, v - j + 2p]
#   = \sum_{i',j'} w[K\!-\!1\!-\!i', K\!-\!1\!-\!j']\;
#   \mathrm{dout}_{\mathrm{pad}}[u + i', v + j'] :$$
#
# the input gradient is the *same* correlation applied to `dout`, with the kernel rotated by
# 180° (and, with many channels, input and output channels swapped). Forget the rotation
# and the result is still a plausible-looking image of gradients — only wrong.
# (tinydip's own backward uses im2col/col2im instead, chapter 2; the flip is hidden in the
# transpose.)

# %%
class FlipConv2d(nn.Conv2d):
    """dx as a correlation of dout with the flipped kernel (stride 1, zero padding)."""

    flip = True

    def backward(self, dout):
        cache = self._need_cache(self._cache)
        w = self.weight.data.transpose(1, 0, 2, 3)  # (C_in, C_out, K, K): swap channels
        if self.flip:
            w = w[:, :, ::-1, ::-1]  # rotate each kernel by 180 degrees
        dx, _ = F.conv2d_forward(dout, np.ascontiguousarray(w), None)
        _, dw, db = F.conv2d_backward(dout, cache)  # keep the library's dw and db
        self.weight.grad += dw
        self.bias.grad += db
        return dx


class NoFlipConv2d(FlipConv2d):
    """BUG: the same, without the 180-degree rotation."""

    flip = False


xc = rng.standard_normal((2, 2, 6, 6))
conv_errs, conv_vjp = {}, {}
for cls in (nn.Conv2d, FlipConv2d, NoFlipConv2d):
    conv = cls(2, 3, 3, rng=np.random.default_rng(5), dtype=F64)
    conv_errs[cls.__name__] = check_module(conv, xc, rng=np.random.default_rng(6))
    conv_vjp[cls.__name__] = check_vjp(conv, xc, rng=np.random.default_rng(6))
    e = conv_errs[cls.__name__]
    print(f"{cls.__name__:13} check_module dx {e['x']:.1e}  weight {e['weight']:.1e}  "
          f"bias {e['bias']:.1e} | check_vjp {conv_vjp[cls.__name__]:.1e}")

# %% [markdown]
# Note how `check_module` *localises* the bug: only `x` fails; the weight and bias
# gradients (computed by the library) are fine. `check_vjp` only says "something is wrong".
#
# ## 7. A whole network in one number
#
# Finally, the Deep Image Prior U-Net itself (a tiny one: two levels, four channels) in
# float64, checked end to end through every Conv, fused BatchNorm/LeakyReLU, Concat skip
# connection, Upsample and the final Sigmoid.
#
# Two things make a network harder to check than a layer. Hidden LeakyReLUs cannot be kept
# away from their kinks by choosing $x$; a small $h$ makes crossing one unlikely. And a
# BatchNorm over a 2x2 feature map with a small variance is a *very* curved function, so the
# two-point stencil of `check_vjp` (truncation $\propto h^2$) needs a small step: its default
# $h = 10^{-6}$. We also loosen the pass thresholds to $10^{-5}$ / $10^{-6}$ — still four
# orders of magnitude below the bugs above.

# %%
tiny = skip_unet(rng=np.random.default_rng(0), dtype=F64, in_channels=2, out_channels=1,
                 channels_down=(4, 4), channels_up=(4, 4), channels_skip=(2, 2))
z = np.random.default_rng(10).uniform(0, 1, (1, 2, 8, 8))
print(f"tiny U-Net: {tiny.num_parameters()} parameters in "
      f"{len(list(tiny.parameters()))} tensors")
t = time.perf_counter()
vjp_net = check_vjp(tiny, z)  # h = 1e-6
print(f"check_vjp    {vjp_net:.1e}  ({time.perf_counter() - t:.2f} s)")
t = time.perf_counter()
net_errs = check_module(tiny, z, scale="global")  # h = 1e-5, five-point stencil
print(f"check_module {max(net_errs.values()):.1e}  worst over {len(net_errs)} tensors, "
      f"scale='global' ({time.perf_counter() - t:.2f} s)")

# %% [markdown]
# Why `scale="global"`? A convolution bias right before a train-mode BatchNorm has a
# gradient of *exactly zero* (BN subtracts the batch mean, so adding a constant changes
# nothing). Its per-tensor relative error compares round-off with round-off. Dividing each
# tensor's error by the largest gradient of the whole network asks the meaningful question:
# "is any gradient wrong by a noticeable fraction of the network's gradient?"
#
# ## What this chapter promised
#
# The numbers, asserted (in quick and full mode alike):

# %%
print(f"LeakyReLU by hand:           {err_leaky:.1e}  < 1e-8")
print(f"best float64 / float32 step: {best64:.1e} / {best32:.1e}")
print(f"worst layer (check_module):  {max(layer_errors.values()):.1e}  < 1e-7")
print(f"forgot-eps BN float64:       {subtle['float64', 'ForgotEpsBatchNorm']:.1e}  > 1e-7")
print(f"planted bugs caught:         leaky {leaky_bad:.2f}, no-flip conv "
      f"{conv_errs['NoFlipConv2d']['x']:.2f}")
print(f"tiny U-Net check_vjp:        {vjp_net:.1e}  < 1e-6")
print(f"total time {time.perf_counter() - T0:.1f} s")

assert err_leaky < 1e-8
assert err_kink > 1e-3  # straddling the kink gives a false alarm
assert best64 < 1e-8 and best32 > 1e-6 and best32 > 100 * best64
assert 1e-3 <= hs[int(np.argmin(curves["float32"]))] <= 1e-1  # float32's h_opt ~ eps^(1/3)
# float32 breaks down through the loss's round-off, long before x + h rounds back to x:
assert x_unchanged32[i6] == 0 and zeros32[i6] > 0.2 and curves["float32"][i6] > 0.1
assert zeros32[-1] == 1.0  # at h = 1e-9 every difference quotient is 0
assert max(layer_errors.values()) < 1e-7, layer_errors
# float64 separates the subtle bug from the correct layer; float32 cannot resolve it
assert subtle["float64", "BatchNorm2d"] < 1e-8 < 1e-7 < subtle["float64", "ForgotEpsBatchNorm"]
assert subtle["float32", "BatchNorm2d"] > 1e-4  # the float32 noise floor
assert subtle["float32", "BatchNorm2d"] > 1000 * subtle["float64", "ForgotEpsBatchNorm"]
# planted bugs are caught by both checkers; correct versions pass
assert leaky_good < 1e-8 and leaky_bad > 1e-2
assert vjp_leaky_good < 1e-7 and vjp_leaky_bad > 1e-3
assert max(conv_errs["Conv2d"].values()) < 1e-7 and max(conv_errs["FlipConv2d"].values()) < 1e-7
assert conv_errs["NoFlipConv2d"]["x"] > 1e-2 and conv_errs["NoFlipConv2d"]["weight"] < 1e-7
assert conv_vjp["FlipConv2d"] < 1e-7 and conv_vjp["NoFlipConv2d"] > 1e-3
assert vjp_net < 1e-6 and max(net_errs.values()) < 1e-5
print("all chapter 1 checks passed")

# %% [markdown]
# ## Questions to think about
#
# 1. `check_module` perturbs one entry at a time (four forward passes per entry), while
#    `check_vjp` perturbs everything at once along a random direction. What kind of bug
#    could `check_vjp` miss, and why is that unlikely with a random direction?
# 2. The float32 error at $h = 10^{-6}$ is about 76 %. Would it get better or worse if the
#    loss summed 10,000 terms instead of 96? (Hint: look at what sets the spacing of $L$.)
# 3. Why must the check keep inputs away from the LeakyReLU's kink, while training never
#    worries about it?
#
# Short answers: `tutorials/ANSWERS.md`.
