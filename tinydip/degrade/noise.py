"""Noise for the denoising task: Gaussian (:func:`add_noise`), Poisson (:func:`add_poisson_noise`),
and the ``--noise`` text (:func:`parse_noise`)."""

from __future__ import annotations

import numpy as np


def _check_rng(rng: np.random.Generator) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise with ``sigma`` on the 0-255 scale, clipped to [0, 1].

    Parameters
    ----------
    img : float array in [0, 1], any shape (typically ``(H, W, C)``).
    sigma : noise standard deviation in 0-255 units (DIP denoising uses 25).
    rng : source of randomness.

    Returns
    -------
    noisy : same shape and dtype as ``img``.

    Notes
    -----
    ``noisy = clip(img + (sigma / 255) * n, 0, 1)``, ``n ~ N(0, 1)`` i.i.d., drawn in float64
    so that a given ``rng`` state gives the same noise for float32 and float64 images.
    """
    _check_rng(rng)
    a = np.asarray(img)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"add_noise expects a float image in [0, 1], got dtype {a.dtype}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite non-negative number, got {sigma!r}")
    noise = rng.standard_normal(a.shape) * (float(sigma) / 255.0)
    return np.clip(a + noise, 0.0, 1.0).astype(a.dtype)


def add_poisson_noise(img: np.ndarray, peak: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise: ``k ~ Poisson(peak * img)`` photon counts, returned as ``k / peak``.

    ``peak`` (> 0) is the count of a pixel of value 1: the lower, the noisier (the noise
    standard deviation at value x is ``sqrt(x / peak)``; peak 30 at x = 0.5: ~33/255). NOT
    clipped: a bright pixel may read above 1 (clipping would bias the counts the Poisson
    likelihood is about). Same shape and dtype as ``img``.
    """
    _check_rng(rng)
    a = np.asarray(img)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"add_poisson_noise expects a float image in [0, 1], got {a.dtype}")
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"peak must be a finite positive number, got {peak!r}")
    counts = rng.poisson(np.clip(a.astype(np.float64), 0, None) * float(peak))
    return (counts / float(peak)).astype(a.dtype)


def parse_noise(spec: str) -> tuple[str, float]:
    """``gaussian:SIGMA`` (0-255 scale) or ``poisson:PEAK`` -> ``(kind, value)``."""
    kind, _, value = str(spec).strip().lower().partition(":")
    if kind not in ("gaussian", "poisson") or not value:
        raise ValueError(f"unknown noise spec {spec!r}: give gaussian:SIGMA or poisson:PEAK")
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"noise spec {spec!r}: {value!r} is not a number") from None
    if not np.isfinite(v) or v < 0 or (kind == "poisson" and v == 0):
        need = "PEAK must be > 0" if kind == "poisson" else "SIGMA must be >= 0"
        raise ValueError(f"noise spec {spec!r}: {need} and finite")
    return kind, v


