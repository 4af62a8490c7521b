"""Empirical Wiener filtering guided by a pilot: a second, classical pass after DIP.

A denoiser's output (the *pilot*) is a good estimate of the clean image's local spectrum but
keeps its own errors. :func:`pilot_wiener` uses it only to decide, coefficient by
coefficient of a sliding 8x8 DCT, how much of the NOISY image to keep: the Wiener gain
``p^2 / (p^2 + sigma^2)`` with ``p`` the pilot's coefficient. This is the second step of
BM3D (Dabov et al., 2007) without block matching; as an "empirical Wiener filter" it goes
back to Ghael, Sayeed & Baraniuk (1997). It needs the noise level: the estimate from the
image alone (:func:`~tinydip.denoising.noise_estimate.estimate_sigma`)
is enough. Before the gains are
computed, the pilot's power is calibrated frequency by frequency against the noisy image's
(:func:`pilot_calibration`): a DIP fit is smoother than the image, and uncalibrated gains
would throw away the detail it lacks.

Measured (benchmarks/README.md, "Denoising beyond one fit"): on a DIP fit's output at
sigma 25 the uncalibrated pass adds 0.3-1.2 dB (0.8 on average over four images) in a
fraction of a second at 128x128; the calibration adds 0.07 dB more at 128x128 and 0.11 at
256x256 (0.04-0.10 at sigma 15 and 50).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.fft import dctn, idctn

__all__ = ["pilot_wiener", "pilot_calibration", "OPPONENT", "PATCH", "CALIBRATION_RANGE"]

PATCH = 8  # side of the DCT window (BM3D's)
CALIBRATION_RANGE = (0.25, 4.0)  # bounds of the per-frequency power ratio (pilot_calibration)

# An orthonormal colour transform (luminance, red-blue, green-magenta): white noise of std
# sigma in R, G, B stays white with std sigma in each opponent channel, while most of an
# image's energy moves into the first one.
OPPONENT = np.array([[1.0, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, -2.0, 1.0]])
OPPONENT /= np.linalg.norm(OPPONENT, axis=1, keepdims=True)


def pilot_wiener(noisy: np.ndarray, pilot: np.ndarray, sigma: float, *, patch: int = PATCH,
                 calibrate: bool = True, band_rows: int = 64) -> np.ndarray:
    r"""Wiener-filter ``noisy`` in every ``patch`` x ``patch`` window, with gains from ``pilot``.

    Parameters
    ----------
    noisy : HxWxC float array (C = 1 or 3), the observation: clean + white noise of std sigma.
    pilot : HxWxC float array, an estimate of the clean image (e.g. the DIP output).
    sigma : the noise's standard deviation in the images' units (e.g. 25/255), >= 0.
    patch : window side (at most min(H, W)); every window position is used (stride 1).
    calibrate : rescale the pilot's power frequency by frequency to the noisy image's, less
        the noise (:func:`pilot_calibration`); False: the plain empirical Wiener filter.
    band_rows : window rows transformed at once (bounds the memory: band_rows x W x patch^2
        floats per channel).

    Returns
    -------
    out : HxWxC float32, clipped to [0, 1].

    Notes
    -----
    In each window, with :math:`y_k` and :math:`p_k` the orthonormal 2-D DCT coefficients of
    the noisy and the pilot patch (colour images are first rotated by :data:`OPPONENT`, which
    keeps the noise white),

    .. math::
        \hat x_k = w_k\, y_k, \qquad w_k = \frac{r_k p_k^2}{r_k p_k^2 + \sigma^2},

    the patch estimate is the inverse DCT of :math:`\hat x`, and the overlapping estimates are
    averaged with weights :math:`1 / \sum_k w_k^2` (inversely proportional to each estimate's
    noise variance, as in BM3D). :math:`r_k` is 1 without calibration; with it, the ratio of
    the clean image's mean power at frequency :math:`k` (estimated from the noisy image:
    :math:`\overline{y_k^2} - \sigma^2`) to the pilot's (:func:`pilot_calibration`, per
    channel). A pilot that is smoother than the image (a DIP fit stopped early) has too
    little power at high frequencies, so its gains would discard detail; the ratio, pooled
    over every window of the image, puts it back (and lowers the gains where the pilot
    kept noise). The image is reflect-padded by ``patch - 1`` so every pixel is covered by
    ``patch^2`` windows. With ``sigma = 0`` every gain is 1 and the output is ``noisy``
    (clipped).
    """
    y, q = checked_pair("pilot_wiener", noisy, pilot, sigma, patch)
    H, W, C = y.shape
    if C == 3:
        y, q = y @ OPPONENT.T, q @ OPPONENT.T  # (H, W, 3) in opponent colours
    pad = patch - 1
    widths = ((pad, pad), (pad, pad))
    out = np.empty_like(y)
    for c in range(C):
        ratio = (pilot_calibration(y[:, :, c], q[:, :, c], sigma, patch=patch,
                                   band_rows=band_rows) if calibrate and sigma > 0
                 else np.ones((patch, patch)))  # (p, p)
        yc = np.pad(y[:, :, c], widths, mode="reflect" if pad < min(H, W) else "symmetric")
        qc = np.pad(q[:, :, c], widths, mode="reflect" if pad < min(H, W) else "symmetric")
        out[:, :, c] = _filter_channel(yc, qc, sigma, ratio, band_rows)[pad:pad + H,
                                                                         pad:pad + W]
    if C == 3:
        out = out @ OPPONENT  # back to RGB (OPPONENT is orthogonal)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def checked_pair(who: str, noisy: np.ndarray, pilot: np.ndarray, sigma: float,
                 patch: int) -> tuple[np.ndarray, np.ndarray]:
    """``noisy`` and ``pilot`` as float64 HxWxC arrays after the checks every pilot-guided
    filter needs (C = 1 or 3, equal shapes, 1 <= patch <= min(H, W), finite sigma >= 0);
    a ``ValueError`` naming ``who`` otherwise."""
    y = np.asarray(noisy, dtype=np.float64)
    q = np.asarray(pilot, dtype=np.float64)
    if y.ndim != 3 or y.shape[2] not in (1, 3):
        raise ValueError(f"{who}: need an HxWx1 or HxWx3 image, got {y.shape}")
    if q.shape != y.shape:
        raise ValueError(f"{who}: pilot is {q.shape}, the noisy image {y.shape}")
    if not 1 <= patch <= min(y.shape[:2]):
        raise ValueError(f"{who}: patch {patch} must be between 1 and {min(y.shape[:2])}")
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"{who}: sigma must be finite and >= 0, got {sigma}")
    return y, q


def pilot_calibration(noisy: np.ndarray, pilot: np.ndarray, sigma: float, *,
                      patch: int = PATCH, band_rows: int = 64) -> np.ndarray:
    r"""Per-frequency ratio of the clean image's power to the pilot's, for one channel.

    Parameters
    ----------
    noisy, pilot : (H, W) float arrays, one channel of the observation and of the pilot.
    sigma : the noise's standard deviation (white, additive), > 0.
    patch, band_rows : as in :func:`pilot_wiener`.

    Returns
    -------
    ratio : (patch, patch) float64, :math:`r_k` clipped to :data:`CALIBRATION_RANGE`.

    Notes
    -----
    Over the :math:`N` windows of the channel (every position, no padding),

    .. math::
        r_k = \operatorname{clip}\Big(\frac{\tfrac1N \sum y_k^2 - \sigma^2}
              {\tfrac1N \sum p_k^2},\ \tfrac14,\ 4\Big),

    since :math:`E[y_k^2] = x_k^2 + \sigma^2` for white noise and an orthonormal DCT. Pooled
    over tens of thousands of windows the numerator is precise even where one window's
    :math:`y_k^2 - \sigma^2` is not; the clip bounds what a nearly empty frequency (a flat
    colour channel) can do.
    """
    windows_y = sliding_window_view(noisy, (patch, patch))  # (H-p+1, W-p+1, p, p) view
    windows_q = sliding_window_view(pilot, (patch, patch))
    power_y = np.zeros((patch, patch))
    power_q = np.zeros((patch, patch))
    for r0 in range(0, windows_y.shape[0], band_rows):
        power_y += np.sum(dctn(windows_y[r0:r0 + band_rows], axes=(2, 3), norm="ortho") ** 2,
                          axis=(0, 1))
        power_q += np.sum(dctn(windows_q[r0:r0 + band_rows], axes=(2, 3), norm="ortho") ** 2,
                          axis=(0, 1))
    n = windows_y.shape[0] * windows_y.shape[1]
    ratio = (power_y / n - float(sigma) ** 2) / np.maximum(power_q / n, 1e-30)
    return np.clip(ratio, *CALIBRATION_RANGE)


def _filter_channel(y: np.ndarray, q: np.ndarray, sigma: float, ratio: np.ndarray,
                    band_rows: int) -> np.ndarray:
    """Filtered (Hp, Wp) channel from padded (Hp, Wp) noisy ``y`` and pilot ``q``; the
    pilot's power at each frequency is scaled by ``ratio`` (p, p)."""
    patch = ratio.shape[0]
    Hp, Wp = y.shape
    num = np.zeros_like(y)
    den = np.zeros_like(y)
    windows_y = sliding_window_view(y, (patch, patch))  # (Hp-p+1, Wp-p+1, p, p) view
    windows_q = sliding_window_view(q, (patch, patch))
    n_rows, n_cols = windows_y.shape[:2]
    var = float(sigma) ** 2
    for r0 in range(0, n_rows, band_rows):
        r1 = min(r0 + band_rows, n_rows)
        cy = dctn(windows_y[r0:r1], axes=(2, 3), norm="ortho")  # (rows, n_cols, p, p)
        cq = dctn(windows_q[r0:r1], axes=(2, 3), norm="ortho")
        p2 = ratio * cq * cq
        gain = p2 / (p2 + var) if var > 0 else np.ones_like(p2)
        est = idctn(gain * cy, axes=(2, 3), norm="ortho")  # (rows, n_cols, p, p)
        weight = 1.0 / np.maximum(np.sum(gain * gain, axis=(2, 3)), 1e-12)  # (rows, n_cols)
        est *= weight[:, :, None, None]
        for di in range(patch):  # pixel (r + di, c + dj) of the window at (r, c)
            for dj in range(patch):
                num[r0 + di:r1 + di, dj:dj + n_cols] += est[:, :, di, dj]
                den[r0 + di:r1 + di, dj:dj + n_cols] += weight
    return num / den
