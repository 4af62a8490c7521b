"""tinydip.functional.winograd: the Winograd convolution pair, tile sizes m = 2 and 4, against
the naive convolution, the im2col pair and finite differences; the gradient check catches
planted bugs."""

from __future__ import annotations

import numpy as np
import pytest

import tinydip.functional.winograd as FW
from tinydip.functional import conv2d_backward, conv2d_forward, conv2d_naive
from tinydip.functional.winograd import (
    conv2d_winograd_backward,
    conv2d_winograd_forward,
    num_tiles,
    winograd_filters,
    winograd_filters_adjoint,
)
from tinydip.gradcheck import numerical_grad, rel_error

SHAPES = [(2, 3, 6, 8), (1, 2, 5, 7), (2, 1, 2, 3), (1, 3, 9, 2), (1, 2, 9, 12), (1, 2, 17, 13),
          (1, 2, 16, 16)]
PADDINGS = ("zeros", "reflect")
TILE_SIZES = (2, 4)
# forward vs the naive convolution in float64: F(4x4, 3x3)'s transforms round a little more
FORWARD_TOL = {2: 1e-12, 4: 1e-10}
KIND = {2: "Conv2d (Winograd)", 4: "Conv2d (Winograd F(4x4))"}  # rows of the gradcheck table


def case(rng, shape, F=4, dtype=np.float64):
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((F, shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


def test_num_tiles():
    assert num_tiles(8, 6) == 12 and num_tiles(7, 5) == 12 and num_tiles(1, 1) == 1
    assert num_tiles(8, 6, m=4) == 4 and num_tiles(17, 13, m=4) == 20
    assert num_tiles(16, 16, m=4) == 16 and num_tiles(1, 1, m=4) == 1


def test_an_unknown_tile_size_is_refused():
    rng = np.random.default_rng(12)
    x, w, b = case(rng, (1, 2, 4, 4))
    for m in (3, 6):
        with pytest.raises(ValueError, match="tile size m must be one of"):
            conv2d_winograd_forward(x, w, b, m=m)


G_BY_M = {2: np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]),
          4: np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                       [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]])}


@pytest.mark.parametrize("m", TILE_SIZES)
def test_filter_transform_matches_matrices_and_its_adjoint(m):
    rng = np.random.default_rng(0)
    G, n = G_BY_M[m], m + 2
    w = rng.standard_normal((3, 2, 3, 3))
    U = winograd_filters(w, m)
    assert U.shape == (n * n, 3, 2)
    np.testing.assert_allclose(U[:, 1, 0].reshape(n, n), G @ w[1, 0] @ G.T, rtol=1e-14)
    dU = rng.standard_normal(U.shape)
    dw = winograd_filters_adjoint(dU)
    assert dw.shape == w.shape
    assert abs(np.sum(U * dU) - np.sum(w * dw)) < 1e-12 * np.abs(U * dU).sum()
    assert winograd_filters(w.astype(np.float32), m).dtype == np.float32


@pytest.mark.parametrize("m", TILE_SIZES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_naive_convolution(shape, padding, m):
    if padding == "reflect" and min(shape[2:]) < 2:
        pytest.skip("reflect padding needs at least 2 pixels")
    rng = np.random.default_rng(1)
    x, w, b = case(rng, shape)
    for bias in (b, None):
        out, _ = conv2d_winograd_forward(x, w, bias, padding, m=m)
        np.testing.assert_allclose(out, conv2d_naive(x, w, bias, 1, padding),
                                   rtol=FORWARD_TOL[m], atol=FORWARD_TOL[m])


@pytest.mark.parametrize("padding", PADDINGS)
def test_forward_float32_accuracy_and_dtype(padding):
    """float32 Winograd stays within a few ulps of the float64 result (|out| ~ 10 here)."""
    rng = np.random.default_rng(2)
    x, w, b = case(rng, (1, 16, 12, 10), F=8)
    out32, _ = conv2d_winograd_forward(x.astype(np.float32), w.astype(np.float32),
                                       b.astype(np.float32), padding)
    assert out32.dtype == np.float32
    want = conv2d_naive(x, w, b, 1, padding)
    assert rel_error(out32, want) < 2e-6


# F(4x4, 3x3) in float32, max-norm relative error vs float64 on standard normal x, w, b:
# measured 5.7e-6 (C = 32) and 7.0e-6 (C = 128) with these seeds (F(2x2, 3x3): 2.7e-7, 4.2e-7;
# im2col: 5.7e-7, 5.3e-7); the bounds are 3x that
M4_FLOAT32_BOUND = {32: 1.7e-5, 128: 2.1e-5}


@pytest.mark.parametrize("C", sorted(M4_FLOAT32_BOUND))
@pytest.mark.parametrize("padding", PADDINGS)
def test_forward_m4_float32_accuracy(C, padding):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((1, C, 40, 36)), rng.standard_normal((32, C, 3, 3)), \
        rng.standard_normal(32)
    out32, _ = conv2d_winograd_forward(x.astype(np.float32), w.astype(np.float32),
                                       b.astype(np.float32), padding, m=4)
    assert out32.dtype == np.float32
    err = rel_error(out32, conv2d_naive(x, w, b, 1, padding))
    assert err < M4_FLOAT32_BOUND[C], err


@pytest.mark.parametrize("m", TILE_SIZES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_im2col_backward(shape, padding, m):
    if padding == "reflect" and min(shape[2:]) < 2:
        pytest.skip("reflect padding needs at least 2 pixels")
    rng = np.random.default_rng(3)
    x, w, b = case(rng, shape)
    out, cache = conv2d_winograd_forward(x, w, b, padding, m=m)
    out2, cache2 = conv2d_forward(x, w, b, 1, padding)
    g = rng.standard_normal(out.shape)
    for got, want in zip(conv2d_winograd_backward(g, cache), conv2d_backward(g, cache2),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=FORWARD_TOL[m], atol=FORWARD_TOL[m])


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 17, 13), (1, 2, 9, 12)])
def test_m4_backward_equals_m2_backward(shape, padding):
    """The two tile sizes compute the same gradients (up to rounding)."""
    rng = np.random.default_rng(13)
    x, w, b = case(rng, shape)
    out2, c2 = conv2d_winograd_forward(x, w, b, padding, m=2)
    out4, c4 = conv2d_winograd_forward(x, w, b, padding, m=4)
    assert c2.m == 2 and c4.m == 4 and c4.U.shape == (36, 4, shape[1])
    np.testing.assert_allclose(out4, out2, rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(out2.shape)
    for got, want in zip(conv2d_winograd_backward(g, c4), conv2d_winograd_backward(g, c2),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("m", TILE_SIZES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", [(2, 2, 5, 4), (1, 2, 9, 6)])
def test_gradcheck_finite_differences(shape, padding, m, record_error):
    rng = np.random.default_rng(4)
    x, w, b = case(rng, shape, F=3)
    out, cache = conv2d_winograd_forward(x, w, b, padding, m=m)
    g = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_winograd_backward(g, cache)

    def f():
        return conv2d_winograd_forward(x, w, b, padding, m=m)[0]

    errors = {"x": rel_error(dx, numerical_grad(f, x, g)),
              "w": rel_error(dw, numerical_grad(f, w, g)),
              "b": rel_error(db, numerical_grad(f, b, g))}
    assert record_error(KIND[m], errors) < 1e-7, errors


@pytest.mark.parametrize("m", TILE_SIZES)
def test_kept_tiles_give_the_same_gradients_and_are_checked(m):
    rng = np.random.default_rng(5)
    x, w, b = case(rng, (2, 3, 6, 5))
    a = (m + 2) ** 2
    tiles = np.empty((2, a, 3, num_tiles(6, 5, m)))
    out1, c1 = conv2d_winograd_forward(x, w, b, "reflect", tiles, m=m)
    out2, c2 = conv2d_winograd_forward(x, w, b, "reflect", m=m)
    np.testing.assert_array_equal(out1, out2)
    g = rng.standard_normal(out1.shape)
    for a1, a2 in zip(conv2d_winograd_backward(g, c1), conv2d_winograd_backward(g, c2),
                      strict=True):
        np.testing.assert_array_equal(a1, a2)
    with pytest.raises(ValueError, match="tiles has shape"):
        conv2d_winograd_forward(x, w, b, "reflect", np.empty((1, a, 3, 9)), m=m)
    other = 36 if m == 2 else 16  # the other tile size's buffer
    with pytest.raises(ValueError, match="tiles has shape"):
        conv2d_winograd_forward(x, w, b, "reflect", np.empty((2, other, 3, num_tiles(6, 5, m))),
                                m=m)
    with pytest.raises(ValueError, match="3x3 kernel"):
        conv2d_winograd_forward(x, rng.standard_normal((4, 3, 5, 5)), None, m=m)


@pytest.mark.parametrize("m", TILE_SIZES)
def test_float32_end_to_end(m):
    rng = np.random.default_rng(6)
    x, w, b = case(rng, (1, 3, 8, 8), dtype=np.float32)
    out, cache = conv2d_winograd_forward(x, w, b, "zeros", m=m)
    grads = conv2d_winograd_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32 and all(a.dtype == np.float32 for a in grads)


# ----------------------------------------------------------------------------------------------
# the gradient check must catch a wrong backward
# ----------------------------------------------------------------------------------------------
def _planted_input_adjoint(m):
    """The real input-transform adjoint with one of the planes' sign flipped."""
    real = FW.TRANSFORMS[m].input_adjoint

    def adjoint(dV, reflect, dx, ty0=0):
        flipped = dV.copy()
        flipped[5] *= -1
        real(flipped, reflect, dx, ty0)

    return adjoint


def _planted_filters_adjoint(dU):
    """G^T dU G with the wrong sign in one entry of G's third row."""
    a, F, C = dU.shape
    G = FW.TRANSFORMS[2 if a == 16 else 4].G.copy()
    G[2, 1] *= -1
    return (dU.reshape(a, F * C).T @ np.kron(G, G)).reshape(F, C, 3, 3)


@pytest.mark.parametrize("m", TILE_SIZES)
@pytest.mark.parametrize("which", ["input_adjoint", "filters_adjoint"])
def test_gradcheck_catches_planted_bugs(which, m, monkeypatch):
    rng = np.random.default_rng(7)
    x, w, b = case(rng, (1, 2, 4, 4), F=2)
    if which == "input_adjoint":
        monkeypatch.setitem(FW.TRANSFORMS, m,
                            FW.TRANSFORMS[m]._replace(input_adjoint=_planted_input_adjoint(m)))
    else:
        monkeypatch.setattr(FW, "winograd_filters_adjoint", _planted_filters_adjoint)
    out, cache = conv2d_winograd_forward(x, w, b, "zeros", m=m)
    g = rng.standard_normal(out.shape)
    dx, dw, _ = conv2d_winograd_backward(g, cache)

    def f():
        return conv2d_winograd_forward(x, w, b, "zeros", m=m)[0]

    err = rel_error(dx, numerical_grad(f, x, g)) if which == "input_adjoint" else \
        rel_error(dw, numerical_grad(f, w, g))
    assert err > 1e-3


@pytest.mark.parametrize("m", TILE_SIZES)
def test_noncontiguous_input_and_gradient_same_as_contiguous(m):
    rng = np.random.default_rng(8)
    base = rng.standard_normal((2, 6, 5, 3))
    x_nc = base.transpose(0, 3, 1, 2)[:, :, :, ::-1]  # (2, 3, 6, 5), not C-contiguous
    x_c = np.ascontiguousarray(x_nc)
    w = rng.standard_normal((4, 3, 3, 3))
    o1, c1 = conv2d_winograd_forward(x_nc, w, None, "reflect", m=m)
    o2, c2 = conv2d_winograd_forward(x_c, w, None, "reflect", m=m)
    np.testing.assert_array_equal(o1, o2)
    g = rng.standard_normal((2, 5, 6, 4)).transpose(0, 3, 1, 2)  # (2, 4, 6, 5), strided
    for a, c in zip(conv2d_winograd_backward(g, c1),
                    conv2d_winograd_backward(np.ascontiguousarray(g), c2), strict=True):
        if a is not None:
            np.testing.assert_allclose(a, c, rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------------------------
# bands: large images run through a small scratch buffer, band of tile rows by band
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("m", TILE_SIZES)
def test_bands_cover_the_tile_rows_within_the_byte_budget(m):
    for H, W, ch in [(512, 512, 132), (128, 128, 128), (9, 7, 3), (2, 3, 500000)]:
        th, tw = -(-H // m), -(-W // m)
        got = FW.bands(H, W, ch, 4, m)
        assert [ty0 for ty0, _ in got] == list(np.cumsum([0] + [r for _, r in got[:-1]]))
        assert sum(r for _, r in got) == th and all(r >= 1 for _, r in got)
        rows = got[0][1]
        assert rows == 1 or (m + 2) ** 2 * ch * rows * tw * 4 <= FW.BAND_BYTES
        assert rows == 1 or rows * tw <= FW.BAND_TILES
    assert len(FW.bands(512, 512, 132, 4, m)) > 1 and len(FW.bands(32, 32, 128, 4, m)) == 1
    # narrow layers: the tile cap (512 tiles: 2 bands at 128x128 with m = 4), wide: the bytes
    assert FW.bands(128, 128, 36, 4, 4) == [(0, 16), (16, 16)]
    assert FW.bands(256, 256, 132, 4, 4)[0][1] * 64 * 36 * 132 * 4 <= FW.BAND_BYTES


@pytest.fixture
def one_row_bands(monkeypatch):
    """Every convolution runs one tile row at a time (the smallest band)."""
    monkeypatch.setattr(FW, "BAND_BYTES", 1)


@pytest.mark.parametrize("m", TILE_SIZES)
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 7, 5), (1, 2, 17, 13)])
def test_banded_pass_equals_whole_pass(shape, padding, m, monkeypatch):
    rng = np.random.default_rng(9)
    x, w, b = case(rng, shape)
    out, cache = conv2d_winograd_forward(x, w, b, padding, m=m)
    g = rng.standard_normal(out.shape)
    grads = conv2d_winograd_backward(g, cache)
    monkeypatch.setattr(FW, "BAND_BYTES", 1)
    assert len(FW.bands(*shape[2:], 4, 8, m)) == -(-shape[2] // m)
    for tiles in (None, np.empty((shape[0], (m + 2) ** 2, shape[1], num_tiles(*shape[2:], m)))):
        out_b, cache_b = conv2d_winograd_forward(x, w, b, padding, tiles, m=m)
        np.testing.assert_allclose(out_b, out, rtol=1e-13, atol=1e-13)
        for got, want in zip(conv2d_winograd_backward(g, cache_b), grads, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("m", TILE_SIZES)
@pytest.mark.parametrize("padding", PADDINGS)
def test_banded_gradcheck(padding, m, one_row_bands, record_error):
    rng = np.random.default_rng(10)
    x, w, b = case(rng, (1, 2, 7, 6) if m == 2 else (1, 2, 10, 6), F=3)
    out, cache = conv2d_winograd_forward(x, w, b, padding, m=m)
    g = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_winograd_backward(g, cache)

    def f():
        return conv2d_winograd_forward(x, w, b, padding, m=m)[0]

    errors = {"x": rel_error(dx, numerical_grad(f, x, g)),
              "w": rel_error(dw, numerical_grad(f, w, g))}
    assert record_error(KIND[m][:-1] + ", banded)", errors) < 1e-7, errors


@pytest.mark.parametrize("m", TILE_SIZES)
def test_banded_gradcheck_catches_a_band_offset_bug(m, one_row_bands, monkeypatch):
    """An input adjoint that scatters every band to the top of the image (ty0 ignored)."""
    real = FW.TRANSFORMS[m].input_adjoint
    monkeypatch.setitem(FW.TRANSFORMS, m, FW.TRANSFORMS[m]._replace(
        input_adjoint=lambda dV, reflect, dx, ty0=0: real(dV, reflect, dx, 0)))
    rng = np.random.default_rng(11)
    x, w, b = case(rng, (1, 2, 6, 6) if m == 2 else (1, 2, 10, 6), F=2)
    out, cache = conv2d_winograd_forward(x, w, b, "reflect", m=m)
    g = rng.standard_normal(out.shape)
    dx = conv2d_winograd_backward(g, cache)[0]
    err = rel_error(dx, numerical_grad(
        lambda: conv2d_winograd_forward(x, w, b, "reflect", m=m)[0], x, g))
    assert err > 1e-3
