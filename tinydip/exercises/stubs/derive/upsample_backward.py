"""Exercise upsample_backward, level derive (chapter 04_denoising):
bilinear x2 upsampling, backward.

The decoder of Deep Image Prior's U-Net doubles the resolution with bilinear upsampling.
The forward pass is a fixed linear map U; its backward is the adjoint (transpose) U^T.
The forward is given; derive the backward. Check your work with:

    tinydip exercise check upsample_backward
"""

from __future__ import annotations

import numpy as np


def _upsample_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """x2 bilinear (half-pixel centres, clamped edges) along one axis (given).

    With n = x.shape[axis], for i = 0..n-1:
        out[2i]     = 1/4 x[i-1] + 3/4 x[i]      (x[-1] is clamped to x[0])
        out[2i + 1] = 3/4 x[i]   + 1/4 x[i+1]    (x[n]  is clamped to x[n-1])
    """
    x = np.moveaxis(x, axis, -1)
    left = np.concatenate([x[..., :1], x[..., :-1]], axis=-1)  # x[i-1], clamped
    right = np.concatenate([x[..., 1:], x[..., -1:]], axis=-1)  # x[i+1], clamped
    out = np.empty(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    out[..., 0::2] = 0.25 * left + 0.75 * x
    out[..., 1::2] = 0.75 * x + 0.25 * right
    return np.moveaxis(out, -1, axis)


def upsample_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """(N, C, H, W) -> (N, C, 2H, 2W), bilinear (given, do not change). cache = x.shape."""
    return _upsample_axis(_upsample_axis(x, 2), 3), x.shape


def upsample_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Backward pass of :func:`upsample_forward`: the adjoint of the linear map.

    Parameters
    ----------
    dout : (N, C, 2H, 2W) upstream gradient.
    cache : the input shape (N, C, H, W).

    Returns
    -------
    dx : (N, C, H, W), same dtype as dout.

    To derive
    ---------
    The forward is a fixed linear map out = U x; its backward is the adjoint U^T. Read
    :func:`_upsample_axis`: which outputs use x[i], with which weights -- including at the
    clamped edges? Every one of them sends (weight * dout) back to x[i]. The map is
    separable: the 2-D adjoint is the 1-D adjoint along each axis.
    Test it with the dot-product identity np.vdot(U(x), y) == np.vdot(x, U^T(y)).
    """
    N, C, H, W = cache
    # TODO: derive the 1-D adjoint and apply it along both spatial axes.
    raise NotImplementedError("TODO: implement upsample_backward")
