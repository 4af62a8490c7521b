"""tinydip.gradcheck: the checker itself. It must pass correct layers, FAIL wrong ones (a
backward off by 1%, a kernel with one sign or one weight flipped), and have no side effects.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap

import numpy as np
import pytest

import tinydip.functional.batchnorm as fbn
import tinydip.functional.conv as fconv
import tinydip.functional.upsample as fup
from tinydip.gradcheck import check_module, check_vjp, numerical_grad, rel_error
from tinydip.nn import BatchNorm2d, Conv2d, LeakyReLU, Sequential, Upsample

F64 = np.float64
KBN = importlib.import_module("tinydip.kernels.batchnorm")
KIM = importlib.import_module("tinydip.kernels.im2col")
KUP = importlib.import_module("tinydip.kernels.upsample")

pytestmark = pytest.mark.usefixtures("numba_one_thread")

CAUGHT = 1e-3  # check_module "fails" (catches the bug) above this; it passes below 1e-7
# check_vjp projects ALL gradients onto one random direction, so a 1% error in one of them
# shows up diluted by the others: "caught" is 100x its pass threshold of 1e-6.
CAUGHT_VJP = 1e-4


# ----------------------------------------------------------------------------------------------
# rel_error and numerical_grad
# ----------------------------------------------------------------------------------------------
def test_rel_error_values():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 2.2)
    # max-norm: a tiny entry with a large relative error does not dominate
    assert rel_error(np.array([1e-12, 1.0]), np.array([2e-12, 1.0])) < 1e-11
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array(3.0), np.array(-3.0)) == pytest.approx(2.0)
    # below the ``zero`` scale both sides are round-off: absolute error
    assert rel_error(np.array([1e-17]), np.array([-1e-17])) == pytest.approx(2e-17)
    with pytest.raises(ValueError, match=r"shapes differ \(2,\) vs \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numerical_grad_of_a_known_function():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    dout = rng.standard_normal((3, 4))
    calls = []

    def f():
        calls.append(1)
        return x ** 3 + np.sin(x)

    num = numerical_grad(f, x, dout)
    np.testing.assert_allclose(num, (3 * x0 ** 2 + np.cos(x0)) * dout, rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, x0)  # restored exactly
    assert len(calls) >= 2 * x.size and len(calls) % x.size == 0  # a fixed stencil per entry


def test_numerical_grad_needs_contiguous_input():
    x = np.zeros((4, 3)).T  # Fortran order: reshape(-1) would be a copy
    with pytest.raises(ValueError, match="contiguous x"):
        numerical_grad(lambda: x, x, np.ones((3, 4)))


# ----------------------------------------------------------------------------------------------
# check_module / check_vjp on correct layers: small errors and no side effects
# ----------------------------------------------------------------------------------------------
def test_check_module_reports_every_parameter_and_has_no_side_effects():
    rng = np.random.default_rng(1)
    net = Sequential(Conv2d(2, 3, 3, rng=rng, dtype=F64), BatchNorm2d(3, slope=0.2, dtype=F64))
    net[1].running_mean[:] = [0.1, 0.2, 0.3]
    x = rng.standard_normal((2, 2, 4, 3))
    state, x0 = net.state_dict(), x.copy()
    errors = check_module(net, x, rng=rng)
    assert set(errors) == {"x", "0.weight", "0.bias", "1.weight", "1.bias"}
    assert max(errors.values()) < 1e-6
    np.testing.assert_array_equal(x, x0)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)  # params AND running stats


def test_check_module_with_explicit_dout_is_deterministic():
    rng = np.random.default_rng(2)
    conv = Conv2d(1, 2, 3, rng=rng, dtype=F64)
    x = rng.standard_normal((1, 1, 3, 3))
    dout = rng.standard_normal((1, 2, 3, 3))
    assert check_module(conv, x, dout) == check_module(conv, x, dout)


def test_check_vjp_passes_correct_module_and_restores_exactly():
    rng = np.random.default_rng(3)
    net = Sequential(Conv2d(2, 3, 3, stride=2, padding="reflect", rng=rng, dtype=F64),
                     BatchNorm2d(3, dtype=F64), Upsample(2))
    x = rng.standard_normal((2, 2, 5, 5))
    state, x0 = net.state_dict(), x.copy()
    err = check_vjp(net, x, rng=np.random.default_rng(0))
    assert err < 1e-7
    assert err == check_vjp(net, x, rng=np.random.default_rng(0))  # deterministic
    np.testing.assert_array_equal(x, x0)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, state[k], err_msg=k)


# ----------------------------------------------------------------------------------------------
# the checker catches deliberately wrong gradients
# ----------------------------------------------------------------------------------------------
class ScaledDxConv(Conv2d):
    """dx off by 1%."""

    def backward(self, dout):
        return super().backward(dout) * 1.01


class ScaledDwConv(Conv2d):
    """weight gradient off by 1%; dx and bias right."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.weight.grad *= 1.01
        return dx


class WrongSlopeLeaky(LeakyReLU):
    """Backward uses -slope on the negative side (a sign error)."""

    def backward(self, dout):
        x, slope = self._need_cache(self._cache)
        return np.where(x > 0, dout, -slope * dout)


def _conv_input(rng):
    return rng.standard_normal((2, 2, 5, 4))


def test_checker_catches_conv_dx_off_by_one_percent():
    rng = np.random.default_rng(4)
    good = Conv2d(2, 3, 3, rng=rng, dtype=F64)
    bad = ScaledDxConv(2, 3, 3, rng=np.random.default_rng(0), dtype=F64)
    bad.weight.data[...], bad.bias.data[...] = good.weight.data, good.bias.data
    x = _conv_input(rng)
    ok = check_module(good, x, rng=np.random.default_rng(0))
    err = check_module(bad, x, rng=np.random.default_rng(0))
    assert max(ok.values()) < 1e-7
    assert err["x"] > CAUGHT
    assert err["weight"] < 1e-7 and err["bias"] < 1e-7  # the report localises the bug
    assert check_vjp(good, x, rng=np.random.default_rng(0)) < 1e-7
    assert check_vjp(bad, x, rng=np.random.default_rng(0)) > CAUGHT_VJP


def test_checker_catches_conv_weight_grad_off_by_one_percent():
    rng = np.random.default_rng(5)
    bad = ScaledDwConv(2, 3, 3, padding="reflect", rng=rng, dtype=F64)
    x = _conv_input(rng)
    err = check_module(bad, x, rng=rng)
    assert err["weight"] > CAUGHT
    assert err["x"] < 1e-7 and err["bias"] < 1e-7
    assert check_vjp(bad, x, rng=np.random.default_rng(1)) > CAUGHT_VJP


def test_checker_catches_leaky_relu_sign_error():
    rng = np.random.default_rng(6)
    x = np.sign(v := rng.standard_normal((2, 3, 4, 4))) * (np.abs(v) + 0.1)
    assert check_module(LeakyReLU(0.2), x)["x"] < 1e-7
    assert check_module(WrongSlopeLeaky(0.2), x)["x"] > CAUGHT
    assert check_vjp(WrongSlopeLeaky(0.2), x) > CAUGHT


def mutated(func, old: str, new: str, **names):
    """A copy of the plain kernel ``func`` with the source text ``old`` replaced by ``new``
    (exactly one occurrence), compiled in the kernel module's namespace (``names`` replaced:
    e.g. a helper by its own mutant); runs un-jitted."""
    src = textwrap.dedent(inspect.getsource(func))
    assert src.count(old) == 1, f"mutation anchor {old!r} not found once in {func.__name__}"
    namespace = {**func.__globals__, **names}
    exec(compile(src.replace(old, new), f"<mutated {func.__name__}>", "exec"), namespace)
    return namespace[func.__name__]


def test_checker_catches_bn_kernel_with_one_sign_flipped(monkeypatch):
    rng = np.random.default_rng(7)
    bn = BatchNorm2d(2, slope=0.2, dtype=F64)
    bn.weight.data[:] = [1.3, 0.7]
    bn.bias.data[:] = [0.5, 0.4]
    x = rng.standard_normal((2, 2, 2, 3))
    good = check_module(bn, x, rng=np.random.default_rng(0))
    assert max(good.values()) < 1e-7
    wrong = mutated(KBN._bn_backward, "k * (g - a - xh * b)", "k * (g - a + xh * b)")
    monkeypatch.setattr(fbn, "bn_backward", wrong)
    err = check_module(bn, x, rng=np.random.default_rng(0))
    assert err["x"] > CAUGHT
    assert err["weight"] < 1e-7 and err["bias"] < 1e-7
    assert check_vjp(bn, x, rng=np.random.default_rng(0)) > CAUGHT_VJP


def test_checker_catches_col2im_with_wrong_sign(monkeypatch):
    rng = np.random.default_rng(8)
    conv = Conv2d(2, 2, 3, padding="reflect", rng=rng, dtype=F64)
    x = rng.standard_normal((1, 2, 4, 3))
    wrong = mutated(KIM._col2im, "d[k] += s[k]", "d[k] -= s[k]")  # the interior fast path
    monkeypatch.setattr(fconv, "col2im", wrong)
    err = check_module(conv, x, rng=rng)
    assert err["x"] > CAUGHT and err["weight"] < 1e-7
    assert check_vjp(conv, x, rng=rng) > CAUGHT


@pytest.mark.parametrize("s", [2, 3])
def test_checker_catches_bilinear_backward_with_one_weight_swapped(monkeypatch, s):
    """s = 3: the generic scatter; s = 2: its x2 row pass (``_row2_backward``)."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 2, 3, 4))
    assert check_module(Upsample(s), x)["x"] < 1e-7
    if s == 2:
        row = mutated(KUP._row2_backward, "d[j] += QUARTER * t[2 * j + 2]",
                      "d[j] += THREE_QUARTERS * t[2 * j + 2]")
        wrong = mutated(KUP._bilinear_backward, "row2_backward(t, d)", "row2_backward(t, d) ",
                        row2_backward=row)
    else:
        wrong = mutated(KUP._bilinear_backward, "d[x1[ox]] += lx[ox] * t[ox]",
                        "d[x1[ox]] += (1.0 - lx[ox]) * t[ox]")
    monkeypatch.setattr(fup, "bilinear_backward", wrong)
    assert check_module(Upsample(s), x)["x"] > CAUGHT
    assert check_vjp(Upsample(s), x) > CAUGHT
