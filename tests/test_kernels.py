"""tinydip.kernels: every numba kernel against a naive NumPy reference, jitted AND un-jitted.

Each kernel ``name`` is ``njit(...)(_name)``; the ``impl`` fixture runs both the compiled
function and the plain Python ``_name`` so the loops themselves (not only numba's compilation
of them) are proven. References are built independently here: im2col from ``np.pad`` +
slicing, col2im from explicit 1-D padding matrices, upsampling from explicit interpolation
matrices, batch norm and Adam from their textbook formulas.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

import tinydip.kernels as K

KMOD = {
    name: importlib.import_module(f"tinydip.kernels.{name}")
    for name in ("im2col", "upsample", "batchnorm", "elementwise")
}

# kernel name -> module holding it (the plain function is module._name)
KERNELS = {
    "im2col": "im2col",
    "col2im": "im2col",
    "bilinear_forward": "upsample",
    "bilinear_backward": "upsample",
    "nearest_forward": "upsample",
    "nearest_backward": "upsample",
    "bn_stats": "batchnorm",
    "bn_forward_train": "batchnorm",
    "bn_backward": "batchnorm",
    "invstd": "batchnorm",
    "adam_update": "elementwise",
    "leaky_relu_forward": "elementwise",
    "leaky_relu_backward": "elementwise",
}

TOL = {np.float64: 1e-12, np.float32: 1e-6}


def kernel(name: str, impl: str):
    """The jitted kernel (``impl == "jit"``) or its plain Python source function."""
    mod = KMOD[KERNELS[name]]
    return getattr(mod, name) if impl == "jit" else getattr(mod, "_" + name)


@pytest.fixture(params=["jit", "py"])
def impl(request):
    return request.param


def test_plain_functions_are_not_jitted_and_jitted_ones_are():
    for name, mod in KERNELS.items():
        jitted, plain = getattr(KMOD[mod], name), getattr(KMOD[mod], "_" + name)
        assert getattr(K, name) is jitted
        assert hasattr(jitted, "py_func") and jitted.py_func is plain
        assert not hasattr(plain, "py_func")


# ----------------------------------------------------------------------------------------------
# im2col / col2im
# ----------------------------------------------------------------------------------------------
def ref_im2col(x, k, stride, pad, reflect):
    """NumPy reference: pad explicitly, then one strided slice per kernel tap (c, i, j)."""
    C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), mode="reflect" if reflect else "constant")
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    rows = [xp[c, i:i + stride * Ho:stride, j:j + stride * Wo:stride].ravel()
            for c in range(C) for i in range(k) for j in range(k)]
    return np.stack(rows)  # (C*k*k, Ho*Wo)


def pad_matrix(n, pad, reflect):
    """(n + 2 pad, n) matrix P with P @ v == np.pad(v, pad, mode) for any vector v."""
    return np.pad(np.eye(n), ((pad, pad), (0, 0)), mode="reflect" if reflect else "constant")


def ref_col2im(cols, shape, k, stride, pad, reflect):
    """Adjoint reference: scatter-add into the padded image, then apply P_h^T (.) P_w."""
    C, H, W = shape
    Ho, Wo = (H + 2 * pad - k) // stride + 1, (W + 2 * pad - k) // stride + 1
    gp = np.zeros((C, H + 2 * pad, W + 2 * pad))
    for c in range(C):
        for i in range(k):
            for j in range(k):
                row = (c * k + i) * k + j
                gp[c, i:i + stride * Ho:stride, j:j + stride * Wo:stride] += \
                    cols[row].reshape(Ho, Wo)
    ph, pw = pad_matrix(H, pad, reflect), pad_matrix(W, pad, reflect)
    return np.einsum("pa,cpq,qb->cab", ph, gp, pw)


def test_pad_matrix_reference_is_right():
    v = np.arange(1.0, 5.0)
    np.testing.assert_array_equal(pad_matrix(4, 2, True) @ v, [3, 2, 1, 2, 3, 4, 3, 2])
    np.testing.assert_array_equal(pad_matrix(4, 1, False) @ v, [0, 1, 2, 3, 4, 0])


IM2COL_SHAPES = [(2, 5, 7), (3, 4, 3), (1, 6, 5)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_im2col_matches_pad_and_slice(impl, k, stride, reflect, dtype):
    rng = np.random.default_rng(100 * k + 10 * stride + reflect)
    for shape in IM2COL_SHAPES:
        x = rng.standard_normal(shape).astype(dtype)
        pad = k // 2
        ref = ref_im2col(x, k, stride, pad, reflect)
        cols = np.full(ref.shape, np.nan, dtype=dtype)  # every entry must be written
        kernel("im2col", impl)(x, k, k, stride, pad, reflect, cols)
        assert cols.dtype == dtype
        np.testing.assert_allclose(cols, ref, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("reflect", [False, True])
def test_im2col_one_pixel_and_unpadded(impl, reflect):
    x = np.array([[[2.5]]])
    cols = np.empty((1, 1))
    kernel("im2col", impl)(x, 1, 1, 1, 0, reflect, cols)
    assert cols[0, 0] == 2.5
    # explicit pad=0 with a 3x3 kernel ("valid" convolution)
    x = np.arange(20.0).reshape(1, 4, 5)
    cols = np.empty((9, 2 * 3))
    kernel("im2col", impl)(x, 3, 3, 1, 0, reflect, cols)
    np.testing.assert_array_equal(cols, ref_im2col(x, 3, 1, 0, reflect))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_col2im_matches_padding_matrix_adjoint(impl, k, stride, reflect, dtype):
    rng = np.random.default_rng(7 + 100 * k + 10 * stride + reflect)
    for shape in IM2COL_SHAPES:
        C, H, W = shape
        pad = k // 2
        Ho, Wo = K.conv_out_size(H, k, stride, pad), K.conv_out_size(W, k, stride, pad)
        cols = rng.standard_normal((C * k * k, Ho * Wo)).astype(dtype)
        ref = ref_col2im(cols.astype(np.float64), shape, k, stride, pad, reflect)
        dx = np.zeros(shape, dtype=dtype)
        kernel("col2im", impl)(cols, k, k, stride, pad, reflect, dx)
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, ref, rtol=TOL[dtype], atol=10 * TOL[dtype])


@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_col2im_is_exact_adjoint_of_im2col(k, stride, reflect):
    """<im2col(x), Y> == <x, col2im(Y)> for random x, Y."""
    rng = np.random.default_rng(k + stride + reflect)
    for shape in IM2COL_SHAPES:
        C, H, W = shape
        pad = k // 2
        Ho, Wo = K.conv_out_size(H, k, stride, pad), K.conv_out_size(W, k, stride, pad)
        x = rng.standard_normal(shape)
        y = rng.standard_normal((C * k * k, Ho * Wo))
        cols = np.empty_like(y)
        K.im2col(x, k, k, stride, pad, reflect, cols)
        dx = np.zeros_like(x)
        K.col2im(y, k, k, stride, pad, reflect, dx)
        lhs, rhs = np.sum(cols * y), np.sum(x * dx)
        assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), np.abs(cols * y).sum())


def test_col2im_accumulates_into_dx(impl):
    rng = np.random.default_rng(3)
    shape, k, stride, pad = (2, 5, 4), 3, 1, 1
    cols = rng.standard_normal((2 * 9, 5 * 4))
    dx0 = rng.standard_normal(shape)
    dx = dx0.copy()
    kernel("col2im", impl)(cols, k, k, stride, pad, True, dx)
    np.testing.assert_allclose(dx, dx0 + ref_col2im(cols, shape, k, stride, pad, True),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", ["jit", "py"])
def test_index_helpers_against_brute_force(fn):
    """src_index (padding -> source pixel) and valid_range (the interior [lo, hi) of output
    positions whose tap needs no padding), exhaustively over small sizes."""
    mod = KMOD["im2col"]
    src = mod.src_index if fn == "jit" else mod._src_index
    valid = mod.valid_range if fn == "jit" else mod._valid_range
    for n in range(1, 7):
        for i in range(-(n - 1), 2 * n - 1):
            want = i if 0 <= i < n else -1
            assert src(i, n, False) == want
            want = -i if i < 0 else (2 * (n - 1) - i if i >= n else i)  # mirror, no edge repeat
            assert src(i, n, True) == want
        for k in (1, 3, 5, 7):
            pad = k // 2
            for stride in (1, 2, 3):
                n_out = K.conv_out_size(n, k, stride, pad)
                for j in range(k):
                    inside = [o for o in range(n_out) if 0 <= o * stride + j - pad < n]
                    lo, hi = valid(j, pad, stride, n, n_out)
                    assert 0 <= lo <= hi <= n_out
                    assert list(range(lo, hi)) == inside, (n, k, stride, j)


@pytest.mark.parametrize("size, k, stride, pad, expected", [
    (5, 3, 1, 1, 5), (5, 3, 2, 1, 3), (6, 3, 2, 1, 3), (7, 5, 2, 2, 4), (1, 5, 1, 2, 1),
    (4, 1, 2, 0, 2), (5, 1, 2, 0, 3), (5, 3, 1, 0, 3),
])
def test_conv_out_size(size, k, stride, pad, expected):
    assert K.conv_out_size(size, k, stride, pad) == expected


# ----------------------------------------------------------------------------------------------
# upsampling
# ----------------------------------------------------------------------------------------------
def bilinear_matrix(n, s):
    """(s*n, n) 1-D interpolation matrix, PyTorch align_corners=False (half-pixel centres)."""
    A = np.zeros((s * n, n))
    for o in range(s * n):
        src = max((o + 0.5) / s - 0.5, 0.0)
        i0 = min(int(np.floor(src)), n - 1)
        i1 = min(i0 + 1, n - 1)
        lam = src - i0
        A[o, i0] += 1.0 - lam
        A[o, i1] += lam
    return A


def test_bilinear_matrix_reference_hand_values():
    np.testing.assert_allclose(bilinear_matrix(3, 2), [
        [1, 0, 0], [0.75, 0.25, 0], [0.25, 0.75, 0], [0, 0.75, 0.25], [0, 0.25, 0.75], [0, 0, 1],
    ], atol=1e-15)
    np.testing.assert_allclose(bilinear_matrix(2, 3), [
        [1, 0], [1, 0], [2 / 3, 1 / 3], [1 / 3, 2 / 3], [0, 1], [0, 1],
    ], atol=1e-15)
    np.testing.assert_allclose(bilinear_matrix(1, 3), np.ones((3, 1)))
    for n, s in [(4, 2), (5, 3)]:
        np.testing.assert_allclose(bilinear_matrix(n, s).sum(axis=1), 1.0)


UP_SHAPES = [(3, 1, 1), (2, 3, 5), (1, 4, 2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_bilinear_forward_backward_match_interpolation_matrices(impl, s, dtype):
    rng = np.random.default_rng(s)
    for P, H, W in UP_SHAPES:
        ah, aw = bilinear_matrix(H, s), bilinear_matrix(W, s)
        x = rng.standard_normal((P, H, W)).astype(dtype)
        out = np.full((P, s * H, s * W), np.nan, dtype=dtype)
        kernel("bilinear_forward", impl)(x, s, out)
        ref = np.einsum("ah,phw,bw->pab", ah, x.astype(np.float64), aw)  # A_h x A_w^T
        np.testing.assert_allclose(out, ref, rtol=TOL[dtype], atol=TOL[dtype])
        g = rng.standard_normal((P, s * H, s * W)).astype(dtype)
        dx = np.full((P, H, W), 7.0, dtype=dtype)  # backward must overwrite, not accumulate
        kernel("bilinear_backward", impl)(g, s, dx)
        ref = np.einsum("ah,pab,bw->phw", ah, g.astype(np.float64), aw)  # A_h^T g A_w
        np.testing.assert_allclose(dx, ref, rtol=TOL[dtype], atol=10 * TOL[dtype])
        assert out.dtype == dx.dtype == dtype


def _generic_rows(n, dtype):
    """The generic kernels' row pass for s = 2, element by element in their order: forward
    (1 - l) a + l b in float64, one rounding; backward a scatter rounding after each add."""
    i0, i1, lam = K.upsample.tables(n, 2)

    def forward(row):
        return np.array([(1.0 - lam[o]) * float(row[i0[o]]) + lam[o] * float(row[i1[o]])
                         for o in range(2 * n)]).astype(dtype)

    def backward(t):
        d = np.zeros(n, dtype)
        for o in range(2 * n):
            d[i0[o]] = dtype(float(d[i0[o]]) + (1.0 - lam[o]) * float(t[o]))
            d[i1[o]] = dtype(float(d[i1[o]]) + lam[o] * float(t[o]))
        return d
    return forward, backward


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [2, 3, 4, 17])
def test_bilinear_x2_rows_are_bitwise_the_generic_formula(impl, n, dtype):
    """The s = 2 row passes (no index tables) give the generic formula's bits, not just
    close numbers: a fit's trajectory does not move when they are used."""
    mod = KMOD["upsample"]
    fwd, bwd = (getattr(mod, name) if impl == "jit" else getattr(mod, "_" + name)
                for name in ("row2_forward", "row2_backward"))
    ref_fwd, ref_bwd = _generic_rows(n, dtype)
    rng = np.random.default_rng(n)
    for _ in range(20):
        row = (rng.standard_normal(n) * 10.0 ** rng.integers(-3, 4)).astype(dtype)
        t = np.full(2 * n, np.nan, dtype)
        fwd(row, t)
        np.testing.assert_array_equal(t.view(np.uint8), ref_fwd(row).view(np.uint8))
        g = (rng.standard_normal(2 * n) * 10.0 ** rng.integers(-3, 4)).astype(dtype)
        d = np.full(n, 7.0, dtype)
        bwd(g, d)
        np.testing.assert_array_equal(d.view(np.uint8), ref_bwd(g).view(np.uint8))
    row, g = np.ones(n, dtype), np.ones(2 * n, dtype)  # a non-finite value spreads alike,
    row[1], g[0] = np.inf, np.inf  # through its weight-0 products too
    t, d = np.zeros(2 * n, dtype), np.zeros(n, dtype)
    with np.errstate(invalid="ignore"):  # 0 * inf (the plain Python functions warn)
        fwd(row, t)
        bwd(g, d)
        np.testing.assert_array_equal(t, ref_fwd(row))
        np.testing.assert_array_equal(d, ref_bwd(g))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_nearest_forward_backward_match_repeat(impl, s, dtype):
    rng = np.random.default_rng(10 + s)
    for P, H, W in UP_SHAPES:
        x = rng.standard_normal((P, H, W)).astype(dtype)
        out = np.full((P, s * H, s * W), np.nan, dtype=dtype)
        kernel("nearest_forward", impl)(x, s, out)
        np.testing.assert_array_equal(out, np.repeat(np.repeat(x, s, axis=1), s, axis=2))
        g = rng.standard_normal((P, s * H, s * W)).astype(dtype)
        dx = np.full((P, H, W), 7.0, dtype=dtype)
        kernel("nearest_backward", impl)(g, s, dx)
        # transpose of the repeat matrix: the sum over each s x s block
        ref = g.astype(np.float64).reshape(P, H, s, W, s).sum(axis=(2, 4))
        np.testing.assert_allclose(dx, ref, rtol=TOL[dtype], atol=10 * TOL[dtype])


def test_nearest_matrix_is_repeat_transpose():
    """The 1-D nearest matrix is the indicator of floor(o/s): its transpose sums blocks."""
    n, s = 4, 3
    R = np.repeat(np.eye(n), s, axis=0)  # (s*n, n)
    x = np.random.default_rng(0).standard_normal((1, n, n))
    out = np.empty((1, s * n, s * n))
    K.nearest_forward(x, s, out)
    np.testing.assert_array_equal(out[0], R @ x[0] @ R.T)
    g = np.random.default_rng(1).standard_normal((1, s * n, s * n))
    dx = np.empty_like(x)
    K.nearest_backward(g, s, dx)
    np.testing.assert_allclose(dx[0], R.T @ g[0] @ R, rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------------------------
# batch norm
# ----------------------------------------------------------------------------------------------
def bn_data(rng, shape=(2, 3, 7), dtype=np.float64):
    N, C, L = shape
    x = (rng.standard_normal(shape) * rng.uniform(0.5, 2, (1, C, 1))
         + rng.uniform(-2, 2, (1, C, 1))).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, C).astype(dtype) * rng.choice([-1, 1], C)
    beta = rng.uniform(-0.5, 0.5, C).astype(dtype)
    return x, gamma, beta


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bn_stats_matches_numpy(impl, dtype):
    x, _, _ = bn_data(np.random.default_rng(0), (2, 3, 7), dtype)
    mean, var = np.empty(3, dtype), np.empty(3, dtype)
    kernel("bn_stats", impl)(x, mean, var)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2)), rtol=TOL[dtype], atol=TOL[dtype])
    np.testing.assert_allclose(var, x64.var(axis=(0, 2)), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_invstd_matches_numpy(impl, dtype):
    var = np.array([0.0, 0.5, 2.0, 1e-3], dtype)
    out = np.empty_like(var)
    kernel("invstd", impl)(var, 1e-5, out)
    np.testing.assert_allclose(out, 1 / np.sqrt(var.astype(np.float64) + 1e-5),
                               rtol=TOL[dtype])


def bn_ref_forward(x, mean, istd, gamma, beta, slope):
    y = gamma[None, :, None] * (x - mean[None, :, None]) * istd[None, :, None] \
        + beta[None, :, None]
    return np.where(y > 0, y, slope * y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("slope", [1.0, 0.2, 0.0])
def test_bn_forward_train_matches_formula(impl, slope, dtype):
    rng = np.random.default_rng(1)
    x, gamma, beta = bn_data(rng, dtype=dtype)
    mean = rng.standard_normal(3).astype(dtype)
    istd = rng.uniform(0.5, 2, 3).astype(dtype)
    out = np.full_like(x, np.nan)
    kernel("bn_forward_train", impl)(x, mean, istd, gamma, beta, slope, out)
    f64 = [a.astype(np.float64) for a in (x, mean, istd, gamma, beta)]
    np.testing.assert_allclose(out, bn_ref_forward(*f64, slope), rtol=TOL[dtype],
                               atol=TOL[dtype] * 10)


def bn_ref_backward(dout, x, mean, istd, gamma, beta, slope, train):
    xhat = (x - mean[None, :, None]) * istd[None, :, None]
    y = gamma[None, :, None] * xhat + beta[None, :, None]
    g = np.where(y > 0, dout, slope * dout)  # through the fused LeakyReLU
    M = x.shape[0] * x.shape[2]
    dbeta = g.sum(axis=(0, 2))
    dgamma = (g * xhat).sum(axis=(0, 2))
    k = (gamma * istd)[None, :, None]
    if train:
        dx = k / M * (M * g - dbeta[None, :, None] - xhat * dgamma[None, :, None])
    else:
        dx = k * g
    return dx, dgamma, dbeta


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("slope", [1.0, 0.2, 0.0])
def test_bn_backward_matches_formula_and_accumulates(impl, slope, train, dtype):
    rng = np.random.default_rng(2)
    x, gamma, beta = bn_data(rng, dtype=dtype)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2)) if train else rng.standard_normal(3)
    var = x64.var(axis=(0, 2)) if train else rng.uniform(0.5, 2, 3)
    istd = 1 / np.sqrt(var + 1e-5)
    mean, istd = mean.astype(dtype), istd.astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    dx = np.full_like(x, np.nan)
    dgamma0 = rng.standard_normal(3).astype(dtype)
    dbeta0 = rng.standard_normal(3).astype(dtype)
    dgamma, dbeta = dgamma0.copy(), dbeta0.copy()
    kernel("bn_backward", impl)(dout, x, mean, istd, gamma, beta, slope, train, dx, dgamma,
                                dbeta)
    f64 = [a.astype(np.float64) for a in (dout, x, mean, istd, gamma, beta)]
    rdx, rdg, rdb = bn_ref_backward(*f64, slope, train)
    tol = 1e-11 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(dx, rdx, rtol=tol, atol=tol)
    np.testing.assert_allclose(dgamma, dgamma0 + rdg, rtol=tol, atol=tol)  # += not =
    np.testing.assert_allclose(dbeta, dbeta0 + rdb, rtol=tol, atol=tol)


def _bn_backward_case(kern, dtype):
    """max |dx - formula| / max |formula| of a train-mode bn_backward on wide-mean data."""
    rng = np.random.default_rng(5)
    x, gamma, beta = bn_data(rng, shape=(1, 3, 4096), dtype=dtype)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=(0, 2)).astype(dtype)
    istd = (1 / np.sqrt(x64.var(axis=(0, 2)) + 1e-5)).astype(dtype)
    dout = (rng.standard_normal(x.shape) + 3).astype(dtype)  # sum(g) far from 0: a matters
    dx = np.empty_like(x)
    kern(dout, x, mean, istd, gamma, beta, 0.2, True, dx, np.zeros(3, dtype),
         np.zeros(3, dtype))
    ref = bn_ref_backward(*[a.astype(np.float64) for a in (dout, x, mean, istd, gamma, beta)],
                          0.2, True)[0]
    return float(np.abs(dx - ref).max() / np.abs(ref).max())


def test_bn_backward_second_pass_runs_in_the_input_dtype():
    """The dx pass uses the means of g and g*xhat in x's dtype (float32 arithmetic in
    training, 1.3-2.5x faster than mixing in float64 scalars); float64 input stays exact
    to ~1e-15, and a kernel that rounds the means to float32 regardless is caught."""
    import inspect
    import textwrap
    plain = kernel("bn_backward", "py")
    assert _bn_backward_case(plain, np.float64) < 1e-13
    assert _bn_backward_case(K.bn_backward, np.float64) < 1e-13
    assert _bn_backward_case(K.bn_backward, np.float32) < 2e-6  # float32 rounding only
    src = textwrap.dedent(inspect.getsource(plain))
    old = "np.empty(2, dtype=dx.dtype)"
    assert src.count(old) == 1
    ns = dict(plain.__globals__)
    exec(compile(src.replace(old, "np.empty(2, dtype=np.float32)"), "<planted>", "exec"), ns)
    assert _bn_backward_case(ns["_bn_backward"], np.float64) > 1e-10  # the planted bug


# ----------------------------------------------------------------------------------------------
# Adam
# ----------------------------------------------------------------------------------------------
def adam_by_hand(p, g, m, v, lr, b1, b2, eps, t):
    """The textbook form with bias-corrected moments (Kingma & Ba, Algorithm 1)."""
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g ** 2
    mhat = m / (1 - b1 ** t)
    vhat = v / (1 - b2 ** t)
    return p - lr * mhat / (np.sqrt(vhat) + eps), m, v


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_update_matches_hand_formula(impl, dtype):
    rng = np.random.default_rng(5)
    n, lr, b1, b2, eps = 11, 0.01, 0.8, 0.99, 1e-6
    p, m, v = rng.standard_normal(n), np.zeros(n), np.zeros(n)
    pk, mk, vk = p.astype(dtype), m.astype(dtype), v.astype(dtype)
    for t in range(1, 4):
        g = rng.standard_normal(n)
        p, m, v = adam_by_hand(p, g, m, v, lr, b1, b2, eps, t)
        kernel("adam_update", impl)(pk, g.astype(dtype), mk, vk, lr, b1, b2, eps,
                                    1 - b1 ** t, 1 - b2 ** t)
        for got, want in ((pk, p), (mk, m), (vk, v)):
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=TOL[dtype] * 10, atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_leaky_relu_kernels_match_numpy(impl, dtype, slope):
    rng = np.random.default_rng(6)
    x = rng.standard_normal(50).astype(dtype)
    g = rng.standard_normal(50).astype(dtype)
    out, dx = np.empty_like(x), np.empty_like(x)
    kernel("leaky_relu_forward", impl)(x, slope, out)
    kernel("leaky_relu_backward", impl)(g, x, slope, dx)
    # (the jitted kernel multiplies in float64 before rounding: equal to float32 rounding)
    np.testing.assert_allclose(out, np.where(x > 0, x, slope * x), rtol=TOL[dtype], atol=0)
    np.testing.assert_allclose(dx, np.where(x > 0, g, slope * g), rtol=TOL[dtype], atol=0)
    assert out.dtype == dx.dtype == dtype


# ----------------------------------------------------------------------------------------------
# jitted == plain on identical inputs, kernel by kernel
# ----------------------------------------------------------------------------------------------
def _kernel_calls(rng):
    """(name, args builder) pairs; every builder returns fresh arrays (outputs last)."""
    x3 = rng.standard_normal((2, 5, 6))
    cols = rng.standard_normal((2 * 9, 3 * 3))
    planes = rng.standard_normal((3, 3, 4))
    up = rng.standard_normal((3, 6, 8))
    bx, gamma, beta = bn_data(rng)
    mean, istd = rng.standard_normal(3), rng.uniform(0.5, 2, 3)
    dout = rng.standard_normal(bx.shape)
    p, g = rng.standard_normal(9), rng.standard_normal(9)
    m, v = rng.standard_normal(9), rng.uniform(0, 1, 9)
    var = rng.uniform(0, 1, 3)
    return {
        "im2col": lambda: (x3, 3, 3, 2, 1, True, np.zeros((18, 9))),
        "col2im": lambda: (cols, 3, 3, 2, 1, True, np.zeros((2, 5, 6))),
        "bilinear_forward": lambda: (planes, 2, np.zeros((3, 6, 8))),
        "bilinear_backward": lambda: (up, 2, np.zeros((3, 3, 4))),
        "nearest_forward": lambda: (planes, 2, np.zeros((3, 6, 8))),
        "nearest_backward": lambda: (up, 2, np.zeros((3, 3, 4))),
        "bn_stats": lambda: (bx, np.zeros(3), np.zeros(3)),
        "bn_forward_train": lambda: (bx, mean, istd, gamma, beta, 0.2, np.zeros_like(bx)),
        "bn_backward": lambda: (dout, bx, mean, istd, gamma, beta, 0.2, True,
                                np.zeros_like(bx), np.zeros(3), np.zeros(3)),
        "invstd": lambda: (var, 1e-5, np.zeros(3)),
        "adam_update": lambda: (p.copy(), g, m.copy(), v.copy(), 1e-2, 0.9, 0.999, 1e-8,
                                0.19, 0.002),
        "leaky_relu_forward": lambda: (p, 0.2, np.zeros(9)),
        "leaky_relu_backward": lambda: (g, p, 0.2, np.zeros(9)),
    }


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_jitted_equals_plain_and_one_thread(name, kernel_runs):
    """Same numbers un-jitted; and the prange loops write disjoint slices, so any thread
    count gives the same bits."""
    build = _kernel_calls(np.random.default_rng(0))[name]
    jit, plain, one = kernel_runs(kernel(name, "jit"), build)
    for x, y, z in zip(jit, plain, one, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-14)
        np.testing.assert_array_equal(x, z)


# ----------------------------------------------------------------------------------------------
# NUMBA_DISABLE_JIT=1 turns the whole library into plain Python with the same results
# ----------------------------------------------------------------------------------------------
# the same computation runs here (jitted) and in a NUMBA_DISABLE_JIT=1 subprocess
_COMPUTE = """
import numpy as np
from tinydip.functional import conv2d_backward, conv2d_forward, upsample_forward
from tinydip.functional.winograd import conv2d_winograd_backward, conv2d_winograd_forward
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 2, 5, 4))
w = rng.standard_normal((3, 2, 3, 3))
b = rng.standard_normal(3)
out, cache = conv2d_forward(x, w, b, 2, "reflect")
g = rng.standard_normal(out.shape)
dx, dw, db = conv2d_backward(g, cache)
up, _ = upsample_forward(x, 2, "bilinear")
ow, cw = conv2d_winograd_forward(x, w, b, "reflect")
dxw, dww, _ = conv2d_winograd_backward(ow, cw)
from tinydip.functional.gemm import gemm, gemm_nt_acc
A, B = rng.standard_normal((32, 64)), rng.standard_normal((64, 2048))  # split into blocks
big = gemm(A, B, np.empty((32, 2048)))
acc = gemm_nt_acc(big, B, np.zeros((32, 64)))
results = dict(out=out, dx=dx, dw=dw, db=db, up=up, ow=ow, dxw=dxw, dww=dww, big=big, acc=acc)
"""
_NOJIT_SCRIPT = """
import sys
import numba
import numpy as np
assert numba.config.DISABLE_JIT
import tinydip.kernels as K
assert not hasattr(K.im2col, "py_func"), "kernels are still compiled"
""" + _COMPUTE + """
np.savez(sys.argv[1], **results)
"""


def test_numba_disable_jit_subprocess_matches_jitted(tmp_path):
    path = tmp_path / "nojit.npz"
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(K.__file__))))
    proc = subprocess.run([sys.executable, "-c", _NOJIT_SCRIPT, str(path)], env=env, cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = np.load(path)
    jitted: dict = {}
    exec(_COMPUTE, jitted)
    assert sorted(got.files) == sorted(jitted["results"])
    for name, want in jitted["results"].items():
        np.testing.assert_allclose(got[name], want, rtol=1e-12, atol=1e-12, err_msg=name)
