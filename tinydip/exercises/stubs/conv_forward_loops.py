"""Exercise conv_forward_loops (chapter 02_convolution): a convolution, written as loops.

Slow and obviously right: the definition every faster version is tested against.
Check your work with:

    tinydip exercise check conv_forward_loops
"""

from __future__ import annotations

import numpy as np


def conv_forward_loops(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                       stride: int = 1) -> np.ndarray:
    """2-D convolution (cross-correlation, as in every deep-learning library), zero padding.

    Parameters
    ----------
    x : (N, C, H, W) input.
    w : (F, C, KH, KW) filters, KH and KW odd.
    b : (F,) bias.
    stride : S, the step between output positions.

    Returns
    -------
    out : (N, F, Ho, Wo), same dtype as x, with P = KH // 2 zeros padded on every side and

        Ho = (H + 2P - KH) // S + 1,   Wo = (W + 2P - KW) // S + 1.

    Equation
    --------
        out[n, f, oy, ox] = b[f] + sum_{c, i, j} w[f, c, i, j] * xpad[n, c, oy*S + i, ox*S + j]

    where xpad is x padded with P zeros (the kernel is NOT flipped).

    Hints
    -----
    * ``np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))`` pads only the spatial axes.
    * Loop over n, f, oy, ox and take the (C, KH, KW) window
      ``xpad[n, :, oy*S : oy*S + KH, ox*S : ox*S + KW]``; multiply by w[f] and sum.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    # TODO: pad x, compute Ho and Wo, allocate out and fill it with the loops (~10 lines).
    raise NotImplementedError("TODO: implement conv_forward_loops")
