"""Checks for chapter 1 (gradients by hand): numerical_gradient, leaky_relu_backward,
sigmoid_backward."""

from __future__ import annotations

import numpy as np

from ..functional import leaky_relu_backward, sigmoid_backward, sigmoid_forward
from ..gradcheck import rel_error
from .checks import Fail, LearnerModule, Suite, compare, expect_array, expect_float, gradcheck

NUMERICAL_GRADIENT = Suite()
LEAKY_RELU = Suite()
SIGMOID = Suite()


def _away_from_kink(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * (np.abs(x) + 0.1)


# ---- numerical_gradient -------------------------------------------------------------------

def _smooth(w: np.ndarray):
    """f(x) = sum(w * sin(x) + x^3 / 3) and its exact gradient."""
    return (lambda x: float(np.sum(w * np.sin(x) + x**3 / 3)),
            lambda x: w * np.cos(x) + x**2)


def _forward_difference(f, x: np.ndarray, h: float) -> np.ndarray:
    g = np.zeros_like(x)
    f0 = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        g[i] = (f(x) - f0) / h
        x[i] = old
    return g


@NUMERICAL_GRADIENT.check("numerical_gradient: shape and dtype")
def _ng_shape(m: LearnerModule) -> None:
    x = np.random.default_rng(0).standard_normal((3, 4))
    expect_array(m.numerical_gradient(lambda v: float(np.sum(v**2)), x), "the gradient",
                 x.shape, np.float64)


def _slice_difference(f, x: np.ndarray, h: float) -> np.ndarray:
    """A mistake: perturb a whole slice x[i] (first axis) at once, not one entry."""
    g = np.zeros_like(x)
    for i in range(x.shape[0]):
        old = x[i].copy()
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        g[i] = (fp - f(x)) / (2 * h)
        x[i] = old
    return g


RESTORE_HINT = ("x was changed: save each entry before perturbing it and assign it back "
                "afterwards (x + h - h is not always x in floating point)")


def _learner_gradient(m: LearnerModule, f, x: np.ndarray, *h) -> np.ndarray:
    """The learner's gradient; a changed x is diagnosed first (it spoils every later probe)."""
    before = x.copy()
    got = m.numerical_gradient(f, x, *h)
    if not np.array_equal(x, before):
        raise Fail(RESTORE_HINT + "; every later probe then starts from a shifted x")
    return expect_array(got, "the gradient", x.shape)


def _ng_mistakes(f, x: np.ndarray, exact: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "you perturbed a whole slice x[i] at once: visit every ENTRY, e.g. with "
        "np.ndindex(x.shape) (a multi-index), not just the first axis":
            _slice_difference(f, x.copy(), 1e-5),
        "this is the one-sided difference (f(x+h) - f(x)) / h, whose error is O(h): use the "
        "central difference (f(x+h) - f(x-h)) / (2h)": _forward_difference(f, x.copy(), 1e-5),
        "twice the gradient: the central difference divides by 2h, not h": 2 * exact,
        "half the gradient: divide by 2h (the distance between x+h and x-h), not 4h":
            exact / 2,
    }


@NUMERICAL_GRADIENT.check("numerical_gradient: matches the exact gradient (2-D)")
def _ng_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5))
    f, exact = _smooth(rng.standard_normal(x.shape))
    got = _learner_gradient(m, f, x, 1e-5)
    compare(got, exact(x), "the gradient", 1e-7, _ng_mistakes(f, x, exact(x)))


@NUMERICAL_GRADIENT.check("numerical_gradient: any shape (3-D input)")
def _ng_shapes(m: LearnerModule) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 2))
    f, exact = _smooth(rng.standard_normal(x.shape))
    got = _learner_gradient(m, f, x)
    compare(got, exact(x), "the gradient", 1e-7, _ng_mistakes(f, x, exact(x)),
            hint="it must work for any number of axes: visit every entry, e.g. with "
            "np.ndindex(x.shape), and keep the default h = 1e-5")


@NUMERICAL_GRADIENT.check("numerical_gradient: leaves x exactly as it was")
def _ng_restores(m: LearnerModule) -> None:
    x = np.random.default_rng(3).standard_normal((3, 3)) * 1.7
    before = x.copy()
    m.numerical_gradient(lambda v: float(np.sum(v**3)), x, 1e-5)
    if not np.array_equal(x, before):
        raise Fail(RESTORE_HINT)


@NUMERICAL_GRADIENT.check("rel_error: values")
def _re_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(4)
    for shape in ((5,), (3, 4)):
        a = rng.standard_normal(shape)
        for b in (a + 1e-6 * rng.standard_normal(shape), a - 0.5 - rng.random(shape),
                  10 * rng.standard_normal(shape)):
            got = expect_float(m.rel_error(a, b), "rel_error(a, b)")
            ref = rel_error(a, b)
            signed = np.max(a - b) / max(np.abs(a).max(), np.abs(b).max())
            elementwise = np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))
            compare(got, ref, "rel_error", 1e-12, mistakes={
                "a negative or too small error when b > a: take the absolute value "
                "|a - b| before the max": signed,
                "that is the entry-by-entry relative error; tinydip's divides max|a - b| by "
                "the largest entry of either array (max norm)": elementwise,
            })


@NUMERICAL_GRADIENT.check("rel_error: two zero arrays give 0")
def _re_zeros(m: LearnerModule) -> None:
    got = expect_float(m.rel_error(np.zeros(4), np.zeros(4)), "rel_error(0, 0)")
    if got != 0.0:
        raise Fail(f"rel_error(zeros, zeros) returned {got}; guard the division when both "
                   "arrays are all zero")


# ---- LeakyReLU ----------------------------------------------------------------------------

def _lrelu_case(m: LearnerModule, x: np.ndarray, slope: float, dout: np.ndarray):
    _, cache = m.leaky_relu_forward(x, slope)
    return m.leaky_relu_backward(dout, cache)


@LEAKY_RELU.check("shape and dtype (float32 stays float32)")
def _lr_shape(m: LearnerModule) -> None:
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    expect_array(_lrelu_case(m, x, 0.2, dout), "dx", x.shape, np.float32)


@LEAKY_RELU.check("matches tinydip (slopes 0.2, 0.01, 0; odd shapes)")
def _lr_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(11)
    for shape, slope in (((2, 3, 5, 4), 0.2), ((1, 1, 3, 7), 0.01), ((3, 2, 1, 5), 0.0)):
        x = rng.standard_normal(shape).astype(np.float32)
        dout = rng.standard_normal(shape).astype(np.float32)
        got = expect_array(_lrelu_case(m, x, slope, dout), "dx", shape)
        ref = leaky_relu_backward(dout, (x, slope))
        compare(got, ref, "dx", 1e-6, mistakes={
            "the negative side gets no gradient: where x <= 0 the forward multiplies by the "
            "slope, so dx = slope * dout there (you wrote ReLU's backward)": dout * (x > 0),
            "dx must be dout times the local derivative (chain rule); you returned the local "
            "derivative alone": np.where(x > 0, 1.0, slope),
            "the two sides are swapped: dout passes unchanged where x > 0 and is scaled by "
            "the slope where x <= 0": np.where(x > 0, slope * dout, dout),
        })


@LEAKY_RELU.check("float64 gradient check (finite differences)")
def _lr_gradcheck(m: LearnerModule) -> None:
    rng = np.random.default_rng(12)
    x = _away_from_kink(rng.standard_normal((2, 3, 4, 3)))
    dout = rng.standard_normal(x.shape)
    dx = _lrelu_case(m, x, 0.2, dout)
    gradcheck(lambda: m.leaky_relu_forward(x, 0.2)[0], x, dout, dx, "dx")


# ---- sigmoid ------------------------------------------------------------------------------

def _sig_case(m: LearnerModule, x: np.ndarray, dout: np.ndarray):
    _, cache = m.sigmoid_forward(x)
    return m.sigmoid_backward(dout, cache)


@SIGMOID.check("shape and dtype (float32 stays float32)")
def _sg_shape(m: LearnerModule) -> None:
    rng = np.random.default_rng(20)
    x = (3 * rng.standard_normal((2, 3, 4, 5))).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    expect_array(_sig_case(m, x, dout), "dx", x.shape, np.float32)


@SIGMOID.check("matches tinydip (incl. large |x|)")
def _sg_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(21)
    for shape, scale in (((2, 3, 5, 4), 3.0), ((1, 2, 3, 7), 30.0)):
        x = (scale * rng.standard_normal(shape)).astype(np.float32)
        dout = rng.standard_normal(shape).astype(np.float32)
        got = expect_array(_sig_case(m, x, dout), "dx", shape)
        s = sigmoid_forward(x)[0]
        s_of_s = sigmoid_forward(s)[0]
        compare(got, sigmoid_backward(dout, s), "dx", 1e-6, mistakes={
            "the cache holds the OUTPUT s = sigmoid(x), not x: use s * (1 - s) directly, do "
            "not apply the sigmoid again": dout * s_of_s * (1 - s_of_s),
            "missing the factor (1 - s): ds/dx = s (1 - s)": dout * s,
            "dx must be dout times the local derivative (chain rule)": s * (1 - s),
        })


@SIGMOID.check("float64 gradient check (finite differences)")
def _sg_gradcheck(m: LearnerModule) -> None:
    rng = np.random.default_rng(22)
    x = 3 * rng.standard_normal((2, 3, 4, 3))
    dout = rng.standard_normal(x.shape)
    dx = _sig_case(m, x, dout)
    gradcheck(lambda: m.sigmoid_forward(x)[0], x, dout, dx, "dx")
