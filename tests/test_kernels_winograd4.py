"""tinydip.kernels.winograd4: the four Winograd F(4x4, 3x3) transforms against NumPy references.

The references pad with ``np.pad`` and apply the explicit 6x6 / 4x6 matrices tile by tile in
float64 (``BT @ d @ BT.T``, ``AT @ m @ AT.T`` and their transposes, the input adjoint folding the
padding back with ``np.add.at``); the adjoint kernels are also checked against the forward
kernels with the dot-product identity <K x, y> = <x, K^T y>. Every kernel also runs un-jitted
(``_name``) and on one thread, with identical results, and band by band.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from numba import njit
from winograd_bands import check_bands

import tinydip.kernels as K
from tinydip.kernels import winograd4 as WK

BT = np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=float)
G = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], dtype=float)
NAMES = ("winograd4_input", "winograd4_input_adjoint", "winograd4_output",
         "winograd4_output_adjoint")
# (channels, H, W): sizes with H, W not multiples of 4, one tile, one pixel
SHAPES = [(2, 5, 7), (3, 9, 12), (1, 16, 16), (2, 17, 13), (4, 8, 4), (1, 2, 3), (1, 1, 1),
          (2, 6, 1)]
TOL = {np.float64: 1e-13, np.float32: 2e-6}


def kernel(name: str, impl: str):
    return getattr(WK, name) if impl == "jit" else getattr(WK, "_" + name)


@pytest.fixture(params=["jit", "py"])
def impl(request):
    return request.param


def tiles_shape(H, W):
    return (H + 3) // 4, (W + 3) // 4


def skip_small_reflect(H, W, reflect):
    if reflect and min(H, W) < 2:
        pytest.skip("reflect padding needs at least 2 pixels")


def ref_padded(x, reflect):
    """x (C, H, W) padded by 1 (np.pad), plus zeros to the (4 th + 2, 4 tw + 2) tile grid."""
    C, H, W = x.shape
    th, tw = tiles_shape(H, W)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect" if reflect else "constant")
    out = np.zeros((C, 4 * th + 2, 4 * tw + 2), dtype=np.float64)
    out[:, :H + 2, :W + 2] = xp
    return out


def ref_input(x, reflect):
    """V (36, C, T): BT @ d @ BT.T for every 6x6 tile d (stride 4) of the padded image."""
    C, H, W = x.shape
    th, tw = tiles_shape(H, W)
    xp = ref_padded(x, reflect)
    V = np.zeros((36, C, th * tw))
    for c in range(C):
        for ty in range(th):
            for tx in range(tw):
                d = xp[c, 4 * ty:4 * ty + 6, 4 * tx:4 * tx + 6]
                V[:, c, ty * tw + tx] = (BT @ d @ BT.T).ravel()
    return V


def _source(i, n, reflect):
    """Image index of padded index i (1-pixel pad), -1 for a zero."""
    j = i - 1
    if 0 <= j < n:
        return j
    if not reflect or i >= n + 2:
        return -1
    return 1 if j == -1 else n - 2


def ref_input_adjoint(dV, reflect, H, W):
    """dx (C, H, W): BT.T @ dv @ BT added into a padded plane per tile, the plane folded back
    (np.add.at: a reflected pixel's gradient goes to its source)."""
    _, C, _ = dV.shape
    th, tw = tiles_shape(H, W)
    p = np.zeros((C, 4 * th + 2, 4 * tw + 2))
    for c in range(C):
        for ty in range(th):
            for tx in range(tw):
                dv = dV[:, c, ty * tw + tx].reshape(6, 6)
                p[c, 4 * ty:4 * ty + 6, 4 * tx:4 * tx + 6] += BT.T @ dv @ BT
    rows = np.array([_source(i, H, reflect) for i in range(p.shape[1])])
    cols = np.array([_source(j, W, reflect) for j in range(p.shape[2])])
    dx = np.zeros((C, H, W))
    keep_r, keep_c = rows >= 0, cols >= 0
    for c in range(C):
        sub = p[c][np.ix_(keep_r, keep_c)]
        np.add.at(dx[c], np.ix_(rows[keep_r], cols[keep_c]), sub)
    return dx


def ref_output(M, b, H, W):
    """out (F, H, W): AT @ m @ AT.T + b for every tile m, the 4x4 blocks cropped to H x W."""
    _, F, _ = M.shape
    th, tw = tiles_shape(H, W)
    full = np.zeros((F, 4 * th, 4 * tw))
    for f in range(F):
        for ty in range(th):
            for tx in range(tw):
                m = M[:, f, ty * tw + tx].reshape(6, 6)
                full[f, 4 * ty:4 * ty + 4, 4 * tx:4 * tx + 4] = AT @ m @ AT.T + b[f]
    return full[:, :H, :W]


def ref_output_adjoint(dout):
    """dM (36, F, T): AT.T @ dy @ AT per tile, dy zero past the image."""
    F, H, W = dout.shape
    th, tw = tiles_shape(H, W)
    g = np.zeros((F, 4 * th, 4 * tw))
    g[:, :H, :W] = dout
    dM = np.zeros((36, F, th * tw))
    for f in range(F):
        for ty in range(th):
            for tx in range(tw):
                dy = g[f, 4 * ty:4 * ty + 4, 4 * tx:4 * tx + 4]
                dM[:, f, ty * tw + tx] = (AT.T @ dy @ AT).ravel()
    return dM


def test_kernels_are_exported_jitted_and_have_plain_twins():
    for name in NAMES:
        jitted, plain = getattr(WK, name), getattr(WK, "_" + name)
        assert getattr(K, name) is jitted
        assert jitted.py_func is plain and not hasattr(plain, "py_func")


def test_reference_matrices_compute_a_3x3_correlation():
    """The identity itself: A^T [(G g G^T) * (B^T d B)] A == correlation of d (6x6) with g."""
    rng = np.random.default_rng(0)
    d, g = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(4)] for i in range(4)])
    np.testing.assert_allclose(y, direct, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_input_transform_matches_reference(impl, shape, reflect, dtype):
    C, H, W = shape
    skip_small_reflect(H, W, reflect)
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    th, tw = tiles_shape(H, W)
    V = np.full((36, C, th * tw), np.nan, dtype=dtype)  # every entry must be written
    kernel("winograd4_input", impl)(x, reflect, V)
    np.testing.assert_allclose(V, ref_input(x, reflect), rtol=TOL[dtype], atol=TOL[dtype] * 100)


@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_input_adjoint_matches_reference_and_accumulates(impl, shape, reflect):
    C, H, W = shape
    skip_small_reflect(H, W, reflect)
    rng = np.random.default_rng(2)
    th, tw = tiles_shape(H, W)
    dV, start = rng.standard_normal((36, C, th * tw)), rng.standard_normal(shape)
    dx = start.copy()
    kernel("winograd4_input_adjoint", impl)(dV, reflect, dx)
    np.testing.assert_allclose(dx - start, ref_input_adjoint(dV, reflect, H, W), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_output_transform_matches_reference(impl, shape, dtype):
    F, H, W = shape
    th, tw = tiles_shape(H, W)
    rng = np.random.default_rng(3)
    M = rng.standard_normal((36, F, th * tw)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    out = np.full((F, H, W), np.nan, dtype=dtype)
    kernel("winograd4_output", impl)(M, b, out)
    np.testing.assert_allclose(out, ref_output(M.astype(np.float64), b, H, W),
                               rtol=TOL[dtype], atol=TOL[dtype] * 100)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_output_adjoint_matches_reference(impl, shape, dtype):
    F, H, W = shape
    th, tw = tiles_shape(H, W)
    dout = np.random.default_rng(4).standard_normal(shape).astype(dtype)
    dM = np.full((36, F, th * tw), np.nan, dtype=dtype)
    kernel("winograd4_output_adjoint", impl)(dout, dM)
    np.testing.assert_allclose(dM, ref_output_adjoint(dout.astype(np.float64)),
                               rtol=TOL[dtype], atol=TOL[dtype] * 100)


# ----------------------------------------------------------------------------------------------
# the adjoints are the transposes of the forward kernels: <K x, y> == <x, K^T y>
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_input_adjoint_is_the_transpose(shape, reflect):
    C, H, W = shape
    skip_small_reflect(H, W, reflect)
    rng = np.random.default_rng(5)
    th, tw = tiles_shape(H, W)
    x, dV = rng.standard_normal(shape), rng.standard_normal((36, C, th * tw))
    V, dx = np.empty(dV.shape), np.zeros(shape)
    WK.winograd4_input(x, reflect, V)
    WK.winograd4_input_adjoint(dV, reflect, dx)
    np.testing.assert_allclose(np.sum(V * dV), np.sum(x * dx), rtol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_output_adjoint_is_the_transpose(shape):
    """<output(M, b=0), dout> == <M, output_adjoint(dout)>; tile pixels past the image get 0."""
    F, H, W = shape
    rng = np.random.default_rng(6)
    th, tw = tiles_shape(H, W)
    M, dout = rng.standard_normal((36, F, th * tw)), rng.standard_normal(shape)
    out, dM = np.empty(shape), np.empty(M.shape)
    WK.winograd4_output(M, np.zeros(F), out)
    WK.winograd4_output_adjoint(dout, dM)
    np.testing.assert_allclose(np.sum(out * dout), np.sum(M * dM), rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# float32 stays float32; jitted == plain == one thread
# ----------------------------------------------------------------------------------------------
def _calls(rng, dtype=np.float64):
    x = rng.standard_normal((3, 7, 9)).astype(dtype)  # th, tw = 2, 3
    dV = rng.standard_normal((36, 3, 6)).astype(dtype)
    M, b = rng.standard_normal((36, 3, 6)).astype(dtype), rng.standard_normal(3).astype(dtype)
    return {
        "winograd4_input": lambda: (x, True, np.zeros((36, 3, 6), dtype)),
        "winograd4_input_adjoint": lambda: (dV, True, np.zeros((3, 7, 9), dtype)),
        "winograd4_output": lambda: (M, b, np.zeros((3, 7, 9), dtype)),
        "winograd4_output_adjoint": lambda: (x, np.zeros((36, 3, 6), dtype)),
    }


@pytest.mark.parametrize("name", NAMES)
def test_jitted_equals_plain_and_one_thread(name, kernel_runs):
    jit, plain, one = kernel_runs(kernel(name, "jit"), _calls(np.random.default_rng(7))[name])
    for x, y, z in zip(jit, plain, one, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(x, z)


@pytest.mark.parametrize("name", NAMES)
def test_float32_arithmetic_stays_float32(name):
    """No float64 arithmetic in the compiled float32 kernel (a bare literal such as 4.0 would
    promote it): the LLVM code has no fpext / double multiply-add. Compiled afresh, serial and
    uncached (numba cannot show the code of a kernel loaded from its cache); the arithmetic is
    typed the same way as in the parallel kernel."""
    f = njit(cache=False)(getattr(WK, "_" + name))
    f(*_calls(np.random.default_rng(8), np.float32)[name]())
    ir = f.inspect_llvm(f.signatures[0])
    assert re.search(r"fmul (fast )?<\d+ x float>|fmul (fast )?float", ir)
    assert not re.search(r"fpext|f(add|sub|mul) (fast )?(<\d+ x )?double", ir)


# ----------------------------------------------------------------------------------------------
# bands of tile rows (ty0): what a large convolution runs through a small buffer
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [1, 2])
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("shape", [(2, 9, 12), (3, 17, 13), (2, 16, 16), (1, 5, 7)])
def test_bands_of_tile_rows_reproduce_the_whole(impl, shape, reflect, rows):
    """Each kernel run band by band (ty0, R tile rows) gives exactly the whole-image result
    (the shared contract: tests/winograd_bands.py)."""
    check_bands(lambda name: kernel(name, impl), "winograd4", 36, tiles_shape(*shape[1:]), shape,
                reflect, rows, seed=9, tol_v=1e-13, tol_dx=1e-12)


@pytest.mark.parametrize("reflect", [False, True])
def test_a_band_in_the_middle_matches_the_reference(reflect):
    """ty0 > 0 on its own (the band tests above compare with the kernels' whole pass)."""
    C, H, W = 2, 17, 13
    th, tw = tiles_shape(H, W)
    rng = np.random.default_rng(10)
    x, dout = rng.standard_normal((C, H, W)), rng.standard_normal((C, H, W))
    ty0, r = 2, 2  # tile rows 2 and 3 of 5
    t0, t1 = ty0 * tw, (ty0 + r) * tw
    V, dM = np.empty((36, C, t1 - t0)), np.empty((36, C, t1 - t0))
    WK.winograd4_input(x, reflect, V, ty0)
    np.testing.assert_allclose(V, ref_input(x, reflect)[:, :, t0:t1], rtol=1e-13, atol=1e-12)
    WK.winograd4_output_adjoint(dout, dM, ty0)
    np.testing.assert_allclose(dM, ref_output_adjoint(dout)[:, :, t0:t1], rtol=1e-13,
                               atol=1e-12)
    M, full = rng.standard_normal((36, C, th * tw)), np.zeros((36, C, th * tw))
    full[:, :, t0:t1] = M[:, :, t0:t1]
    dx = np.zeros((C, H, W))
    WK.winograd4_input_adjoint(np.ascontiguousarray(M[:, :, t0:t1]), reflect, dx, ty0)
    np.testing.assert_allclose(dx, ref_input_adjoint(full, reflect, H, W), rtol=1e-12,
                               atol=1e-12)
    out = np.full((C, H, W), np.nan)
    WK.winograd4_output(np.ascontiguousarray(M[:, :, t0:t1]), np.zeros(C), out, ty0)
    want = ref_output(full, np.zeros(C), H, W)
    np.testing.assert_allclose(out[:, 8:16], want[:, 8:16], rtol=1e-13, atol=1e-12)
    assert np.isnan(out[:, :8]).all() and np.isnan(out[:, 16:]).all()  # other rows untouched
