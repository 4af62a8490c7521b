"""Tests for tinydip.metrics: PSNR against its formula, SSIM against an explicit-window version."""

from __future__ import annotations

import numpy as np
import pytest

from tinydip.degrade import add_noise
from tinydip.io.images import sample_image
from tinydip.metrics import psnr, ssim


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return sample_image(48)


# ---------------------------------------------------------------- psnr
def test_psnr_known_values():
    ref = np.zeros((4, 5, 3), np.float32)
    assert psnr(ref + 0.1, ref) == pytest.approx(20.0, abs=1e-5)
    assert psnr(ref + 0.01, ref) == pytest.approx(40.0, abs=1e-4)
    assert psnr(ref + 25.5, ref, data_range=255) == pytest.approx(20.0, abs=1e-9)
    assert psnr(ref, ref) == float("inf")
    assert isinstance(psnr(ref + 0.1, ref), float)


def test_psnr_formula_float64_accumulation(img):
    noisy = add_noise(img, 10, np.random.default_rng(0))
    d = noisy.astype(np.float64) - img.astype(np.float64)
    expected = 10 * np.log10(1.0 / np.mean(d * d))
    assert psnr(noisy, img) == pytest.approx(expected, rel=1e-12)
    assert psnr(noisy, img) == pytest.approx(psnr(img, noisy), rel=1e-12)
    # tiny differences survive: float32 accumulation of squares would lose them
    a = np.full((256, 256), 0.5, np.float32)
    b = a.copy()
    b[0, 0] += np.float32(2**-20)
    assert psnr(b, a) == pytest.approx(10 * np.log10(256 * 256 / 2.0**-40), rel=1e-9)


def test_psnr_bad_input():
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError):
        psnr(np.full((4, 4), np.nan), np.zeros((4, 4)))
    with pytest.raises(ValueError):
        psnr(np.zeros((4, 4)), np.zeros((4, 4)), data_range=0)


# ---------------------------------------------------------------- ssim
def _ssim_center_pixel(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of an 11x11 gray patch at its centre, with an explicit normalised Gaussian window."""
    r = np.arange(-5, 6)
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * 1.5**2))
    g /= g.sum()
    mx, my = np.sum(g * x), np.sum(g * y)
    sxx = np.sum(g * (x - mx) ** 2)
    syy = np.sum(g * (y - my) ** 2)
    sxy = np.sum(g * (x - mx) * (y - my))
    c1, c2 = 0.01**2, 0.03**2
    return (2 * mx * my + c1) * (2 * sxy + c2) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))


def test_ssim_matches_explicit_window():
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.random((11, 11))
        y = np.clip(x + 0.2 * rng.standard_normal((11, 11)), 0, 1)
        # an 11x11 image keeps only its centre pixel after the 5-pixel border crop
        assert ssim(x, y) == pytest.approx(_ssim_center_pixel(x, y), rel=1e-10)


def test_ssim_identity_symmetry_and_noise_monotone(img):
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(2)
    vals = [ssim(add_noise(img, s, rng), img) for s in (5, 15, 30, 60)]
    assert all(a > b for a, b in zip(vals, vals[1:], strict=False)), vals
    assert 0.0 < vals[-1] < 0.6 and vals[0] > 0.8
    noisy = add_noise(img, 20, rng)
    assert ssim(noisy, img) == pytest.approx(ssim(img, noisy), rel=1e-12)


def test_ssim_channels_and_gray(img):
    noisy = add_noise(img, 20, np.random.default_rng(3))
    per = [ssim(noisy[:, :, c], img[:, :, c]) for c in range(3)]
    assert ssim(noisy, img) == pytest.approx(np.mean(per), rel=1e-12)
    assert ssim(noisy[:, :, :1], img[:, :, :1]) == pytest.approx(per[0], rel=1e-12)
    # float32 and float64 inputs give the same answer (computed in float64)
    assert ssim(noisy, img) == pytest.approx(
        ssim(noisy.astype(np.float64), img.astype(np.float64)), rel=1e-12)


def test_ssim_luminance_shift_and_data_range(img):
    shifted = np.clip(img + 0.2, 0, 1)
    assert ssim(shifted, img) < 0.95
    assert ssim(img * 255, img * 255, data_range=255) == pytest.approx(1.0)
    noisy = add_noise(img, 20, np.random.default_rng(4))
    assert ssim(noisy * 255, img * 255, data_range=255) == pytest.approx(ssim(noisy, img),
                                                                          rel=1e-7)


def test_ssim_bad_input():
    with pytest.raises(ValueError, match="shape"):
        ssim(np.zeros((16, 16)), np.zeros((16, 17)))
    with pytest.raises(ValueError, match="11x11"):
        ssim(np.zeros((10, 16)), np.zeros((10, 16)))
    with pytest.raises(ValueError):
        ssim(np.zeros((1, 3, 16, 16)), np.zeros((1, 3, 16, 16)))
    with pytest.raises(ValueError):
        ssim(np.zeros((16, 16)), np.zeros((16, 16)), data_range=-1)


def test_ssim_matches_scikit_image(img):
    skm = pytest.importorskip("skimage.metrics")
    noisy = add_noise(img, 25, np.random.default_rng(5))
    expected = skm.structural_similarity(noisy, img, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=1.0,
                                         channel_axis=-1)
    assert ssim(noisy, img) == pytest.approx(expected, rel=1e-6)
    # skimage keeps float32 inputs in float32, we accumulate in float64
    assert psnr(noisy, img) == pytest.approx(
        skm.peak_signal_noise_ratio(img, noisy, data_range=1.0), rel=1e-6)
