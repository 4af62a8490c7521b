"""tinydip.denoising.sure: SURE against the true MSE, the Monte-Carlo divergence against the exact
trace of a linear smoother (circular Gaussian filter: every diagonal entry is the kernel's
centre weight), and the paired-fit form."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from tinydip.denoising.sure import PairedSure, mc_divergence, sure

SIGMA = 0.1


def smoother(y, s=1.0):
    return gaussian_filter(y, sigma=(s, s, 0), mode="wrap")


def exact_divergence(shape, s=1.0):
    delta = np.zeros(shape)
    delta[shape[0] // 2, shape[1] // 2, 0] = 1.0
    return smoother(delta, s)[shape[0] // 2, shape[1] // 2, 0] * np.prod(shape)


@pytest.fixture(scope="module")
def data():
    yy, xx = np.mgrid[0:64, 0:64] / 64
    clean = np.stack([0.5 + 0.3 * np.sin(6 * xx), 0.5 + 0.2 * np.cos(4 * yy), 0.3 + 0.4 * xx * yy],
                     axis=-1)
    noisy = clean + SIGMA * np.random.default_rng(0).standard_normal(clean.shape)
    return clean, noisy


def test_mc_divergence_of_a_linear_smoother(data):
    _, noisy = data
    exact = exact_divergence(noisy.shape)
    est = mc_divergence(smoother, noisy, 1e-3, np.random.default_rng(1), probes=4)
    assert est == pytest.approx(exact, rel=0.05)


@pytest.mark.parametrize("s", [0.7, 1.5, 3.0])
def test_sure_is_unbiased(data, s):
    """Mean over 64 noise draws (one draw's SURE - MSE has std ~ sigma^2 sqrt(2 / n), ~13%
    of the MSE here, so ~1.6% for the mean): within 5%, with the exact divergence and with
    the one-probe Monte-Carlo one; SURE without its divergence term (a planted bug) is not."""
    clean, _ = data
    rng = np.random.default_rng(2)
    exact = exact_divergence(clean.shape, s)
    true, est, mc, planted = [], [], [], []
    for _ in range(64):
        noisy = clean + SIGMA * rng.standard_normal(clean.shape)
        f = smoother(noisy, s)
        div = mc_divergence(lambda y: smoother(y, s), noisy, 1e-3, rng, fy=f)
        true.append(np.mean((f - clean) ** 2))
        est.append(sure(noisy, f, exact, SIGMA))
        mc.append(sure(noisy, f, div, SIGMA))
        planted.append(sure(noisy, f, 0.0, SIGMA))
    assert np.mean(est) == pytest.approx(np.mean(true), rel=0.05)
    assert np.mean(mc) == pytest.approx(np.mean(true), rel=0.05)
    assert abs(np.mean(planted) - np.mean(true)) > 0.25 * np.mean(true)  # >= 15 std


def test_sure_picks_the_best_smoothing(data):
    clean, noisy = data
    widths = [0.5, 1.0, 2.0, 4.0, 8.0]
    true = [np.mean((smoother(noisy, s) - clean) ** 2) for s in widths]
    est = [sure(noisy, smoother(noisy, s), exact_divergence(noisy.shape, s), SIGMA)
           for s in widths]
    assert int(np.argmin(est)) == int(np.argmin(true))


def test_paired_sure_is_the_one_probe_estimate(data):
    clean, noisy = data
    paired = PairedSure(noisy, SIGMA, 1e-3, np.random.default_rng(3))
    f, f_probe = smoother(noisy), smoother(paired.probe)
    div = mc_divergence(smoother, noisy, 1e-3, np.random.default_rng(3), fy=f)
    assert paired.divergence(f, f_probe) == pytest.approx(div, rel=1e-6)
    assert paired.value(f, f_probe) == pytest.approx(sure(noisy, f, div, SIGMA), rel=1e-6)


def test_bad_arguments(data):
    _, noisy = data
    with pytest.raises(ValueError, match="shape"):
        sure(noisy, noisy[:2], 0.0, SIGMA)
    with pytest.raises(ValueError, match="sigma"):
        sure(noisy, noisy, 0.0, -1.0)
    with pytest.raises(ValueError, match="eps"):
        mc_divergence(smoother, noisy, 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="eps"):
        PairedSure(noisy, SIGMA, 0.0, np.random.default_rng(0))
