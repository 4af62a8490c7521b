"""Exercise upsample_backward (chapter 04_denoising): bilinear x2 upsampling, backward.

The decoder of Deep Image Prior's U-Net doubles the resolution with bilinear upsampling.
The forward pass is a fixed linear map U; its backward is the adjoint (transpose) U^T.
The forward is given; write the backward. Check your work with:

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

    Equation
    --------
    The forward is separable: out = U_H x U_W^T per image and channel, with U_n the (2n, n)
    matrix of :func:`_upsample_axis`. Hence dx = U_H^T dout U_W: apply the 1-D adjoint along
    W and along H. In 1-D, every out[o] = sum_i U[o, i] x[i] sends U[o, i] * dout[o] back:

        dx[i] = 3/4 (d[2i] + d[2i+1]) + 1/4 d[2i+2] + 1/4 d[2i-1]

    (terms outside 0..2n-1 do not exist) -- plus the clamped edges: out[0] used x[0] twice
    (1/4 + 3/4) and out[2n-1] used x[n-1] twice.

    Hints
    -----
    * Write ``_upsample_axis_adjoint(d, axis)`` mirroring :func:`_upsample_axis`:
      ``d[..., 0::2]`` and ``d[..., 1::2]`` are the even and odd outputs.
    * Test it with the dot-product test: np.vdot(U(x), y) == np.vdot(x, U^T(y)).
    """
    N, C, H, W = cache
    # TODO: write the 1-D adjoint and apply it along both spatial axes (~10 lines).
    raise NotImplementedError("TODO: implement upsample_backward")
