"""Exercise conv_backward, level derive (chapter 02_convolution): the gradients of a convolution.

The forward pass is given; derive the backward. Check your work with:

    tinydip exercise check conv_backward
"""

from __future__ import annotations

import numpy as np

from tinydip.functional import conv2d_naive


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                 stride: int = 1) -> tuple[np.ndarray, tuple]:
    """Convolution forward (given, do not change): zero padding P = KH // 2, no kernel flip.

        out[n, f, oy, ox] = b[f] + sum_{c,i,j} w[f, c, i, j] * xpad[n, c, oy*S + i, ox*S + j]

    x : (N, C, H, W), w : (F, C, KH, KW), b : (F,).  Returns out (N, F, Ho, Wo) and
    cache = (x, w, b, stride).
    """
    out = conv2d_naive(x, w, b, stride)
    return out, (x, w, b, stride)


def conv_backward(dout: np.ndarray,
                  cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of the convolution.

    Parameters
    ----------
    dout : (N, F, Ho, Wo) upstream gradient.
    cache : (x, w, b, stride) from :func:`conv_forward`.

    Returns
    -------
    dx : (N, C, H, W),  dw : (F, C, KH, KW),  db : (F,), all in x's dtype.

    To derive
    ---------
    Start from the forward's equation (in :func:`conv_forward`): each output is a sum of
    products. For one output, which entries of x, w and b does it touch, and with which
    factor? A value used in several outputs collects a gradient from each of them.
    Then write dx, dw and db. Check yourself on a 1-D convolution first.
    """
    x, w, b, stride = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    # TODO: derive and compute dx, dw, db (zero padding P = KH // 2 as in the forward).
    raise NotImplementedError("TODO: implement conv_backward")
