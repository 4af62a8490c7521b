"""Tests for tinydip.degrade: noise, masks, the Downsampler operator and the bicubic baseline."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFont

from tinydip import degrade
from tinydip.degrade import (
    add_noise,
    apply_mask,
    bicubic_upsample,
    hole_mask,
    text_mask,
)
from tinydip.io.images import sample_image, to_image, to_tensor
from tinydip.metrics import psnr
from tinydip.operators import Downsampler


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- noise
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_add_noise_std_dtype_clip(dtype):
    img = np.full((64, 64, 3), 0.5, dtype=dtype)
    noisy = add_noise(img, 25, rng())
    assert noisy.dtype == dtype and noisy.shape == img.shape
    assert abs((noisy - img).std() - 25 / 255) < 0.003  # ~3% (12k samples; 4 sigma clip rare)
    assert abs((noisy - img).mean()) < 0.003
    bright = add_noise(np.full((32, 32), 0.99, dtype=dtype), 50, rng())
    assert bright.max() <= 1.0 and bright.min() >= 0.0 and (bright == 1.0).mean() > 0.3


def test_add_noise_deterministic_and_dtype_independent():
    img = sample_image(16)
    a = add_noise(img, 25, rng(5))
    np.testing.assert_array_equal(a, add_noise(img, 25, rng(5)))
    assert not np.array_equal(a, add_noise(img, 25, rng(6)))
    b = add_noise(img.astype(np.float64), 25, rng(5))
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_array_equal(add_noise(img, 0, rng()), img)


def test_add_noise_bad_input():
    with pytest.raises(ValueError):
        add_noise(np.zeros((4, 4)), -1, rng())
    with pytest.raises(ValueError):
        add_noise(np.zeros((4, 4)), float("nan"), rng())
    with pytest.raises(ValueError):
        add_noise(np.zeros((4, 4), np.uint8), 25, rng())
    with pytest.raises(TypeError):
        add_noise(np.zeros((4, 4)), 25, 0)


# ---------------------------------------------------------------- hole mask
@pytest.mark.parametrize(("h", "w", "frac"), [(64, 64, 0.25), (40, 100, 0.3), (7, 9, 0.5)])
def test_hole_mask_is_one_rectangle_of_right_size(h, w, frac):
    for seed in range(20):
        m = hole_mask(h, w, frac, rng(seed))
        assert m.shape == (h, w) and m.dtype == bool
        rows, cols = np.nonzero(~m)
        hh, hw = round(frac * h), round(frac * w)
        assert rows.max() - rows.min() + 1 == hh and cols.max() - cols.min() + 1 == hw
        assert (~m).sum() == hh * hw  # a filled rectangle fully inside the image


def test_hole_mask_random_position_deterministic():
    np.testing.assert_array_equal(hole_mask(64, 64, 0.25, rng(1)), hole_mask(64, 64, 0.25, rng(1)))
    corners = {tuple(np.argwhere(~hole_mask(64, 64, 0.25, rng(s)))[0]) for s in range(30)}
    assert len(corners) > 20
    rows = [r for r, _ in corners]
    assert min(rows) >= 0 and max(rows) <= 64 - 16


def test_hole_mask_edge_cases():
    assert hole_mask(10, 10, 0.0, rng()).all()
    assert (~hole_mask(10, 10, 0.01, rng())).sum() == 1  # at least one pixel
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError):
            hole_mask(10, 10, bad, rng())
    with pytest.raises(ValueError):
        hole_mask(0, 10, 0.2, rng())


# ---------------------------------------------------------------- text mask
def test_text_mask_fraction_and_determinism():
    fracs = []
    for seed in range(5):
        m = text_mask(128, 128, rng(seed))
        assert m.shape == (128, 128) and m.dtype == bool
        fracs.append(1 - m.mean())
    assert all(0.10 <= f <= 0.20 for f in fracs), fracs
    np.testing.assert_array_equal(text_mask(128, 128, rng(3)), text_mask(128, 128, rng(3)))
    assert (text_mask(128, 128, rng(3)) != text_mask(128, 128, rng(4))).mean() > 0.05


def test_text_mask_spreads_over_image():
    m = text_mask(128, 128, rng(0))
    # every horizontal and vertical quarter contains text
    for q in range(4):
        assert (~m[32 * q:32 * (q + 1)]).mean() > 0.03
        assert (~m[:, 32 * q:32 * (q + 1)]).mean() > 0.03


def test_text_mask_options():
    m = text_mask(96, 160, rng(0), text="Deep Image Prior", font_size=14)
    assert m.shape == (96, 160) and 0.05 < 1 - m.mean() < 0.3
    small = 1 - text_mask(256, 256, rng(0), font_size=10).mean()
    assert 0.05 < small < 0.3
    with pytest.raises(ValueError):
        text_mask(32, 32, rng(), text="   ")
    with pytest.raises(ValueError):
        text_mask(32, 32, rng(), font_size=0)
    with pytest.raises(TypeError):
        text_mask(32, 32, None)


def test_text_mask_bitmap_font_fallback(monkeypatch):
    real = ImageFont.load_default

    def old_pillow(size=None):
        if size is not None:
            raise TypeError("load_default() got an unexpected keyword argument 'size'")
        return ImageFont.load_default_imagefont() if hasattr(
            ImageFont, "load_default_imagefont") else real()

    monkeypatch.setattr(degrade.masks.ImageFont, "load_default", old_pillow)
    m = text_mask(128, 128, rng(0))
    assert m.shape == (128, 128)
    assert 0.10 < 1 - m.mean() < 0.25
    np.testing.assert_array_equal(m, text_mask(128, 128, rng(0)))
    big = text_mask(128, 128, rng(0), font_size=32)  # bitmap font drawn small, upscaled x3
    assert 0.10 < 1 - big.mean() < 0.25


# ---------------------------------------------------------------- apply mask
def test_apply_mask():
    img = np.random.default_rng(0).random((6, 5, 3)).astype(np.float32)
    m = np.ones((6, 5), bool)
    m[2:4, 1:3] = False
    out = apply_mask(img, m)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert (out[2:4, 1:3] == 0).all()
    np.testing.assert_array_equal(out[m], img[m])
    np.testing.assert_array_equal(apply_mask(img, m.astype(np.uint8), fill=0.5)[2, 1], [0.5] * 3)
    np.testing.assert_array_equal(apply_mask(img[:, :, 0], m)[m], img[:, :, 0][m])
    with pytest.raises(ValueError):
        apply_mask(img, m[:5])
    with pytest.raises(ValueError):
        apply_mask(img, m.astype(int) * 2)
    with pytest.raises(ValueError):
        apply_mask(img, m[None])


# ---------------------------------------------------------------- Downsampler
def _dip_kernel_2d(f: int, kind: str) -> np.ndarray:
    """Independent loop version of DIP's get_kernel (phase 0.5, kernel_width 4f + 1)."""
    width = 4 * f + 1
    center = (width + 1) / 2.0
    k = np.zeros((width - 1, width - 1))

    def phi(d):
        if kind == "lanczos2":
            if d == 0:
                return 1.0
            return 2 * np.sin(np.pi * d) * np.sin(np.pi * d / 2) / (np.pi * d) ** 2
        a, d = -0.5, abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a if d < 2 else 0.0

    for i in range(1, width):
        for j in range(1, width):
            k[i - 1, j - 1] = phi(abs(i + 0.5 - center) / f) * phi(abs(j + 0.5 - center) / f)
    return k / k.sum()


def _slow_downsample(x: np.ndarray, f: int, kind: str) -> np.ndarray:
    """Replicate-pad by 3f/2, correlate with the 2-D kernel, stride f: explicit loops."""
    k = _dip_kernel_2d(f, kind)
    pad = (k.shape[0] - f) // 2
    n, c, h, w = x.shape
    out = np.zeros((n, c, h // f, w // f))
    for b in range(n):
        for ch in range(c):
            xp = np.pad(x[b, ch], pad, mode="edge")
            for i in range(h // f):
                for j in range(w // f):
                    out[b, ch, i, j] = np.sum(k * xp[i * f:i * f + 4 * f, j * f:j * f + 4 * f])
    return out


@pytest.mark.parametrize("kind", ["lanczos2", "bicubic"])
@pytest.mark.parametrize(("f", "h", "w"), [(2, 8, 12), (4, 16, 12), (8, 16, 24), (8, 8, 8)])
def test_downsampler_matches_slow_reference(kind, f, h, w):
    x = rng(f).random((2, 3, h, w))
    y = Downsampler(f, kind)(x)
    assert y.shape == (2, 3, h // f, w // f)
    np.testing.assert_allclose(y, _slow_downsample(x, f, kind), rtol=0, atol=1e-13)


@pytest.mark.parametrize("kind", ["lanczos2", "bicubic"])
@pytest.mark.parametrize("f", [2, 4, 8])
def test_downsampler_adjoint_identity(kind, f):
    ds = Downsampler(f, kind)
    x = rng(1).standard_normal((2, 3, 5 * f, 3 * f))
    dy = rng(2).standard_normal((2, 3, 5, 3))
    lhs = np.sum(ds(x) * dy)
    rhs = np.sum(x * ds.adjoint(dy))
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), np.abs(ds(x) * dy).sum())
    assert ds.adjoint(dy).shape == x.shape


def test_downsampler_gradient_check():
    ds = Downsampler(2)
    x = rng(3).standard_normal((1, 2, 6, 4))
    dout = rng(4).standard_normal((1, 2, 3, 2))
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (np.sum(dout * ds(xp)) - np.sum(dout * ds(xm))) / (2 * eps)
    ana = ds.backward(dout)
    assert np.abs(num - ana).max() / np.abs(ana).max() < 1e-8


@pytest.mark.parametrize("kind", ["lanczos2", "bicubic"])
@pytest.mark.parametrize("f", [2, 4, 8])
def test_downsampler_constant_and_antialias(kind, f):
    ds = Downsampler(f, kind)
    np.testing.assert_allclose(ds.matrix(4 * f).sum(axis=1), 1.0, atol=1e-14)
    const = np.full((1, 1, 4 * f, 2 * f), 0.3, np.float32)
    np.testing.assert_allclose(ds(const), 0.3, atol=1e-6)
    # a Nyquist checkerboard is removed (plain striding would keep amplitude 1)
    checker = (-1.0) ** np.add.outer(np.arange(8 * f), np.arange(8 * f))[None, None]
    assert np.abs(ds(checker)[..., 2:-2, 2:-2]).max() < 1e-12
    taps = ds.taps()
    assert taps.shape == (4 * f,) and np.allclose(taps, taps[::-1])


def test_downsampler_lanczos_taps_values():
    # f = 2: t = +-0.25, +-0.75, etc.; phi(t) = sinc(t) sinc(t / 2)
    taps = Downsampler(2).taps()
    t = np.array([-1.75, -1.25, -0.75, -0.25])
    phi = np.sinc(t) * np.sinc(t / 2)
    np.testing.assert_allclose(taps[:4], phi / (2 * phi.sum()), rtol=1e-14)


def test_downsampler_dtype_and_image_content():
    img = sample_image(64)
    y = Downsampler(4)(to_tensor(img))
    assert y.dtype == np.float32 and y.shape == (1, 3, 16, 16)
    assert Downsampler(4).adjoint(y).dtype == np.float32
    # same alignment as Pillow's (Lanczos-3) antialiased reduction: close, not identical
    lr = to_image(y)
    pil = np.stack([np.asarray(Image.fromarray(img[:, :, c]).resize((16, 16), Image.LANCZOS))
                    for c in range(3)], axis=-1)
    assert 33.0 < psnr(lr, pil) < 60.0
    assert psnr(lr[:, 1:], pil[:, :-1]) < 25.0  # a one-pixel shift is clearly worse
    assert psnr(bicubic_upsample(lr, 4), img) > 16.0


@pytest.mark.parametrize("bad", [1, 3, 16, 0, True, "2"])
def test_downsampler_bad_factor(bad):
    with pytest.raises(ValueError, match="factor"):
        Downsampler(bad)


def test_downsampler_bad_input():
    with pytest.raises(ValueError, match="kernel"):
        Downsampler(2, "box")
    ds = Downsampler(4)
    with pytest.raises(ValueError, match="divisible"):
        ds(np.zeros((1, 1, 16, 18)))
    with pytest.raises(ValueError, match="NCHW"):
        ds(np.zeros((16, 16)))
    with pytest.raises(ValueError, match="float"):
        ds(np.zeros((1, 1, 16, 16), np.int64))
    with pytest.raises(ValueError, match="NCHW"):
        ds.adjoint(np.zeros((4, 4)))


# ---------------------------------------------------------------- bicubic baseline
def test_bicubic_upsample_shapes_and_constant():
    lr = np.full((5, 7, 3), 0.4, np.float64)
    up = bicubic_upsample(lr, 4)
    assert up.shape == (20, 28, 3) and up.dtype == np.float32
    np.testing.assert_allclose(up, 0.4, atol=1e-6)
    assert bicubic_upsample(lr[:, :, 0], 2).shape == (10, 14)


def test_bicubic_upsample_reproduces_linear_ramp():
    f = 4
    lr = np.tile(0.1 + 0.05 * np.arange(12.0), (6, 1))  # x-ramp, values in [0.1, 0.65]
    up = bicubic_upsample(lr, f)
    pos = (np.arange(12 * f) + 0.5) / f - 0.5  # output centres in input coordinates
    interior = (pos > 2) & (pos < 9)
    np.testing.assert_allclose(up[3, interior], 0.1 + 0.05 * pos[interior], atol=1e-5)


def test_bicubic_upsample_clips_and_validates():
    lr = np.zeros((6, 6))
    lr[::2, ::2] = 1.0
    up = bicubic_upsample(lr, 2)
    assert up.min() >= 0.0 and up.max() <= 1.0
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError):
            bicubic_upsample(lr, bad)
    with pytest.raises(ValueError):
        bicubic_upsample(np.zeros((1, 3, 4, 4)), 2)


# ---------------------------------------------------------------------------- smooth fills
def test_harmonic_fill_solves_laplace_on_the_unknown_pixels():
    from tinydip.degrade.fill import _grid_laplacian, harmonic_fill

    rng = np.random.default_rng(0)
    img = rng.random((9, 11, 2)).astype(np.float32)
    known = rng.random((9, 11)) > 0.6
    out = harmonic_fill(img, known)
    assert out.shape == img.shape and out.dtype == np.float32
    assert np.array_equal(out[known], img[known])  # known pixels kept exactly
    lap = _grid_laplacian(9, 11)
    residual = (lap @ out.reshape(-1, 2).astype(np.float64))[~known.ravel()]
    assert np.abs(residual).max() < 1e-5  # discrete Laplace equation holds where unknown
    # a linear ramp is harmonic in the interior: a hole in its middle is filled exactly
    ramp = np.tile(np.linspace(0, 1, 12, dtype=np.float32), (12, 1))
    hole = np.ones((12, 12), bool)
    hole[4:8, 4:8] = False
    np.testing.assert_allclose(harmonic_fill(ramp, hole), ramp, atol=1e-6)


def test_biharmonic_fill_keeps_gradients_and_beats_harmonic_on_random_pixels():
    from tinydip.degrade import biharmonic_fill, harmonic_fill, smooth_fill
    from tinydip.io.images import sample_image
    from tinydip.metrics import psnr

    img = sample_image(64)
    known = np.random.default_rng(0).random((64, 64)) >= 0.5
    b, h = biharmonic_fill(img, known), harmonic_fill(img, known)
    assert psnr(b, img) > psnr(h, img) > 20  # measured 24.2 vs 22.6 dB
    with pytest.raises(ValueError, match="no known pixel"):
        smooth_fill(img, np.zeros((64, 64), bool))
    with pytest.raises(ValueError, match="order"):
        smooth_fill(img, known, 3)
    with pytest.raises(ValueError, match="does not match"):
        smooth_fill(img, known[:10])


# ---------------------------------------------------------------------------- shot noise
def test_add_poisson_noise_has_poisson_statistics():
    from tinydip.degrade import add_poisson_noise, parse_noise

    img = np.full((200, 200), 0.5, np.float32)
    noisy = add_poisson_noise(img, 30, np.random.default_rng(0))
    assert noisy.dtype == np.float32 and noisy.shape == img.shape
    counts = noisy * 30
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-4)  # whole photon counts
    assert abs(noisy.mean() - 0.5) < 0.01 and abs(noisy.var() - 0.5 / 30) < 0.002
    assert np.array_equal(noisy, add_poisson_noise(img, 30, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="peak"):
        add_poisson_noise(img, 0, np.random.default_rng(0))
    assert parse_noise("poisson:30") == ("poisson", 30.0)
    assert parse_noise("Gaussian:25") == ("gaussian", 25.0)
    for bad, msg in (("laplace:3", "unknown noise"), ("poisson:x", "not a number"),
                     ("poisson:0", "PEAK"), ("poisson", "unknown noise")):
        with pytest.raises(ValueError, match=msg):
            parse_noise(bad)
