"""Exercise sigmoid_backward (chapter 01_gradients): the sigmoid's backward from its output.

The forward pass is given; write the backward. Check your work with:

    tinydip exercise check sigmoid_backward
"""

from __future__ import annotations

import numpy as np


def sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s = 1 / (1 + exp(-x)), computed without overflow (given, do not change).

    x : (N, C, H, W).  Returns s (same shape and dtype) and cache = s (the OUTPUT, not x).
    """
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    s = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return s, s


def sigmoid_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Backward pass of the sigmoid.

    Parameters
    ----------
    dout : (N, C, H, W) upstream gradient dL/ds.
    cache : s, the forward output (N, C, H, W).

    Returns
    -------
    dx : (N, C, H, W), same dtype as dout.

    Equation
    --------
    The sigmoid's derivative is a function of its output:

        ds/dx = s (1 - s),   so   dx = dout * ds/dx.

    Hints
    -----
    * Saving the output (not x) means no exp in the backward pass at all.
    """
    # TODO: compute dx from s = cache (one or two lines).
    raise NotImplementedError("TODO: implement sigmoid_backward")
