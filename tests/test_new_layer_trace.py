"""The "how to add a layer" recipe, tried: a forward/backward pair, a module and a
``LayerCase`` are all a new layer needs to be gradchecked like every catalogued one (here a
Tanh, as a test fixture) -- and the same check catches a planted wrong backward."""

from __future__ import annotations

import numpy as np

from tinydip import nn
from tinydip.gradcheck import check_module
from tinydip.nn.catalogue import SMOOTH_TOL, LayerCase


def tanh_forward(x):
    """out = tanh(x). Returns out, cache (the output)."""
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache):
    """dx = dout * (1 - out^2)."""
    return dout * (1 - cache * cache)


class Tanh(nn.Module):
    def __init__(self, backward=tanh_backward):
        self._cache, self._bwd = None, backward

    def forward(self, x):
        out, self._cache = tanh_forward(x)
        return out

    def backward(self, dout):
        dx = self._bwd(dout, self._need_cache(self._cache))
        self._used_cache()
        return dx


CASE = LayerCase("Tanh", lambda rng: Tanh(), (2, 3, 4, 5), input="wide")


def _errors(module):
    rng = np.random.default_rng(0)
    return check_module(module.astype(np.float64), CASE.make_input(rng), rng=rng)


def test_the_new_layer_gradchecks_like_a_catalogued_one():
    assert max(_errors(CASE.build(np.random.default_rng(0))).values()) < SMOOTH_TOL


def test_float32_in_float32_out():
    x = np.ones((1, 2, 3, 3), np.float32)
    m = Tanh()
    assert m(x).dtype == np.float32 and m.backward(x).dtype == np.float32


def test_a_wrong_backward_is_caught():
    wrong = Tanh(backward=lambda dout, out: dout * (1 - out))  # forgot the square
    assert max(_errors(wrong).values()) > 1e-2
