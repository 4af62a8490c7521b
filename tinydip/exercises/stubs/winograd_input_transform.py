"""Exercise winograd_input_transform (chapter 02_convolution): Winograd F(2x2, 3x3)'s input
transform.

tinydip runs its 3x3 convolutions by Winograd's minimal filtering (Lavin & Gray 2016): cut
the padded input into 4x4 tiles, transform each tile (V = B^T d B), multiply it elementwise
with the transformed filter (U = G g G^T) -- summed over input channels, 16 matrix products
-- and transform back (A^T M A): each tile gives a 2x2 block of the output with 4 multiplies
per output pixel instead of 9. Write the input transform; the checker combines it with
tinydip's filter and output transforms and compares with a direct convolution. Check your
work with:

    tinydip exercise check winograd_input_transform
"""

from __future__ import annotations

import numpy as np

# B^T of F(2x2, 3x3) (given)
BT = np.array([[1.0, 0.0, -1.0, 0.0],
               [0.0, 1.0, 1.0, 0.0],
               [0.0, -1.0, 1.0, 0.0],
               [0.0, 1.0, 0.0, -1.0]])


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

    Steps
    -----
    d = xp[c, 2 ty:2 ty + 4, 2 tx:2 tx + 4]
    v = BT @ d @ BT.T                       (that is B^T d B)
    V[4 a + b, c, ty * tw + tx] = v[a, b]

    Hints
    -----
    * ``BT.astype(x.dtype)``: a float64 matrix times float32 tiles gives float64.
    * Loops over ty and tx are fine; ``np.lib.stride_tricks.sliding_window_view`` gives all
      4x4 windows at once if you want no loops (then keep every second one).
    """
    C, H, W = x.shape
    # TODO: pad, cut the overlapping tiles, transform each, store in V (~10 lines).
    raise NotImplementedError("TODO: implement winograd_input_transform")
