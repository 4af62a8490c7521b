"""Element-wise activations: ReLU, LeakyReLU, Sigmoid (forward/backward pairs).

All keep the input dtype (Python-float scalars do not promote float32 arrays).
"""

import numpy as np

from ..kernels import leaky_relu_backward as _lrelu_bwd
from ..kernels import leaky_relu_forward as _lrelu_fwd


def leaky_relu_forward(x, slope=0.01):
    """out = x if x > 0 else slope * x  (slope = 0 is ReLU). Returns out, cache."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _lrelu_fwd(x.reshape(-1), slope, out.reshape(-1))
    return out, (x, slope)


def leaky_relu_backward(dout, cache):
    """dx = dout if x > 0 else slope * dout."""
    x, slope = cache
    dout = np.ascontiguousarray(dout, dtype=x.dtype)
    dx = np.empty_like(x)
    _lrelu_bwd(dout.reshape(-1), x.reshape(-1), slope, dx.reshape(-1))
    return dx


def sigmoid_forward(x):
    """Numerically stable sigmoid: never evaluates exp of a large positive number.

    Notes
    -----
    With e = exp(-|x|) in (0, 1]:  sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) for x < 0.
    """
    e = np.exp(-np.abs(x))
    inv = 1 / (1 + e)
    out = np.where(x >= 0, inv, e * inv)
    return out, out


def sigmoid_backward(dout, cache):
    """dx = dout * s * (1 - s), with s the saved output."""
    s = cache
    return dout * s * (1 - s)
