"""Exercise blur_adjoint, level derive (chapter 06_super_resolution):
the adjoint of a blur operator.

Deblurring fits ||A f(z) - y||^2 with A a fixed blur; its gradient needs A^T. The blur is
given (reflect padding, then a convolution with the kernel k); derive its adjoint. The
checker's first check is the dot-product test. Check your work with:

    tinydip exercise check blur_adjoint
"""

from __future__ import annotations

import numpy as np


def blur_forward(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """A x (given, do not change): "same"-size convolution with k, reflect boundary.

    x : (N, C, H, W).  k : (kh, kw), odd sides, radius rh = kh // 2, rw = kw // 2.

        xpad = np.pad(x, rh rows / rw columns on every side, mode="reflect")
        out[y, x] = sum_{i, j} kf[i, j] * xpad[y + i, x + j],   kf = k flipped (k[::-1, ::-1])

    ("reflect" mirrors about the edge pixel: padded row -1 is row 1, -2 is row 2.)
    """
    N, C, H, W = x.shape
    kh, kw = k.shape
    rh, rw = kh // 2, kw // 2
    xpad = np.pad(x, ((0, 0), (0, 0), (rh, rh), (rw, rw)), mode="reflect")
    kf = k[::-1, ::-1]  # a true convolution flips the kernel
    out = np.zeros_like(x)
    for i in range(kh):
        for j in range(kw):
            out += kf[i, j] * xpad[:, :, i:i + H, j:j + W]
    return out


def blur_adjoint(dy: np.ndarray, k: np.ndarray) -> np.ndarray:
    """A^T dy, the adjoint of :func:`blur_forward`.

    Parameters
    ----------
    dy : (N, C, H, W).  k : the kernel of the forward.

    Returns
    -------
    dx : (N, C, H, W), same dtype as dy, such that for all x, y
         np.vdot(blur_forward(x, k), y) == np.vdot(x, blur_adjoint(y, k)).

    To derive
    ---------
    Write the forward as a composition of two linear maps: the padding (which pixel of x does
    each padded pixel copy?) and the 'valid' convolution (which padded pixels does each
    output read, with which weight?). The adjoint of a composition is the composition of the
    adjoints in reverse order; the adjoint of "copy" is "add back".
    Test with the dot-product identity above on random x, y.
    """
    N, C, H, W = dy.shape
    kh, kw = k.shape  # radii rh = kh // 2, rw = kw // 2
    # TODO: derive and compute A^T dy.
    raise NotImplementedError("TODO: implement blur_adjoint")
