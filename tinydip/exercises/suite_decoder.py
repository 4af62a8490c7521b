"""Checks for one Deep Decoder layer, forward and backward (chapter 7): 1x1 convolution ->
bilinear x2 -> ReLU -> BatchNorm in train mode, the order of ``models/decoder.py``; the
reference is tinydip's own functional layers chained."""

from __future__ import annotations

import numpy as np

from ..functional import (
    batchnorm_backward,
    batchnorm_forward,
    conv2d_backward,
    conv2d_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    upsample_backward,
    upsample_forward,
)
from .checks import Fail, LearnerModule, Suite, compare, expect_array, gradcheck, unpack

DECODER_LAYER = Suite()

EPS = 1e-5
AXES = (0, 2, 3)
# (N, C, F, H, W): the Deep Decoder's k -> k (F = C, so a transposed dw has the right
# shape), a channel change, odd and one-pixel-high sizes
CASES = ((1, 3, 3, 3, 4), (1, 2, 4, 4, 3), (1, 4, 2, 1, 3))


def _data(rng: np.random.Generator, case, dtype=np.float64):
    N, C, F, H, W = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, 1, 1)).astype(dtype)
    gamma = rng.uniform(0.5, 2, F).astype(dtype)
    beta = rng.standard_normal(F).astype(dtype)
    dout = rng.standard_normal((N, F, 2 * H, 2 * W)).astype(dtype)
    return x, w, gamma, beta, dout


def _reference(x, w, gamma, beta, dout):
    """tinydip's layers chained: (out, dx, dw, dgamma, dbeta)."""
    F = w.shape[0]
    a, c_conv = conv2d_forward(x, w, None)
    u, c_up = upsample_forward(a, 2, "bilinear")
    r, c_relu = leaky_relu_forward(u, 0.0)
    out, c_bn = batchnorm_forward(r, gamma, beta, np.zeros(F), np.ones(F), True, 0.1, EPS)
    dr, dgamma, dbeta = batchnorm_backward(dout, c_bn)
    da = upsample_backward(leaky_relu_backward(dr, c_relu), c_up)
    dx, dw, _ = conv2d_backward(da, c_conv)
    return out, dx, dw, dgamma, dbeta


# ---- known wrong variants, stage by stage (plain NumPy, float64) ---------------------------

def _up(a: np.ndarray, nearest: bool = False) -> np.ndarray:
    if nearest:
        return a.repeat(2, axis=2).repeat(2, axis=3)
    return upsample_forward(a, 2, "bilinear")[0]


def _norm(r: np.ndarray, gamma, beta, ddof: int = 0):
    mu = r.mean(axis=AXES, keepdims=True)
    M = r.shape[0] * r.shape[2] * r.shape[3]
    var = ((r - mu) ** 2).sum(axis=AXES, keepdims=True) / (M - ddof)
    xhat = (r - mu) / np.sqrt(var + EPS)
    return gamma.reshape(1, -1, 1, 1) * xhat + beta.reshape(1, -1, 1, 1)


def _forward_mistakes(x, w, gamma, beta) -> dict[str, np.ndarray]:
    a = np.einsum("fc,nchw->nfhw", w[:, :, 0, 0], x)
    u = _up(a)
    r = np.maximum(u, 0)
    return {
        "the ReLU and the normalisation are in the wrong order: the Deep Decoder applies the "
        "ReLU to the upsampled values, THEN normalises (models/decoder.py)":
            np.maximum(_norm(u, gamma, beta), 0),
        "the ReLU comes before the upsampling; the order is 1x1 conv -> upsample -> ReLU -> "
        "normalisation": _norm(_up(np.maximum(a, 0)), gamma, beta),
        "that is nearest-neighbour upsampling: the layer upsamples bilinearly "
        "(_upsample_axis along H, then W)": _norm(np.maximum(_up(a, True), 0), gamma, beta),
        "the variance is the unbiased one (divided by M - 1); BatchNorm normalises with the "
        "biased variance, mean((r - mu)^2)": _norm(r, gamma, beta, ddof=1),
        "the weights are used transposed: a[f] = sum_c w[f, c] x[c] (w is (F, C, 1, 1))":
            _norm(np.maximum(_up(np.einsum("cf,nchw->nfhw", w[:, :, 0, 0], x)), 0),
                  gamma, beta) if w.shape[0] == w.shape[1] else np.full(1, np.nan),
    }


def _nearest_adjoint(d: np.ndarray) -> np.ndarray:
    N, C, H2, W2 = d.shape
    return d.reshape(N, C, H2 // 2, 2, W2 // 2, 2).sum(axis=(3, 5))


def _backward_variant(x, w, gamma, beta, dout, bn="ok", up="ok", conv="ok", relu="ok"):
    """(dx, dw) with one stage's backward replaced by a classic mistake."""
    w2 = w[:, :, 0, 0]
    a = np.einsum("fc,nchw->nfhw", w2, x)
    u = _up(a)
    r = np.maximum(u, 0)
    mu = r.mean(axis=AXES, keepdims=True)
    istd = 1 / np.sqrt(((r - mu) ** 2).mean(axis=AXES, keepdims=True) + EPS)
    xhat = (r - mu) * istd
    g = gamma.reshape(1, -1, 1, 1) * dout
    mean_g = 0 if bn in ("no_mean", "eval") else g.mean(axis=AXES, keepdims=True)
    mean_gx = 0 if bn in ("no_var", "eval") else (g * xhat).mean(axis=AXES, keepdims=True)
    dr = (g - mean_g - xhat * mean_gx) * istd
    out = gamma.reshape(1, -1, 1, 1) * xhat + beta.reshape(1, -1, 1, 1)
    du = dr if relu == "none" else dr * ((out > 0) if relu == "out" else (u > 0))
    if up == "nearest":
        da = _nearest_adjoint(du)
    elif up == "subsample":
        da = du[:, :, ::2, ::2]
    else:
        da = upsample_backward(du, (a.shape, 2, "bilinear"))
    dw = np.einsum("nfhw,nchw->fc", da, x)
    if conv == "dw_T":
        dw = dw.T
    dx = np.einsum("cf,nfhw->nchw" if conv == "dx_w" else "fc,nfhw->nchw", w2, da)
    return dx, dw[:, :, None, None]


def _backward_mistakes(x, w, gamma, beta, dout) -> dict[str, tuple]:
    square = w.shape[0] == w.shape[1]
    out = {
        "the normalisation's mean term is missing: mu depends on every value of the channel, "
        "so dr = (g - mean(g) - xhat * mean(g * xhat)) / std -- subtract mean(g) too":
            _backward_variant(x, w, gamma, beta, dout, bn="no_mean"),
        "the normalisation's variance term is missing: var depends on every value of the "
        "channel -- subtract xhat * mean(g * xhat) too":
            _backward_variant(x, w, gamma, beta, dout, bn="no_var"),
        "that is the normalisation's eval-mode gradient: in train mode mu and var depend on "
        "the input, which adds - mean(g) - xhat * mean(g * xhat)":
            _backward_variant(x, w, gamma, beta, dout, bn="eval"),
        "the upsampling's backward is a nearest-neighbour copy (a sum of 2x2 blocks): the "
        "adjoint of BILINEAR upsampling sends 3/4 and 1/4 of each output back to the inputs "
        "it was interpolated from": _backward_variant(x, w, gamma, beta, dout, up="nearest"),
        "subsampling the gradient is not the upsampling's adjoint: every output that used "
        "a[i] sends gradient back to it": _backward_variant(x, w, gamma, beta, dout,
                                                            up="subsample"),
        "the ReLU mask is taken from the layer's output; it is u > 0, the ReLU's own input "
        "(the upsampled values)": _backward_variant(x, w, gamma, beta, dout, relu="out"),
        "the ReLU's backward is missing: the gradient passes only where u > 0 (du = dr * "
        "(u > 0))": _backward_variant(x, w, gamma, beta, dout, relu="none"),
    }
    if square:  # F = C: a transposed weight matrix has the right shape
        out["dw is transposed: dw[f, c] = sum over pixels of da[f] * x[c] (da the gradient at "
            "the conv's output)"] = _backward_variant(x, w, gamma, beta, dout, conv="dw_T")
        out["dx uses w instead of its transpose: a[f] = sum_c w[f, c] x[c], so dx[c] = "
            "sum_f w[f, c] da[f]"] = _backward_variant(x, w, gamma, beta, dout, conv="dx_w")
    return out


# ---- the checks ---------------------------------------------------------------------------

def _learner(m: LearnerModule, x, w, gamma, beta, dout):
    res = m.decoder_layer_forward(x, w, gamma, beta)
    out, cache = unpack(res, "decoder_layer_forward", 2)
    grads = unpack(m.decoder_layer_backward(dout, cache), "decoder_layer_backward", 4)
    return out, grads


def _dw(value, F: int, C: int) -> np.ndarray:
    """dw must be (F, C, 1, 1); name a transposed or squeezed one."""
    if isinstance(value, np.ndarray) and F != C and value.shape in ((C, F, 1, 1), (C, F)):
        raise Fail(f"dw has shape {value.shape}, expected {(F, C, 1, 1)}: dw is transposed "
                   "-- it must have w's shape, dw[f, c] = sum over pixels of da[f] * x[c]")
    if isinstance(value, np.ndarray) and value.shape == (F, C):
        raise Fail(f"dw has shape {value.shape}, expected {(F, C, 1, 1)}: keep w's 1x1 "
                   "kernel axes (dw[:, :, None, None])")
    return expect_array(value, "dw", (F, C, 1, 1))


@DECODER_LAYER.check("shapes and dtypes of out, dx, dw, dgamma, dbeta (float32)")
def _dl_shape(m: LearnerModule) -> None:
    N, C, F, H, W = CASES[1]
    x, w, gamma, beta, dout = _data(np.random.default_rng(120), CASES[1], np.float32)
    out, (dx, dw, dgamma, dbeta) = _learner(m, x, w, gamma, beta, dout)
    expect_array(out, "out", (N, F, 2 * H, 2 * W), np.float32)
    expect_array(dx, "dx", x.shape, np.float32)
    expect_array(_dw(dw, F, C), "dw", w.shape, np.float32)
    expect_array(dgamma, "dgamma", (F,), np.float32)
    expect_array(dbeta, "dbeta", (F,), np.float32)


@DECODER_LAYER.check("forward matches tinydip (conv 1x1 -> upsample -> ReLU -> BatchNorm)")
def _dl_forward(m: LearnerModule) -> None:
    rng = np.random.default_rng(121)
    for case in CASES:
        x, w, gamma, beta, dout = _data(rng, case)
        N, C, F, H, W = case
        got, _ = unpack(m.decoder_layer_forward(x, w, gamma, beta), "decoder_layer_forward", 2)
        got = expect_array(got, "out", (N, F, 2 * H, 2 * W))
        compare(got, _reference(x, w, gamma, beta, dout)[0], "out", 1e-9,
                _forward_mistakes(x, w, gamma, beta), hint=f"case x {x.shape}, w {w.shape}")


@DECODER_LAYER.check("backward matches tinydip: dgamma, dbeta, dw, dx (F = C and F != C)")
def _dl_backward(m: LearnerModule) -> None:
    rng = np.random.default_rng(122)
    for case in CASES:
        x, w, gamma, beta, dout = _data(rng, case)
        N, C, F, H, W = case
        _, (dx, dw, dgamma, dbeta) = _learner(m, x, w, gamma, beta, dout)
        _, rdx, rdw, rdgamma, rdbeta = _reference(x, w, gamma, beta, dout)
        hint = f"case x {x.shape}, w {w.shape}"
        compare(expect_array(dbeta, "dbeta", (F,)), rdbeta, "dbeta", 1e-9, {
            "dbeta and dgamma are swapped: dbeta = sum(dout), dgamma = sum(dout * xhat)":
                rdgamma}, hint=hint)
        compare(expect_array(dgamma, "dgamma", (F,)), rdgamma, "dgamma", 1e-9, {
            "dgamma and dbeta are swapped: dgamma = sum(dout * xhat)": rdbeta}, hint=hint)
        wrong = _backward_mistakes(x, w, gamma, beta, dout)
        compare(_dw(dw, F, C), rdw, "dw", 1e-9, {k: v[1] for k, v in wrong.items()}, hint=hint)
        compare(expect_array(dx, "dx", x.shape), rdx, "dx", 1e-9,
                {k: v[0] for k, v in wrong.items()}, hint=hint)


@DECODER_LAYER.check("float64 gradient check of dx, dw, dgamma, dbeta")
def _dl_gradcheck(m: LearnerModule) -> None:
    x, w, gamma, beta, dout = _data(np.random.default_rng(123), (1, 2, 3, 3, 2))
    _, (dx, dw, dgamma, dbeta) = _learner(m, x, w, gamma, beta, dout)

    def f():
        return m.decoder_layer_forward(x, w, gamma, beta)[0]

    gradcheck(f, x, dout, dx, "dx")
    gradcheck(f, w, dout, dw, "dw")
    gradcheck(f, gamma, dout, dgamma, "dgamma")
    gradcheck(f, beta, dout, dbeta, "dbeta")
