"""Exercise conv_backward (chapter 02_convolution): the gradients of a convolution.

The forward pass is given; write the backward. Check your work with:

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

    Equations
    ---------
    Every output out[n, f, oy, ox] touched xpad[n, c, oy*S + i, ox*S + j] through w[f, c, i, j]
    and b[f]; so, summing over every place a value was used:

        db[f]          = sum_{n, oy, ox} dout[n, f, oy, ox]
        dw[f, c, i, j] = sum_{n, oy, ox} dout[n, f, oy, ox] * xpad[n, c, oy*S + i, ox*S + j]
        dxpad[n, c, oy*S + i, ox*S + j] += sum_f dout[n, f, oy, ox] * w[f, c, i, j]

    and dx is dxpad without its padding border.

    Hints
    -----
    * Loop over n, oy, ox (or over the taps i, j) and ACCUMULATE with += : a pixel of x is
      used by several windows, a weight by every window of every image.
    * For stride 1, dx is itself a convolution of dout with the kernel rotated by 180
      degrees and its two channel axes swapped -- a good way to test your loops.
    """
    x, w, b, stride = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    # TODO: compute dx, dw, db with P = KH // 2 (~12 lines).
    raise NotImplementedError("TODO: implement conv_backward")
