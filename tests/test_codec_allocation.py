"""Tests for tinydip.codec.allocation: uniform grids, measured sensitivities, rd steps."""

import numpy as np
import pytest

from tinydip.codec.allocation import rd_steps, scale_steps, sensitivities, uniform_steps
from tinydip.codec.quantize import step_quantize, step_values

RNG = np.random.default_rng(0)
TENSORS = {"a": RNG.standard_normal(400).astype(np.float32),
           "b": RNG.standard_normal(100).astype(np.float32),
           "c": RNG.standard_normal(50).astype(np.float32)}
WEIGHT = {"a": 1.0, "b": 100.0, "c": 0.01}  # output MSE per unit squared error, per tensor


def mse(tensors):
    """A 'network' whose output error is a weighted sum of the tensors' errors."""
    return sum(WEIGHT[n] * float(np.mean((tensors[n] - TENSORS[n]) ** 2)) * TENSORS[n].size
               for n in tensors) / 550


def test_uniform_steps_give_2_to_the_bits_levels():
    steps = uniform_steps(TENSORS, 6)
    for name, t in TENSORS.items():
        sc = step_quantize(t, steps[name])
        assert sc.hi - sc.lo <= 64  # 2^6 levels (+1: the grid is centred on zero)
        assert sc.hi - sc.lo >= 60


def test_sensitivities_recover_the_weights():
    steps = uniform_steps(TENSORS, 8)
    sens = sensitivities(TENSORS, steps, mse)
    # a_t = 12 dMSE / (n step^2) -> WEIGHT / 550 (uniform rounding error: step^2 / 12)
    for name in TENSORS:
        assert sens[name] == pytest.approx(WEIGHT[name] / 550, rel=0.25), name


def test_rd_steps_keep_the_rate_and_lower_the_distortion():
    u = uniform_steps(TENSORS, 6)
    rd = rd_steps(TENSORS, u, sensitivities(TENSORS, u, mse))
    n = {k: t.size for k, t in TENSORS.items()}
    log_rate = sum(n[k] * np.log2(u[k]) for k in TENSORS)
    assert sum(n[k] * np.log2(rd[k]) for k in TENSORS) == pytest.approx(log_rate, abs=0.05 *
                                                                         550)
    assert rd["b"] < u["b"] and rd["c"] > u["c"]  # precision moved to the sensitive tensor
    d_u = mse({k: step_values(t, u[k]) for k, t in TENSORS.items()})
    d_rd = mse({k: step_values(t, rd[k]) for k, t in TENSORS.items()})
    assert d_rd < 0.5 * d_u
    # steps ~ 1 / sqrt(weight): b's step / a's step ~ 1/10 (float16 rounding aside)
    assert rd["b"] / rd["a"] == pytest.approx(0.1, rel=0.1)


def test_scale_steps():
    u = uniform_steps(TENSORS, 6)
    doubled = scale_steps(u, 2.0, TENSORS)
    assert all(doubled[k] == pytest.approx(2 * u[k], rel=1e-3) for k in u)
    tiny = scale_steps(u, 1e-9, TENSORS)  # never more levels than a file may hold
    for k, t in TENSORS.items():
        sc = step_quantize(t, tiny[k])
        assert sc.hi - sc.lo < 2**16
