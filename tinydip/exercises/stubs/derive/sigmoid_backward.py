"""Exercise sigmoid_backward, level derive (chapter 01_gradients): the sigmoid's backward.

The forward pass is given; derive the backward from it. Check your work with:

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
    """Backward pass of the sigmoid: dx = dL/dx given dout = dL/ds.

    Parameters
    ----------
    dout : (N, C, H, W) upstream gradient.
    cache : s, the forward OUTPUT (N, C, H, W) -- x itself is not kept.

    Returns
    -------
    dx : (N, C, H, W), same dtype as dout.

    To derive
    ---------
    Differentiate s(x) = 1 / (1 + exp(-x)) and write the result in terms of s alone (the
    cache holds only s); then apply the chain rule.
    """
    # TODO: derive ds/dx as a function of s, then compute dx.
    raise NotImplementedError("TODO: implement sigmoid_backward")
