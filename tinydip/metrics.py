"""Image quality metrics: PSNR and SSIM (Wang et al. 2004, Gaussian window)."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

__all__ = ["psnr", "psnr_from_mse", "ssim"]


def _pair(x: np.ndarray, ref: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x), np.asarray(ref)
    if a.shape != b.shape:
        raise ValueError(f"{name}: shape mismatch {a.shape} vs reference {b.shape}")
    if a.size == 0:
        raise ValueError(f"{name}: empty images")
    a, b = a.astype(np.float64), b.astype(np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"{name}: images contain NaN or infinite values")
    return a, b


def psnr(x: np.ndarray, ref: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB.

    Parameters
    ----------
    x, ref : arrays of the same shape (any layout).
    data_range : peak value ``L`` (1 for [0, 1] images, 255 for 8-bit).

    Returns
    -------
    ``10 log10(L^2 / MSE)`` with ``MSE = mean((x - ref)^2)`` accumulated in float64;
    ``inf`` if the images are identical.
    """
    if not data_range > 0:
        raise ValueError(f"psnr: data_range must be positive, got {data_range!r}")
    a, b = _pair(x, ref, "psnr")
    return psnr_from_mse(float(np.mean((a - b) ** 2)), data_range)


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """``10 log10(L^2 / mse)`` in dB (``inf`` for mse 0): :func:`psnr` once the MSE is known
    (a fit's history computes the MSE to a fixed reference it converted once)."""
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(
    x: np.ndarray,
    ref: np.ndarray,
    data_range: float = 1.0,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Structural similarity, Gaussian-window version, averaged over channels.

    Parameters
    ----------
    x, ref : ``(H, W)`` or ``(H, W, C)`` images of the same shape, ``H, W >= 11``.
    data_range : dynamic range ``L`` of the images.
    sigma, k1, k2 : window width and stabilising constants (Wang et al. defaults).

    Returns
    -------
    Mean SSIM in ``[-1, 1]`` (1 for identical images).

    Notes
    -----
    With ``G`` a Gaussian filter (std ``sigma``, truncated at ``3.5 sigma``, i.e. 11 x 11
    for sigma 1.5, reflect boundary), ``mu_x = G x``, ``s_xx = G x^2 - mu_x^2``,
    ``s_xy = G(x y) - mu_x mu_y``, ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2``:

        SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_xx + s_yy + C2))

    averaged over pixels at least ``r = int(3.5 sigma + 0.5)`` from the border and then over
    channels. Equals ``skimage.metrics.ssim(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=L, channel_axis=-1)``.
    """
    a, b = _pair(x, ref, "ssim")
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"ssim expects HxW or HxWxC images, got shape {a.shape}")
    if not data_range > 0:
        raise ValueError(f"ssim: data_range must be positive, got {data_range!r}")
    r = int(3.5 * sigma + 0.5)
    h, w = a.shape[:2]
    if h < 2 * r + 1 or w < 2 * r + 1:
        raise ValueError(f"ssim needs images of at least {2 * r + 1}x{2 * r + 1}, got {h}x{w}")
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2

    def g(z: np.ndarray) -> np.ndarray:
        return gaussian_filter(z, sigma=sigma, truncate=3.5, mode="reflect")

    vals = []
    for c in range(a.shape[2]):
        p, q = a[:, :, c], b[:, :, c]
        mp, mq = g(p), g(q)
        spp, sqq, spq = g(p * p) - mp * mp, g(q * q) - mq * mq, g(p * q) - mp * mq
        num = (2 * mp * mq + c1) * (2 * spq + c2)
        den = (mp * mp + mq * mq + c1) * (spp + sqq + c2)
        vals.append(float(np.mean((num / den)[r:h - r, r:w - r])))
    return float(np.mean(vals))
