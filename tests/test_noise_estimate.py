"""tinydip.denoising.noise_estimate: the wavelet MAD noise level against known sigmas.

Tolerances (measured, stated in the README): 5% on a smooth image with unclipped noise;
15% of the noise actually present (after clipping to [0, 1]) on the built-in photo at
sigma 15 / 25 / 50 (0-255 scale; measured +12..+15% at 15 -- the photo's own fine detail
in the finest band --, +4..+6% at 25, -2..-4% at 50). At sigma 5 and below the detail
dominates and the estimate is high (6.9 for 5).
"""

from __future__ import annotations

import numpy as np
import pytest

from tinydip.degrade import add_noise
from tinydip.denoising.noise_estimate import estimate_sigma, haar_diagonal
from tinydip.io.images import sample_image


def smooth_image(size=128):
    yy, xx = np.mgrid[0:size, 0:size] / size
    return np.stack([0.5 + 0.2 * np.sin(3 * xx + 2 * yy), 0.4 + 0.3 * xx * yy,
                     0.5 + 0.1 * np.cos(5 * yy)], axis=-1)


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.2])
def test_smooth_image_unclipped_noise_within_5_percent(sigma):
    rng = np.random.default_rng(0)
    noisy = smooth_image() + sigma * rng.standard_normal((128, 128, 3))
    assert estimate_sigma(noisy) == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("sigma", [15, 25, 50])
def test_photo_within_15_percent_of_the_noise_present(sigma):
    clean = sample_image(128)
    noisy = add_noise(clean, sigma, np.random.default_rng(1))
    present = float(np.std(noisy - clean))  # clipping to [0, 1] removes some noise
    assert estimate_sigma(noisy) == pytest.approx(present, rel=0.15)


def test_haar_band_is_orthonormal_and_ignores_planes():
    x = np.random.default_rng(2).standard_normal((6, 8))
    d = haar_diagonal(x)
    assert d.shape == (3, 4)
    assert d[1, 2] == pytest.approx(0.5 * (x[2, 4] - x[2, 5] - x[3, 4] + x[3, 5]))
    yy, xx = np.mgrid[0:9, 0:7]
    assert np.allclose(haar_diagonal(0.3 * yy + 0.1 * xx + 2.0), 0.0)  # odd sizes: cropped


def test_per_channel_and_gray():
    rng = np.random.default_rng(3)
    noisy = smooth_image() + np.array([0.05, 0.1, 0.2]) * rng.standard_normal((128, 128, 3))
    per = estimate_sigma(noisy, per_channel=True)
    assert per.shape == (3,)
    assert per == pytest.approx([0.05, 0.1, 0.2], rel=0.05)
    assert estimate_sigma(noisy[:, :, 1]) == pytest.approx(0.1, rel=0.05)


def test_noise_free_image_gives_a_small_estimate():
    assert estimate_sigma(smooth_image()) < 1e-3


@pytest.mark.parametrize("bad", [np.zeros((1, 5)), np.zeros((4, 4, 3, 2)),
                                 np.full((4, 4), np.nan)])
def test_bad_input(bad):
    with pytest.raises(ValueError, match="estimate_sigma"):
        estimate_sigma(bad)
