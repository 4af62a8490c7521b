"""Stein's unbiased risk estimate (SURE) with a Monte-Carlo divergence.

For ``y = x + n``, ``n ~ N(0, sigma^2 I)`` and a weakly differentiable denoiser ``f``, SURE
is an unbiased estimate of the mean squared error ``||f(y) - x||^2 / n`` that needs no
clean image -- only sigma (known, or
:func:`tinydip.denoising.noise_estimate.estimate_sigma`) and the
divergence of ``f``, which the Monte-Carlo estimate of Ramani, Blu & Unser (2008) gets
from one extra evaluation at a perturbed input.  For DIP, ``f`` is the whole fitting
process (``y`` -> the output after t iterations from a fixed seed); :class:`PairedSure`
compares a fit on ``y`` with a lockstep fit on ``y + eps b`` (same seed, same jitter),
which doubles the cost of a fit (benchmarks/README.md, *Denoising*).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["sure", "mc_divergence", "PairedSure"]


def sure(y: np.ndarray, fy: np.ndarray, divergence: float, sigma: float) -> float:
    r"""SURE of the estimate ``fy`` of the clean image from ``y``: an estimate of the MSE.

    Notes
    -----
    With :math:`n` entries,

    .. math::
        \mathrm{SURE} = \frac{1}{n}\lVert y - f(y)\rVert^2 - \sigma^2
                        + \frac{2\sigma^2}{n}\,\nabla_y\!\cdot f(y),
        \qquad \mathbb E\,\mathrm{SURE} = \frac{1}{n}\mathbb E\lVert f(y) - x\rVert^2 .
    """
    a, b = np.asarray(y, dtype=np.float64), np.asarray(fy, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"sure: shape mismatch {a.shape} vs {b.shape}")
    if not sigma >= 0:
        raise ValueError(f"sure: sigma must be >= 0, got {sigma!r}")
    n = a.size
    return float(np.sum((a - b) ** 2) / n - sigma**2 + 2.0 * sigma**2 * divergence / n)


def mc_divergence(f: Callable[[np.ndarray], np.ndarray], y: np.ndarray, eps: float,
                  rng: np.random.Generator, probes: int = 1,
                  fy: np.ndarray | None = None) -> float:
    r"""Monte-Carlo divergence :math:`\nabla_y\cdot f(y) \approx \frac1\epsilon b^\top
    (f(y+\epsilon b) - f(y))`, ``b ~ N(0, I)``, averaged over ``probes`` draws.

    Unbiased as :math:`\epsilon \to 0` (:math:`\mathbb E\, b b^\top = I`); ``fy`` reuses a
    known ``f(y)``.  Cost: ``probes`` (+1 without ``fy``) evaluations of ``f``.
    """
    if not eps > 0 or int(probes) < 1:
        raise ValueError(f"mc_divergence: need eps > 0 and probes >= 1, got {eps!r}, {probes!r}")
    y = np.asarray(y, dtype=np.float64)
    base = np.asarray(f(y) if fy is None else fy, dtype=np.float64)
    total = 0.0
    for _ in range(int(probes)):
        b = rng.standard_normal(y.shape)
        total += float(np.vdot(b, np.asarray(f(y + eps * b), dtype=np.float64) - base)) / eps
    return total / int(probes)


class PairedSure:
    """SURE of a fitting trajectory from two lockstep fits: on ``y`` and on ``y + eps b``.

    ``probe`` is the perturbed observation to fit alongside (same seed, so the same z, init
    and input jitter); :meth:`value` takes the two fits' outputs at the same iteration.
    """

    def __init__(self, y: np.ndarray, sigma: float, eps: float,
                 rng: np.random.Generator) -> None:
        if not eps > 0:
            raise ValueError(f"PairedSure: eps must be > 0, got {eps!r}")
        self.y = np.asarray(y)
        self.sigma, self.eps = float(sigma), float(eps)
        self.b = rng.standard_normal(self.y.shape)
        self.probe = (self.y + self.eps * self.b).astype(self.y.dtype)

    def divergence(self, f: np.ndarray, f_probe: np.ndarray) -> float:
        d = np.asarray(f_probe, dtype=np.float64) - np.asarray(f, dtype=np.float64)
        return float(np.vdot(self.b, d)) / self.eps

    def value(self, f: np.ndarray, f_probe: np.ndarray) -> float:
        """SURE of ``f`` (the fit on ``y``) given the probe fit's output ``f_probe``."""
        return sure(self.y, f, self.divergence(f, f_probe), self.sigma)
