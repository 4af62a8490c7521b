"""Exercise winograd_input_transform, level derive (chapter 02_convolution): Winograd
F(2x2, 3x3)'s input transform.

tinydip runs its 3x3 convolutions by Winograd's minimal filtering (Lavin & Gray 2016): cut
the padded input into 4x4 tiles, transform each tile (V = B^T d B), multiply it elementwise
with the transformed filter (U = G g G^T) -- summed over input channels, 16 matrix products
-- and transform back (A^T M A): each tile gives a 2x2 block of the output with 4 multiplies
per output pixel instead of 9. Derive B^T from the 1-D algorithm and write the input
transform; the checker combines it with tinydip's filter and output transforms and compares
with a direct convolution. Check your work with:

    tinydip exercise check winograd_input_transform
"""

from __future__ import annotations

import numpy as np


def winograd_input_transform(x: np.ndarray) -> np.ndarray:
    """The transformed input tiles V of one image, for a 3x3 convolution with zero padding 1.

    Parameters
    ----------
    x : (C, H, W) one image.

    Returns
    -------
    V : (16, C, T), x's dtype, T = th * tw tiles, th = ceil(H / 2), tw = ceil(W / 2).

    Layout
    ------
    * The padded image xp has one row/column of zeros on every side, and one more zero row
      (column) at the bottom (right) when H (W) is odd: shape (C, 2 th + 2, 2 tw + 2).
    * Tile (ty, tx) is the 4x4 patch of xp starting at row 2 ty, column 2 tx: neighbouring
      tiles OVERLAP by two pixels (each tile makes a 2x2 block of the output, and a 3x3
      kernel needs one more pixel on each side of it).
    * Tiles are numbered row by row, t = ty * tw + tx; entry (a, b) of a transformed 4x4
      tile goes to row 4 a + b of V.

    To derive
    ---------
    In 1-D, F(2, 3) computes the two outputs y0 = d0 g0 + d1 g1 + d2 g2 and
    y1 = d1 g0 + d2 g1 + d3 g2 of a 3-tap filter g on 4 inputs d with 4 multiplies:

        m1 = (d0 - d2) g0                m2 = (d1 + d2) (g0 + g1 + g2) / 2
        m3 = (d2 - d1) (g0 - g1 + g2) / 2    m4 = (d1 - d3) g2
        y0 = m1 + m2 + m3                y1 = m2 - m3 - m4

    In matrix form y = A^T [(G g) * (B^T d)], * elementwise: read the 4x4 matrix B^T off the
    data factors of m1 .. m4 (and expand y0, y1 to convince yourself). The 2-D algorithm
    nests the 1-D one along the rows and the columns of a tile: V = B^T d B per 4x4 tile d.

    Hints
    -----
    * Build B^T in x's dtype: a float64 matrix times float32 tiles gives float64.
    * ``np.lib.stride_tricks.sliding_window_view`` gives all 4x4 windows at once.
    """
    C, H, W = x.shape
    # TODO: derive B^T; pad, cut the overlapping tiles, transform each, store in V.
    raise NotImplementedError("TODO: implement winograd_input_transform")
