"""Exercise leaky_relu_backward (chapter 01_gradients): LeakyReLU's backward pass.

The forward pass is given; write the backward. Check your work with:

    tinydip exercise check leaky_relu_backward
"""

from __future__ import annotations

import numpy as np


def leaky_relu_forward(x: np.ndarray, slope: float = 0.2) -> tuple[np.ndarray, tuple]:
    """out = x where x > 0, slope * x elsewhere (given, do not change).

    x : (N, C, H, W), any float dtype.  Returns out (same shape and dtype) and
    cache = (x, slope) for :func:`leaky_relu_backward`.
    """
    out = np.where(x > 0, x, slope * x).astype(x.dtype, copy=False)
    cache = (x, slope)
    return out, cache


def leaky_relu_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of LeakyReLU.

    Parameters
    ----------
    dout : (N, C, H, W) upstream gradient dL/dout.
    cache : (x, slope) from :func:`leaky_relu_forward`.

    Returns
    -------
    dx : (N, C, H, W) gradient dL/dx, same dtype as x.

    Equation
    --------
    Chain rule, entry by entry: dx = dout * d(out)/dx, where

        d(out)/dx = 1 if x > 0, slope otherwise.

    Hints
    -----
    * ``np.where(condition, a, b)`` picks a where condition holds, b elsewhere.
    * A Python float times a float32 array stays float32; a float64 array would not.
    """
    x, slope = cache
    # TODO: compute dx (one line).
    raise NotImplementedError("TODO: implement leaky_relu_backward")
