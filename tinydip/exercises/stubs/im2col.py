"""Exercise im2col (chapter 02_convolution): turn a convolution into one matrix product.

Check your work with:

    tinydip exercise check im2col
"""

from __future__ import annotations

import numpy as np


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """Unfold every (C, KH, KW) window of one image into a column.

    Parameters
    ----------
    x : (C, H, W) one image.
    kh, kw : kernel size.  stride : S.  pad : P zeros on every side.

    Returns
    -------
    cols : (C*KH*KW, Ho*Wo), same dtype as x, with Ho = (H + 2P - KH) // S + 1 (same for Wo):

        cols[c*KH*KW + i*KW + j, oy*Wo + ox] = xpad[c, oy*S + i, ox*S + j]

    Row order (c, i, j) is the order of ``w.reshape(F, C*KH*KW)``, so the convolution of
    this image is one product: ``out = w.reshape(F, -1) @ cols``, reshaped to (F, Ho, Wo).

    Hints
    -----
    * Loop over the taps (c, i, j) rather than the output positions: for one tap, the row is
      a strided slice ``xpad[c, i : i + S*Ho : S, j : j + S*Wo : S]``, flattened.
    """
    C, H, W = x.shape
    # TODO: pad, compute Ho and Wo, allocate cols and fill one row per tap (~8 lines).
    raise NotImplementedError("TODO: implement im2col")
