"""tinydip.kernels.winograd: the four Winograd F(2x2, 3x3) transforms against NumPy references.

The references build the padded image with ``np.pad`` and apply the textbook matrices
B^T, A^T tile by tile (``BT @ d @ BT.T``, ``AT @ m @ AT.T``); the adjoint kernels are checked
with the dot-product identity <K x, y> = <x, K^T y>. Every kernel also runs un-jitted
(``_name``) and on one thread, with identical results.
"""

from __future__ import annotations

import numpy as np
import pytest
from winograd_bands import check_bands

import tinydip.kernels as K
from tinydip.kernels import winograd as WK

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=float)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=float)
NAMES = ("winograd_input", "winograd_input_adjoint", "winograd_output",
         "winograd_output_adjoint")
SHAPES = [(2, 6, 8), (3, 5, 7), (1, 2, 3), (2, 4, 1), (1, 1, 1), (2, 9, 2)]
TOL = {np.float64: 1e-13, np.float32: 2e-6}


def kernel(name: str, impl: str):
    return getattr(WK, name) if impl == "jit" else getattr(WK, "_" + name)


@pytest.fixture(params=["jit", "py"])
def impl(request):
    return request.param


def tiles_shape(H, W):
    return (H + 1) // 2, (W + 1) // 2


def ref_padded(x, reflect):
    """x (C, H, W) padded by 1 (np.pad), plus zeros to the (2 th + 2, 2 tw + 2) tile grid."""
    C, H, W = x.shape
    th, tw = tiles_shape(H, W)
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect" if reflect else "constant")
    out = np.zeros((C, 2 * th + 2, 2 * tw + 2), dtype=x.dtype)
    out[:, :H + 2, :W + 2] = xp
    return out


def ref_input(x, reflect):
    """V (16, C, T): BT @ d @ BT.T for every 4x4 tile d (stride 2) of the padded image."""
    C, H, W = x.shape
    th, tw = tiles_shape(H, W)
    xp = ref_padded(x, reflect).astype(np.float64)
    V = np.zeros((16, C, th * tw))
    for c in range(C):
        for ty in range(th):
            for tx in range(tw):
                d = xp[c, 2 * ty:2 * ty + 4, 2 * tx:2 * tx + 4]
                V[:, c, ty * tw + tx] = (BT @ d @ BT.T).ravel()
    return V


def ref_output(M, b, H, W):
    """out (F, H, W): AT @ m @ AT.T + b for every tile m, the 2x2 blocks cropped to H x W."""
    _, F, _ = M.shape
    th, tw = tiles_shape(H, W)
    full = np.zeros((F, 2 * th, 2 * tw))
    for f in range(F):
        for ty in range(th):
            for tx in range(tw):
                m = M[:, f, ty * tw + tx].reshape(4, 4)
                full[f, 2 * ty:2 * ty + 2, 2 * tx:2 * tx + 2] = AT @ m @ AT.T + b[f]
    return full[:, :H, :W]


def test_kernels_are_exported_jitted_and_have_plain_twins():
    for name in NAMES:
        jitted, plain = getattr(WK, name), getattr(WK, "_" + name)
        assert getattr(K, name) is jitted
        assert jitted.py_func is plain and not hasattr(plain, "py_func")


def test_reference_matrices_compute_a_3x3_correlation():
    """The textbook identity itself: A^T [(G g G^T) * (B^T d B)] A == correlation of d with g."""
    rng = np.random.default_rng(0)
    G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
    d, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    y = AT @ ((G @ g @ G.T) * (BT @ d @ BT.T)) @ AT.T
    direct = np.array([[np.sum(d[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(y, direct, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_input_transform_matches_reference(impl, shape, reflect, dtype):
    C, H, W = shape
    if reflect and min(H, W) < 2:
        pytest.skip("reflect padding needs at least 2 pixels")
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    th, tw = tiles_shape(H, W)
    V = np.full((16, C, th * tw), np.nan, dtype=dtype)  # every entry must be written
    kernel("winograd_input", impl)(x, reflect, V)
    np.testing.assert_allclose(V, ref_input(x, reflect), rtol=TOL[dtype], atol=TOL[dtype] * 10)
    assert V.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_output_transform_matches_reference(impl, shape, dtype):
    F, H, W = shape
    th, tw = tiles_shape(H, W)
    rng = np.random.default_rng(2)
    M = rng.standard_normal((16, F, th * tw)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    out = np.full((F, H, W), np.nan, dtype=dtype)
    kernel("winograd_output", impl)(M, b, out)
    np.testing.assert_allclose(out, ref_output(M.astype(np.float64), b, H, W),
                               rtol=TOL[dtype], atol=TOL[dtype] * 10)


@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_input_adjoint_is_the_transpose(impl, shape, reflect):
    """<input(x), dV> == <x, input_adjoint(dV)>, and the adjoint accumulates into dx."""
    C, H, W = shape
    if reflect and min(H, W) < 2:
        pytest.skip("reflect padding needs at least 2 pixels")
    rng = np.random.default_rng(3)
    th, tw = tiles_shape(H, W)
    x, dV = rng.standard_normal(shape), rng.standard_normal((16, C, th * tw))
    start = rng.standard_normal(shape)
    dx = start.copy()
    kernel("winograd_input_adjoint", impl)(dV, reflect, dx)
    lhs = np.sum(ref_input(x, reflect) * dV)
    assert abs(lhs - np.sum(x * (dx - start))) < 1e-12 * np.abs(dV).sum() * np.abs(x).max() * 4


@pytest.mark.parametrize("shape", SHAPES)
def test_output_adjoint_is_the_transpose(impl, shape):
    """<output(M), dout> == <M, output_adjoint(dout)>; tile pixels past the image get 0."""
    F, H, W = shape
    rng = np.random.default_rng(4)
    th, tw = tiles_shape(H, W)
    M, dout = rng.standard_normal((16, F, th * tw)), rng.standard_normal((F, H, W))
    dM = np.full(M.shape, np.nan)
    kernel("winograd_output_adjoint", impl)(dout, dM)
    lhs = np.sum(ref_output(M, np.zeros(F), H, W) * dout)
    assert abs(lhs - np.sum(M * dM)) < 1e-12 * np.abs(M).sum() * np.abs(dout).max() * 4


def test_output_adjoint_keeps_float32():
    dout = np.ones((2, 4, 4), dtype=np.float32)
    dM = np.zeros((16, 2, 4), dtype=np.float32)
    WK.winograd_output_adjoint(dout, dM)
    assert dM.dtype == np.float32 and np.isfinite(dM).all()


def _calls(rng):
    x = rng.standard_normal((3, 7, 6))
    dV = rng.standard_normal((16, 3, 12))
    M, b = rng.standard_normal((16, 3, 12)), rng.standard_normal(3)
    return {
        "winograd_input": lambda: (x, True, np.zeros((16, 3, 12))),
        "winograd_input_adjoint": lambda: (dV, True, np.zeros((3, 7, 6))),
        "winograd_output": lambda: (M, b, np.zeros((3, 7, 6))),
        "winograd_output_adjoint": lambda: (x, np.zeros((16, 3, 12))),
    }


@pytest.mark.parametrize("name", NAMES)
def test_jitted_equals_plain_and_one_thread(name, kernel_runs):
    jit, plain, one = kernel_runs(kernel(name, "jit"), _calls(np.random.default_rng(5))[name])
    for x, y, z in zip(jit, plain, one, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-14)
        np.testing.assert_array_equal(x, z)


# ----------------------------------------------------------------------------------------------
# bands of tile rows (ty0): what a large convolution runs through a small buffer
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rows", [1, 2])
@pytest.mark.parametrize("reflect", [False, True])
@pytest.mark.parametrize("shape", [(2, 6, 8), (3, 5, 7), (2, 9, 2), (1, 2, 3)])
def test_bands_of_tile_rows_reproduce_the_whole(impl, shape, reflect, rows):
    """Each kernel run band by band (ty0, R tile rows) gives exactly the whole-image result
    (the shared contract: tests/winograd_bands.py)."""
    check_bands(lambda name: kernel(name, impl), "winograd", 16, tiles_shape(*shape[1:]), shape,
                reflect, rows, seed=6, tol_v=1e-14, tol_dx=1e-13)
