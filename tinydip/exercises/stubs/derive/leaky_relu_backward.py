"""Exercise leaky_relu_backward, level derive (chapter 01_gradients): LeakyReLU's backward pass.

The forward pass is given; derive the backward from it. Check your work with:

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
    """Backward pass of LeakyReLU: dx = dL/dx given dout = dL/dout.

    Parameters
    ----------
    dout : (N, C, H, W) upstream gradient.
    cache : (x, slope) from :func:`leaky_relu_forward`.

    Returns
    -------
    dx : (N, C, H, W), same dtype as x.

    To derive
    ---------
    Each out entry depends on one x entry only. What is d(out)/dx on each side of 0, and how
    does the chain rule combine it with dout?
    """
    x, slope = cache
    # TODO: derive and compute dx.
    raise NotImplementedError("TODO: implement leaky_relu_backward")
