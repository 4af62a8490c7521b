"""Quantisation steps per tensor: uniform in bits, or allocated by rate-distortion.

A format-3 file stores tensor t on the grid ``step_t * q``. With an entropy coder, halving
``step_t`` costs about one bit per value of t, whichever tensor it is; what it buys differs
a lot between tensors (a BatchNorm scale moves a whole channel, one weight of the last
1x1 conv one colour). The allocation spends the bits where they pay.

Notes
-----
High-rate model: quantising tensor t (n_t values) with step D_t adds

    MSE_t ~ a_t n_t D_t^2 / 12        (a_t: output MSE per unit weight error^2)

and costs about R_t ~ n_t (h_t - log2 D_t) bits. Minimising sum_t MSE_t at a fixed
sum_t n_t log2 D_t (the Lagrangian a_t n_t D_t / 6 = mu n_t / (D_t ln 2)) gives

    D_t = c / sqrt(a_t)

with c set so that sum_t n_t log2 D_t equals that of the uniform steps (about the same
rate). a_t is measured, not modelled: quantise tensor t alone at its uniform step u_t and
take a_t = 12 dMSE_t / (n_t u_t^2) (:func:`sensitivities`, one forward pass per tensor).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .quantize import STEP_MAX_LEVELS, f16_step, step_values, uniform_step

ALLOCATIONS = ("uniform", "rd")
_CLAMP = 16.0  # an allocated step stays within [u / 16, 16 u] of the uniform step u


def uniform_steps(tensors: dict[str, np.ndarray], bits: int) -> dict[str, float]:
    """``2^bits`` levels over every tensor's range (:func:`uniform_step`)."""
    return {name: uniform_step(t, bits) for name, t in tensors.items()}


def sensitivities(tensors: dict[str, np.ndarray], steps: dict[str, float],
                  mse: Callable[[dict[str, np.ndarray]], float]) -> dict[str, float]:
    """a_t = 12 (MSE with t alone quantised at ``steps[t]`` - MSE of ``tensors``) / (n_t step^2).

    ``mse(tensors)``: the output MSE of a network holding these tensors. Measured increases
    that are not positive (rounding that happened to help) count as a tiny sensitivity.
    """
    base = mse(tensors)
    out = {}
    for name, t in tensors.items():
        trial = dict(tensors)
        trial[name] = step_values(t, steps[name])
        rise = mse(trial) - base
        out[name] = 12.0 * max(rise, 0.0) / (t.size * steps[name] ** 2)
    floor = 1e-3 * max(float(np.median([a for a in out.values() if a > 0] or [1.0])), 1e-30)
    return {name: max(a, floor) for name, a in out.items()}


def rd_steps(tensors: dict[str, np.ndarray], uniform: dict[str, float],
             sens: dict[str, float]) -> dict[str, float]:
    """Steps ``c / sqrt(a_t)`` at the uniform steps' total log-step (see the module Notes)."""
    names = list(tensors)
    n = np.array([tensors[k].size for k in names], np.float64)
    log_u = np.log2([uniform[k] for k in names])
    raw = -0.5 * np.log2([sens[k] for k in names])
    log_c = float(np.sum(n * (log_u - raw)) / np.sum(n))
    log_d = np.clip(raw + log_c, log_u - np.log2(_CLAMP), log_u + np.log2(_CLAMP))
    return {k: _fit_range(tensors[k], 2.0 ** d) for k, d in zip(names, log_d, strict=True)}


def scale_steps(steps: dict[str, float], factor: float,
                tensors: dict[str, np.ndarray]) -> dict[str, float]:
    """Every step times ``factor`` (float16-rounded; the rate knob of a target search)."""
    return {k: _fit_range(tensors[k], s * factor) for k, s in steps.items()}


def _fit_range(t: np.ndarray, step: float) -> float:
    """``step`` rounded to float16, enlarged if the codes would span too many levels."""
    span = float(np.ptp(t)) if t.size else 0.0
    return f16_step(max(step, 2.0 * span / STEP_MAX_LEVELS, 2.0 ** -24))
