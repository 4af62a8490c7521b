"""tinydip.functional: the forward/backward pairs against textbook formulas.

Convolution is compared with a SEVEN-loop convolution written here and with
``conv2d_naive``; its backward with the exact adjoint identities <conv(x), g> = <x, dx> =
<w, dw>. Batch norm, activations, upsampling and the (masked) MSE loss are checked against
NumPy formulas and finite differences.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import expit

from tinydip.functional import (
    batchnorm_backward,
    batchnorm_forward,
    conv2d_backward,
    conv2d_forward,
    conv2d_naive,
    leaky_relu_backward,
    leaky_relu_forward,
    mse_loss,
    sigmoid_backward,
    sigmoid_forward,
    upsample_backward,
    upsample_forward,
)
from tinydip.functional.workspace import clear_workspace, workspace
from tinydip.gradcheck import numerical_grad, rel_error


# ----------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------
def conv_seven_loops(x, w, b, stride, padding):
    """Textbook convolution: seven nested loops, one multiply-add per (n, f, oy, ox, c, i, j).

    Padding by index arithmetic: "zeros" skips taps outside the image; "reflect" mirrors
    without repeating the edge pixel (index -1 -> 1, H -> H - 2), PyTorch's ReflectionPad2d.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    p = KH // 2
    Ho, Wo = (H + 2 * p - KH) // stride + 1, (W + 2 * p - KW) // stride + 1
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for oy in range(Ho):
                for ox in range(Wo):
                    acc = 0.0 if b is None else float(b[f])
                    for c in range(C):
                        for i in range(KH):
                            for j in range(KW):
                                iy, ix = oy * stride + i - p, ox * stride + j - p
                                if padding == "reflect":
                                    iy = -iy if iy < 0 else (2 * (H - 1) - iy if iy >= H else iy)
                                    ix = -ix if ix < 0 else (2 * (W - 1) - ix if ix >= W else ix)
                                elif not (0 <= iy < H and 0 <= ix < W):
                                    continue
                                acc += float(w[f, c, i, j]) * float(x[n, c, iy, ix])
                    out[n, f, oy, ox] = acc
    return out


def test_seven_loop_reference_on_a_hand_example():
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.zeros((1, 1, 3, 3))
    w[0, 0, 0, 0] = 1.0  # picks the pixel up-left of the centre
    np.testing.assert_array_equal(conv_seven_loops(x, w, None, 1, "zeros")[0, 0],
                                  [[0, 0, 0], [0, 0, 1], [0, 3, 4]])
    np.testing.assert_array_equal(conv_seven_loops(x, w, None, 1, "reflect")[0, 0],
                                  [[4, 3, 4], [1, 0, 1], [4, 3, 4]])


CONV_CASES = [(k, s, pad) for k in (1, 3, 5) for s in (1, 2) for pad in ("zeros", "reflect")]
CONV_SHAPES = [(2, 2, 5, 7), (2, 3, 4, 3)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k, stride, padding", CONV_CASES)
def test_conv2d_forward_matches_seven_loops_and_naive(k, stride, padding, dtype):
    rng = np.random.default_rng(k * 10 + stride)
    for shape in CONV_SHAPES + ([(2, 1, 1, 1)] if padding == "zeros" else []):
        F = 3
        x = rng.standard_normal(shape)
        w = rng.standard_normal((F, shape[1], k, k))
        for b in (rng.standard_normal(F), None):
            ref = conv_seven_loops(x, w, b, stride, padding)
            xd, wd = x.astype(dtype), w.astype(dtype)
            bd = None if b is None else b.astype(dtype)
            out, _ = conv2d_forward(xd, wd, bd, stride, padding)
            naive = conv2d_naive(xd, wd, bd, stride, padding)
            assert out.dtype == naive.dtype == dtype
            tol = 1e-12 if dtype == np.float64 else 1e-5
            np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)
            np.testing.assert_allclose(naive, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("k, stride, padding", CONV_CASES)
def test_conv2d_backward_is_the_adjoint(k, stride, padding):
    """conv is linear in x and in w: <conv(x,w) - b, g> == <x, dx> == <w, dw>; db = sum g."""
    rng = np.random.default_rng(k + stride)
    for shape in CONV_SHAPES:
        x = rng.standard_normal(shape)
        w = rng.standard_normal((3, shape[1], k, k))
        b = rng.standard_normal(3)
        out, cache = conv2d_forward(x, w, b, stride, padding)
        g = rng.standard_normal(out.shape)
        dx, dw, db = conv2d_backward(g, cache)
        assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
        inner = np.sum((out - b[None, :, None, None]) * g)
        assert abs(inner - np.sum(x * dx)) < 1e-11 * np.abs(out * g).sum()
        assert abs(inner - np.sum(w * dw)) < 1e-11 * np.abs(out * g).sum()
        np.testing.assert_allclose(db, g.sum(axis=(0, 2, 3)), rtol=1e-13)
        # and dx agrees with finite differences of the naive convolution (no bias)
        xs = x[:1, :, :3, :3].copy()
        o1, c1 = conv2d_forward(xs, w, None, stride, padding)
        g1 = rng.standard_normal(o1.shape)
        dx1, dw1, db1 = conv2d_backward(g1, c1)
        assert db1 is None
        num = numerical_grad(lambda xs=xs, w=w: conv2d_naive(xs, w, None, stride, padding),
                             xs, g1)
        assert rel_error(dx1, num) < 1e-8


def test_conv2d_backward_without_bias_and_noncontiguous_input():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 5, 4, 3))
    x_nc = base.transpose(0, 3, 1, 2)[:, :, :, ::-1]  # (2, 3, 5, 4), not C-contiguous
    x_c = np.ascontiguousarray(x_nc)
    for k, stride in ((1, 1), (3, 2)):
        w = rng.standard_normal((2, 3, k, k))
        o1, c1 = conv2d_forward(x_nc, w, None, stride, "reflect")
        o2, c2 = conv2d_forward(x_c, w, None, stride, "reflect")
        g = rng.standard_normal(o1.shape)
        for a, b in zip(conv2d_backward(g, c1), conv2d_backward(g, c2), strict=True):
            if a is None:
                assert b is None
            else:
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(o1, o2, rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------------------------
# batch norm
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("slope", [1.0, 0.2])
def test_batchnorm_forward_train_formula_and_running_stats(slope):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4, 5)) * 2 + 1
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.uniform(-1, 1, 3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    rm0, rv0 = rm.copy(), rv.copy()
    out, _ = batchnorm_forward(x, gamma, beta, rm, rv, train=True, momentum=0.3, eps=1e-3,
                               slope=slope)
    mu = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    y = gamma[:, None, None] * (x - mu[:, None, None]) / np.sqrt(var[:, None, None] + 1e-3) \
        + beta[:, None, None]
    np.testing.assert_allclose(out, np.where(y > 0, y, slope * y), rtol=1e-12, atol=1e-12)
    M = 2 * 4 * 5
    np.testing.assert_allclose(rm, 0.7 * rm0 + 0.3 * mu, rtol=1e-13)
    np.testing.assert_allclose(rv, 0.7 * rv0 + 0.3 * var * M / (M - 1), rtol=1e-13)  # unbiased


def test_batchnorm_forward_eval_uses_running_stats_and_leaves_them():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 3, 3))
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.uniform(-1, 1, 3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    rm0, rv0 = rm.copy(), rv.copy()
    out, cache = batchnorm_forward(x, gamma, beta, rm, rv, train=False, eps=1e-5)
    ref = gamma[:, None, None] * (x - rm0[:, None, None]) / np.sqrt(rv0[:, None, None] + 1e-5) \
        + beta[:, None, None]
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    g = rng.standard_normal(x.shape)
    dx, dgamma, dbeta = batchnorm_backward(g, cache)
    np.testing.assert_allclose(dx, g * (gamma / np.sqrt(rv0 + 1e-5))[:, None, None],
                               rtol=1e-12)
    np.testing.assert_allclose(dbeta, g.sum(axis=(0, 2, 3)), rtol=1e-12)
    xhat = (x - rm0[:, None, None]) / np.sqrt(rv0[:, None, None] + 1e-5)
    np.testing.assert_allclose(dgamma, (g * xhat).sum(axis=(0, 2, 3)), rtol=1e-12)


def test_batchnorm_float32_running_stats_stay_float32():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    g32, b32 = np.ones(3, np.float32), np.zeros(3, np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    out, cache = batchnorm_forward(x, g32, b32, rm, rv, train=True, slope=0.2)
    dx, dg, db = batchnorm_backward(np.ones_like(out), cache)
    for a in (out, rm, rv, dx, dg, db):
        assert a.dtype == np.float32


def test_batchnorm_noncontiguous_input_regression():
    """Output and dx were written through a reshape of np.empty_like(x), which copies (and
    loses the writes) when x is not C-contiguous, e.g. an HWC image seen as CHW."""
    rng = np.random.default_rng(3)
    x_nc = np.asfortranarray(rng.standard_normal((2, 3, 5, 4)))
    x_c = np.ascontiguousarray(x_nc)
    gamma, beta = rng.uniform(0.5, 1.5, 3), rng.uniform(-1, 1, 3)
    o1, c1 = batchnorm_forward(x_nc, gamma, beta, np.zeros(3), np.ones(3), slope=0.2)
    o2, c2 = batchnorm_forward(x_c, gamma, beta, np.zeros(3), np.ones(3), slope=0.2)
    np.testing.assert_allclose(o1, o2, rtol=1e-13, atol=1e-13)
    g = np.asfortranarray(rng.standard_normal(o1.shape))
    grads_c = batchnorm_backward(np.ascontiguousarray(g), c2)
    for a, b in zip(batchnorm_backward(g, c1), grads_c, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2])
def test_leaky_relu_forward_backward(slope, dtype):
    x = np.array([-3.0, -0.5, 0.0, 0.25, 2.0], dtype)
    out, cache = leaky_relu_forward(x, slope)
    np.testing.assert_allclose(out, [-3 * slope, -0.5 * slope, 0, 0.25, 2], rtol=1e-6)
    dout = np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype)
    dx = leaky_relu_backward(dout, cache)
    np.testing.assert_allclose(dx, [slope, 2 * slope, 3 * slope, 4, 5], rtol=1e-6)
    assert out.dtype == dx.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_matches_expit_and_its_derivative(dtype):
    x = np.linspace(-30, 30, 121).astype(dtype)
    out, cache = sigmoid_forward(x)
    assert out.dtype == dtype
    tol = 1e-15 if dtype == np.float64 else 1e-7
    np.testing.assert_allclose(out, expit(x.astype(np.float64)), rtol=10 * tol, atol=tol)
    dx = sigmoid_backward(np.ones_like(x), cache)
    s = expit(x.astype(np.float64))
    np.testing.assert_allclose(dx, s * (1 - s), rtol=100 * tol, atol=tol)
    assert dx.dtype == dtype


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_large_inputs_do_not_overflow(dtype):
    # Underflow (exp(-1000) -> 0) is the exact, intended result, so it is not trapped;
    # overflow, invalid (inf/inf, 0*inf -> nan) and divide-by-zero are.
    x = np.array([-1000.0, -500.0, -90.0, -40.0, 0.0, 40.0, 90.0, 500.0, 1000.0], dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out, cache = sigmoid_forward(x)
        dx = sigmoid_backward(np.ones_like(x), cache)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(dx))
    assert out[0] == 0.0 and out[-1] == 1.0 and out[-2] == 1.0 and float(out[1]) < 1e-200
    assert out[4] == 0.5
    assert 0 < out[3] < 1e-17  # exp(-40) ~ 4e-18 is representable in both dtypes
    assert dx[0] == 0.0 and dx[-1] == 0.0
    assert np.all(out >= 0) and np.all(out <= 1)


# ----------------------------------------------------------------------------------------------
# upsampling
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("scale", [2, 3])
def test_upsample_shapes_dtype_and_adjoint(mode, scale):
    rng = np.random.default_rng(scale)
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((2, 3, 3, 5)).astype(dtype)
        out, cache = upsample_forward(x, scale, mode)
        assert out.shape == (2, 3, 3 * scale, 5 * scale) and out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        dx = upsample_backward(g, cache)
        assert dx.shape == x.shape and dx.dtype == dtype
        lhs, rhs = np.sum(out.astype(np.float64) * g), np.sum(x.astype(np.float64) * dx)
        tol = 1e-12 if dtype == np.float64 else 1e-5
        assert abs(lhs - rhs) < tol * np.abs(out * g).sum()
    # backward accepts a non-contiguous upstream gradient
    g_nc = np.asfortranarray(g)
    np.testing.assert_array_equal(upsample_backward(g_nc, cache), dx)


def test_upsample_bilinear_preserves_constants_and_nearest_repeats():
    x = np.full((1, 2, 3, 4), 1.7)
    out, _ = upsample_forward(x, 3, "bilinear")
    np.testing.assert_allclose(out, 1.7, rtol=1e-15)
    x = np.arange(6.0).reshape(1, 1, 2, 3)
    out, _ = upsample_forward(x, 2, "nearest")
    np.testing.assert_array_equal(out[0, 0], np.kron(x[0, 0], np.ones((2, 2))))


# ----------------------------------------------------------------------------------------------
# MSE loss (plain and masked)
# ----------------------------------------------------------------------------------------------
def _loss_fd(pred, target, mask=None):
    return numerical_grad(lambda: np.array(mse_loss(pred, target, mask)[0]), pred,
                          np.array(1.0))


def test_mse_loss_value_and_gradient(record_error):
    rng = np.random.default_rng(0)
    pred, target = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    loss, dpred = mse_loss(pred, target)
    assert isinstance(loss, float)
    assert loss == pytest.approx(np.mean((pred - target) ** 2), rel=1e-13)
    np.testing.assert_allclose(dpred, 2 * (pred - target) / pred.size, rtol=1e-13)
    assert record_error("mse_loss", rel_error(dpred, _loss_fd(pred, target))) < 1e-7


@pytest.mark.parametrize("mask_dtype", [np.float64, bool])
def test_masked_mse_broadcasts_over_channels(mask_dtype, record_error):
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    mask = (rng.uniform(size=(1, 1, 4, 5)) < 0.5).astype(mask_dtype)
    mask[0, 0, 0, 0] = 1
    loss, dpred = mse_loss(pred, target, mask)
    full = np.broadcast_to(mask.astype(np.float64), pred.shape)
    known = full.sum()
    assert known == 2 * 3 * mask.astype(bool).sum()  # counted per channel and image
    assert loss == pytest.approx(np.sum(full * (pred - target) ** 2) / known, rel=1e-13)
    assert np.all(dpred[full == 0] == 0)  # unknown pixels get no gradient
    assert record_error("mse_loss (masked)",
                        rel_error(dpred, _loss_fd(pred, target, mask))) < 1e-7


def test_masked_mse_with_fractional_mask_gradient_is_consistent(record_error):
    """Regression: a non-binary mask gave a loss/gradient pair that did not match."""
    rng = np.random.default_rng(2)
    pred, target = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((1, 2, 3, 3))
    mask = rng.uniform(0, 1, (1, 1, 3, 3))
    loss, dpred = mse_loss(pred, target, mask)
    m = np.broadcast_to(mask, pred.shape)
    assert loss == pytest.approx(np.sum(m * (pred - target) ** 2) / m.sum(), rel=1e-13)
    assert record_error("mse_loss (masked)",
                        rel_error(dpred, _loss_fd(pred, target, mask))) < 1e-7


@pytest.mark.parametrize("mask", [None, "float64", "bool"])
def test_mse_loss_float32_preserved(mask):
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    target = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    m = None if mask is None else (rng.uniform(size=(1, 1, 4, 4)) < 0.6).astype(mask)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, dpred = mse_loss(pred, target, m)
    assert dpred.dtype == np.float32 and np.isfinite(loss)


def test_mse_loss_errors():
    a, b = np.zeros((1, 3, 4, 4)), np.zeros((1, 3, 4, 5))
    with pytest.raises(ValueError, match=r"prediction shape .* != target shape"):
        mse_loss(a, b)
    with pytest.raises(ValueError, match="mask has no known pixel"):
        mse_loss(a, a, np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="mask has no known pixel"):
        mse_loss(a, a, np.zeros((4, 4), dtype=bool))
    with pytest.raises(ValueError, match="mask shape .* cannot be broadcast"):
        mse_loss(a, a, np.ones((1, 2, 4, 4)))


# ----------------------------------------------------------------------------------------------
# workspace
# ----------------------------------------------------------------------------------------------
def test_workspace_reuses_and_grows():
    clear_workspace()
    a = workspace("t", (3, 4), np.float64)
    b = workspace("t", (2, 5), np.float64)
    assert np.shares_memory(a, b) and b.shape == (2, 5) and b.flags.c_contiguous
    c = workspace("t", (10, 10), np.float64)  # grows
    assert c.shape == (10, 10)
    d = workspace("t", (3, 4), np.float32)  # dtype-keyed
    assert d.dtype == np.float32 and not np.shares_memory(c, d)
    clear_workspace()
    e = workspace("t", (3, 4), np.float64)
    assert not np.shares_memory(c, e)


# ----------------------------------------------------------------------------------------------
# Poisson negative log-likelihood (shot noise)
# ----------------------------------------------------------------------------------------------
def _poisson_fd(pred, target, mask=None):
    from tinydip.functional import poisson_loss

    return numerical_grad(lambda: np.array(poisson_loss(pred, target, mask)[0]), pred,
                          np.array(1.0))


def _poisson_data(seed=0):
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0.05, 1.0, (2, 3, 4, 5))
    target = rng.poisson(30 * rng.uniform(0, 1, (2, 3, 4, 5))) / 30.0
    target[0, 0, 0, :2] = 0.0  # zero counts: y log y = 0
    return pred, target


def test_poisson_loss_value_and_gradient(record_error):
    from tinydip.functional import poisson_loss

    pred, target = _poisson_data()
    loss, dpred = poisson_loss(pred, target)
    ylogy = np.where(target > 0, target * np.log(np.where(target > 0, target, 1)), 0)
    expect = np.mean(pred - target - target * np.log(pred) + ylogy)
    assert loss == pytest.approx(expect, rel=1e-12) and loss >= 0
    assert poisson_loss(target + 0.0 + (target == 0), target + (target == 0))[0] == \
        pytest.approx(0.0, abs=1e-15)  # zero at p = y
    np.testing.assert_allclose(dpred, (1 - target / pred) / pred.size, rtol=1e-12)
    assert record_error("poisson_loss", rel_error(dpred, _poisson_fd(pred, target))) < 1e-7
    mask = (np.random.default_rng(1).uniform(size=(1, 1, 4, 5)) < 0.5).astype(np.float64)
    mask[0, 0, 0, 0] = 1
    loss_m, d_m = poisson_loss(pred, target, mask)
    assert np.all(d_m[np.broadcast_to(mask, pred.shape) == 0] == 0)
    assert record_error("poisson_loss (masked)",
                        rel_error(d_m, _poisson_fd(pred, target, mask))) < 1e-7
    assert poisson_loss(pred.astype(np.float32), target.astype(np.float32))[1].dtype == \
        np.float32


def test_poisson_loss_is_finite_and_pushes_up_below_eps():
    from tinydip.functional import poisson_loss
    from tinydip.functional.losses import POISSON_EPS

    pred = np.array([[[[0.0, -0.1, POISSON_EPS / 2, 0.5]]]])
    target = np.array([[[[0.2, 0.3, 0.0, 0.5]]]])
    loss, d = poisson_loss(pred, target)
    assert np.isfinite(loss) and d[0, 0, 0, 0] < 0 and d[0, 0, 0, 1] < 0  # gradient descent
    assert d[0, 0, 0, 0] == pytest.approx((1 - 0.2 / POISSON_EPS) / 4)  # the tangent's slope
    with pytest.raises(ValueError, match="negative"):
        poisson_loss(pred, -target - 1)


def test_poisson_loss_gradcheck_catches_a_planted_bug():
    """A gradient with y / p^2 instead of y / p (a classic slip) fails the check."""
    from tinydip.functional import poisson_loss

    pred, target = _poisson_data(2)
    _, good = poisson_loss(pred, target)
    wrong = (1 - target / pred**2) / pred.size
    fd = _poisson_fd(pred, target)
    assert rel_error(good, fd) < 1e-7 and rel_error(wrong, fd) > 1e-2
