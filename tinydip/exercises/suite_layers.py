"""Checks for BatchNorm's train-mode backward (chapter 3) and the bilinear x2 upsampling's
backward, the adjoint of the forward (chapter 4's network)."""

from __future__ import annotations

import numpy as np

from ..functional import batchnorm_backward, batchnorm_forward, upsample_backward, upsample_forward
from .checks import LearnerModule, Suite, compare, expect_array, gradcheck, unpack

BATCHNORM = Suite()
UPSAMPLE = Suite()

# ---- BatchNorm ----------------------------------------------------------------------------

BN_SHAPES = ((2, 3, 5, 4), (1, 2, 3, 5), (4, 2, 1, 3))  # incl. DIP's batch of one


def _bn_data(rng: np.random.Generator, shape, dtype=np.float64):
    C = shape[1]
    x = (2 * rng.standard_normal(shape) + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 2, C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dout


def _bn_learner(m: LearnerModule, x, gamma, beta, dout):
    _, cache = m.batchnorm_forward(x, gamma, beta)
    return unpack(m.batchnorm_backward(dout, cache), "batchnorm_backward", 3)


def _bn_mistakes(x, gamma, dout) -> dict[str, np.ndarray]:
    """Known wrong variants of dx (computed here, with the usual xhat and per-channel sums)."""
    N, C, H, W = x.shape
    axes = (0, 2, 3)
    mu = x.mean(axis=axes, keepdims=True)
    istd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    xhat = (x - mu) * istd
    g = gamma.reshape(1, C, 1, 1)
    s1, s2 = dout.sum(axis=axes, keepdims=True), (dout * xhat).sum(axis=axes, keepdims=True)
    M = N * H * W
    out = {
        "the two sums need a 1/M: with M = N*H*W values per channel, dx = gamma/std * "
        "(dout - mean(dout) - xhat * mean(dout * xhat))": g * istd * (dout - s1 - xhat * s2),
        "that is the eval-mode gradient: in train mode mu and var depend on x too, which adds "
        "- mean(dout) - xhat * mean(dout * xhat)": g * istd * dout,
        "the variance path is missing: subtract xhat * mean(dout * xhat) as well":
            g * istd * (dout - s1 / M),
        "the mean path is missing: subtract mean(dout) as well":
            g * istd * (dout - xhat * s2 / M),
        "gamma is missing from dx: out = gamma * xhat + beta, so dxhat = gamma * dout":
            istd * (dout - s1 / M - xhat * s2 / M),
    }
    if H * W > 1:
        sn1 = dout.sum(axis=0, keepdims=True) / N
        sn2 = (dout * xhat).sum(axis=0, keepdims=True) / N
        out["the means run over N only; BatchNorm2d averages over N, H and W (M = N*H*W)"] = \
            g * istd * (dout - sn1 - xhat * sn2)
    return out


def _bn_reference(x, gamma, beta, dout):
    C = x.shape[1]
    _, cache = batchnorm_forward(x, gamma, beta, np.zeros(C, x.dtype), np.ones(C, x.dtype))
    return batchnorm_backward(dout, cache)


@BATCHNORM.check("shapes and dtypes of dx, dgamma, dbeta (float32)")
def _bn_shape(m: LearnerModule) -> None:
    x, gamma, beta, dout = _bn_data(np.random.default_rng(60), (2, 3, 5, 4), np.float32)
    dx, dgamma, dbeta = _bn_learner(m, x, gamma, beta, dout)
    expect_array(dx, "dx", x.shape, np.float32)
    expect_array(dgamma, "dgamma", gamma.shape, np.float32)
    expect_array(dbeta, "dbeta", beta.shape, np.float32)


@BATCHNORM.check("dx, dgamma, dbeta match tinydip (N=2, N=1, H=1)")
def _bn_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(61)
    for shape in BN_SHAPES:
        x, gamma, beta, dout = _bn_data(rng, shape)
        dx, dgamma, dbeta = _bn_learner(m, x, gamma, beta, dout)
        rdx, rdgamma, rdbeta = _bn_reference(x, gamma, beta, dout)
        case = f"case x {shape}"
        compare(expect_array(dbeta, "dbeta", beta.shape), rdbeta, "dbeta", 1e-9, mistakes={
            "dbeta and dgamma are swapped: dbeta = sum(dout), dgamma = sum(dout * xhat)":
                rdgamma}, hint=case)
        compare(expect_array(dgamma, "dgamma", gamma.shape), rdgamma, "dgamma", 1e-9,
                mistakes={"dgamma and dbeta are swapped: dgamma = sum(dout * xhat) over "
                          "N, H, W": rdbeta}, hint=case)
        compare(expect_array(dx, "dx", x.shape), rdx, "dx", 1e-9,
                _bn_mistakes(x, gamma, dout), hint=case)


@BATCHNORM.check("float64 gradient check of dx, dgamma, dbeta")
def _bn_gradcheck(m: LearnerModule) -> None:
    rng = np.random.default_rng(62)
    x, gamma, beta, dout = _bn_data(rng, (2, 3, 4, 3))
    dx, dgamma, dbeta = _bn_learner(m, x, gamma, beta, dout)

    def f():
        return m.batchnorm_forward(x, gamma, beta)[0]

    gradcheck(f, x, dout, dx, "dx")
    gradcheck(f, gamma, dout, dgamma, "dgamma")
    gradcheck(f, beta, dout, dbeta, "dbeta")


# ---- bilinear x2 upsampling ---------------------------------------------------------------

UP_SHAPES = ((2, 3, 4, 5), (1, 2, 1, 3), (2, 1, 5, 2))


def _adjoint_axis(d: np.ndarray, axis: int, clamp: bool) -> np.ndarray:
    """Adjoint of x2 bilinear along one axis; ``clamp=False`` drops the edge terms (a mistake)."""
    d = np.moveaxis(d, axis, -1)
    even, odd = d[..., 0::2], d[..., 1::2]  # (..., n) each
    dx = 0.75 * (even + odd)
    dx[..., :-1] += 0.25 * even[..., 1:]
    dx[..., 1:] += 0.25 * odd[..., :-1]
    if clamp:
        dx[..., 0] += 0.25 * even[..., 0]
        dx[..., -1] += 0.25 * odd[..., -1]
    return np.moveaxis(dx, -1, axis)


def _up_mistakes(dout: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    N, C, H2, W2 = dout.shape
    blocks = dout.reshape(N, C, H2 // 2, 2, W2 // 2, 2)
    return {
        "the image edges lose gradient: the forward CLAMPS x[-1] to x[0] and x[n] to x[n-1], "
        "so those 1/4 weights flow back into the first and last pixel":
            _adjoint_axis(_adjoint_axis(dout, 2, False), 3, False),
        "that is the adjoint of NEAREST upsampling (sum of 2x2 blocks); bilinear spreads each "
        "input over 4 outputs per axis with weights 1/4, 3/4, 3/4, 1/4": blocks.sum((3, 5)),
        "subsampling dout is not the adjoint: every output that used x[i] sends gradient "
        "back to it": dout[:, :, ::2, ::2],
        "averaging 2x2 blocks is neither the adjoint nor bilinear": blocks.mean((3, 5)),
        "the adjoint is not an inverse: do not normalise (each input's weights sum to 4)":
            ref / 4,
    }


@UPSAMPLE.check("shape and dtype (float32)")
def _up_shape(m: LearnerModule) -> None:
    rng = np.random.default_rng(70)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    _, cache = m.upsample_forward(x)
    dout = rng.standard_normal((2, 3, 8, 10)).astype(np.float32)
    expect_array(m.upsample_backward(dout, cache), "dx", x.shape, np.float32)


@UPSAMPLE.check("matches tinydip (odd sizes, H=1, N=2)")
def _up_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(71)
    for shape in UP_SHAPES:
        x = rng.standard_normal(shape)
        out, cache = m.upsample_forward(x)
        compare(out, upsample_forward(x)[0], "upsample_forward (given) output", 1e-12,
                hint="the given forward was changed; restore it from the stub")
        dout = rng.standard_normal(out.shape)
        ref = upsample_backward(dout, upsample_forward(x)[1])
        got = expect_array(m.upsample_backward(dout, cache), "dx", shape)
        compare(got, ref, "dx", 1e-10, _up_mistakes(dout, ref), hint=f"case x {shape}")


@UPSAMPLE.check("dot-product test <U x, y> = <x, U^T y> (float64)")
def _up_dot(m: LearnerModule) -> None:
    rng = np.random.default_rng(72)
    x = rng.standard_normal((2, 2, 3, 5))
    y = rng.standard_normal((2, 2, 6, 10))
    ux, cache = m.upsample_forward(x)
    uty = expect_array(m.upsample_backward(y, cache), "dx", x.shape)
    lhs, rhs = float(np.vdot(ux, y)), float(np.vdot(x, uty))
    compare(rhs, lhs, "<x, U^T y>", 1e-12, against="<U x, y>", hint="the backward of a linear "
            "map is its transpose: every out[o] = sum_i U[o, i] x[i] sends U[o, i] * dout[o] "
            "back to x[i]")


@UPSAMPLE.check("float64 gradient check")
def _up_gradcheck(m: LearnerModule) -> None:
    rng = np.random.default_rng(73)
    x = rng.standard_normal((1, 2, 3, 4))
    dout = rng.standard_normal((1, 2, 6, 8))
    _, cache = m.upsample_forward(x)
    gradcheck(lambda: m.upsample_forward(x)[0], x, dout, m.upsample_backward(dout, cache), "dx")
