"""Checks for BatchNorm's train-mode backward (chapter 3) and the bilinear x2 upsampling's
backward, the adjoint of the forward (chapter 4's network)."""

from __future__ import annotations

import numpy as np

from ..functional import batchnorm_backward, batchnorm_forward, upsample_backward, upsample_forward
from .checks import Fail, LearnerModule, Suite, compare, expect_array, gradcheck, unpack

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
    if N > 1:
        sh1 = dout.mean(axis=(2, 3), keepdims=True)
        sh2 = (dout * xhat).mean(axis=(2, 3), keepdims=True)
        out["the batch sum is missing: the means run over H and W of each image only; "
            "BatchNorm2d's mean and variance also run over the batch, so sum over axes "
            "(0, 2, 3) and divide by M = N*H*W"] = g * istd * (dout - sh1 - xhat * sh2)
    if H * W > 1:
        sn1 = dout.sum(axis=0, keepdims=True) / N
        sn2 = (dout * xhat).sum(axis=0, keepdims=True) / N
        out["the means run over N only; BatchNorm2d averages over N, H and W (M = N*H*W)"] = \
            g * istd * (dout - sn1 - xhat * sn2)
    return out


def _bn_param_grad(value, what: str, shape) -> np.ndarray:
    """dgamma / dbeta of shape (C,); a per-image result names the missing batch sum."""
    N, C = shape[:2]
    if isinstance(value, np.ndarray) and value.shape != (C,) and value.size == N * C and N > 1:
        raise Fail(f"{what} has shape {value.shape}, expected ({C},): the batch sum is "
                   "missing -- sum over N as well as H and W, axis=(0, 2, 3)")
    if isinstance(value, np.ndarray) and value.shape != (C,) and value.size == C:
        raise Fail(f"{what} has shape {value.shape}, expected ({C},): drop keepdims (or "
                   "reshape) for the parameter gradients")
    return expect_array(value, what, (C,))


def _bn_reference(x, gamma, beta, dout):
    C = x.shape[1]
    _, cache = batchnorm_forward(x, gamma, beta, np.zeros(C, x.dtype), np.ones(C, x.dtype))
    return batchnorm_backward(dout, cache)


@BATCHNORM.check("shapes and dtypes of dx, dgamma, dbeta (float32)")
def _bn_shape(m: LearnerModule) -> None:
    x, gamma, beta, dout = _bn_data(np.random.default_rng(60), (2, 3, 5, 4), np.float32)
    dx, dgamma, dbeta = _bn_learner(m, x, gamma, beta, dout)
    expect_array(dx, "dx", x.shape, np.float32)
    expect_array(_bn_param_grad(dgamma, "dgamma", x.shape), "dgamma", gamma.shape, np.float32)
    expect_array(_bn_param_grad(dbeta, "dbeta", x.shape), "dbeta", beta.shape, np.float32)


@BATCHNORM.check("dx, dgamma, dbeta match tinydip (N=2, N=1, H=1)")
def _bn_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(61)
    for shape in BN_SHAPES:
        x, gamma, beta, dout = _bn_data(rng, shape)
        dx, dgamma, dbeta = _bn_learner(m, x, gamma, beta, dout)
        rdx, rdgamma, rdbeta = _bn_reference(x, gamma, beta, dout)
        case = f"case x {shape}"
        no_batch = "the batch sum is missing: sum over N as well as H and W"
        compare(_bn_param_grad(dbeta, "dbeta", shape), rdbeta, "dbeta", 1e-9, mistakes={
            "dbeta and dgamma are swapped: dbeta = sum(dout), dgamma = sum(dout * xhat)":
                rdgamma, f"{no_batch} (yours is image 0's sum)": dout[0].sum(axis=(1, 2)),
            f"{no_batch} (yours is the mean over the batch)": rdbeta / shape[0]}, hint=case)
        compare(_bn_param_grad(dgamma, "dgamma", shape), rdgamma, "dgamma", 1e-9,
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


def _shifted_adjoint(dout: np.ndarray, shift: int, got: np.ndarray) -> np.ndarray:
    """A mistake: U^T whose window is off by ``shift`` outputs along both axes (a crop offset).

    dx[i] collects d[2i - 1 + shift .. 2i + 2 + shift] instead of d[2i - 1 .. 2i + 2]. How
    the learner then treats the borders varies, so only the interior (i = 1 .. n-2 on both
    axes) is compared: the variant is the learner's own answer with that interior replaced.
    """
    out = dout
    for axis in (2, 3):
        n = dout.shape[axis] // 2
        ut = _upsample_matrix(n).T  # (n, 2n)
        v = np.zeros_like(ut)
        if shift > 0:
            v[:, shift:] = ut[:, :-shift]
        else:
            v[:, :shift] = ut[:, -shift:]
        out = np.moveaxis(np.tensordot(v, np.moveaxis(out, axis, 0), axes=(1, 0)), 0, axis)
    got = np.asarray(got, np.float64)
    if got.shape != out.shape or min(out.shape[2:]) < 3:
        return np.full(out.shape, np.nan)  # no interior to judge by: never matches
    variant = got.copy()
    variant[:, :, 1:-1, 1:-1] = out[:, :, 1:-1, 1:-1]
    return variant


def _upsample_matrix(n: int) -> np.ndarray:
    """The (2n, n) matrix of x2 bilinear upsampling along one axis."""
    return np.stack([_axis_up(e) for e in np.eye(n)], axis=1)


def _axis_up(e: np.ndarray) -> np.ndarray:
    left = np.concatenate([e[:1], e[:-1]])
    right = np.concatenate([e[1:], e[-1:]])
    out = np.empty(2 * len(e))
    out[0::2] = 0.25 * left + 0.75 * e
    out[1::2] = 0.75 * e + 0.25 * right
    return out


def _up_mistakes(dout: np.ndarray, ref: np.ndarray, got: np.ndarray) -> dict[str, np.ndarray]:
    N, C, H2, W2 = dout.shape
    blocks = dout.reshape(N, C, H2 // 2, 2, W2 // 2, 2)
    crop = ("the window is misplaced (a crop offset): dx[i] collects d[2i-1], d[2i], "
            "d[2i+1], d[2i+2] with weights 1/4, 3/4, 3/4, 1/4 -- out[2i] and out[2i+1] are "
            "the two outputs next to x[i], out[2i-1] and out[2i+2] its neighbours'")
    shifted = {f"{crop} (yours is shifted {abs(k)} output{'s' if abs(k) > 1 else ''} to "
               f"the {'right' if k > 0 else 'left'})": _shifted_adjoint(dout, k, got)
               for k in (1, -1, 2, -2)}
    return {
        "the image edges lose gradient: the forward CLAMPS x[-1] to x[0] and x[n] to x[n-1], "
        "so those 1/4 weights flow back into the first and last pixel":
            _adjoint_axis(_adjoint_axis(dout, 2, False), 3, False),
        **shifted,
        "the two 1/4 taps go to the wrong neighbours: out[2i] = 1/4 x[i-1] + 3/4 x[i] sends "
        "1/4 back to x[i-1], so dx[i] gets 1/4 d[2i+2] (from out[2i+2]) and 1/4 d[2i-1]":
            _swapped_neighbours(dout),
        "that is the adjoint of NEAREST upsampling (sum of 2x2 blocks); bilinear spreads each "
        "input over 4 outputs per axis with weights 1/4, 3/4, 3/4, 1/4": blocks.sum((3, 5)),
        "subsampling dout is not the adjoint: every output that used x[i] sends gradient "
        "back to it": dout[:, :, ::2, ::2],
        "averaging 2x2 blocks is neither the adjoint nor bilinear": blocks.mean((3, 5)),
        "the adjoint is not an inverse: do not normalise (each input's weights sum to 4)":
            ref / 4,
    }


def _swapped_neighbours(dout: np.ndarray) -> np.ndarray:
    """A mistake: the 1/4 taps sent to x[i+1] / x[i-1] the wrong way round (edges clamped)."""
    out = dout
    for axis in (3, 2):
        d = np.moveaxis(out, axis, -1)
        even, odd = d[..., 0::2], d[..., 1::2]
        dx = 0.75 * (even + odd)
        dx[..., 1:] += 0.25 * even[..., :-1]
        dx[..., :-1] += 0.25 * odd[..., 1:]
        dx[..., 0] += 0.25 * even[..., 0]
        dx[..., -1] += 0.25 * odd[..., -1]
        out = np.moveaxis(dx, -1, axis)
    return out


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
        compare(got, ref, "dx", 1e-10, _up_mistakes(dout, ref, got), hint=f"case x {shape}")


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
