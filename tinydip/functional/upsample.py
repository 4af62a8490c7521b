"""Upsampling by an integer factor (bilinear with half-pixel centres, or nearest).

Shapes: x (N, C, H, W) -> out (N, C, s*H, s*W).
"""

import numpy as np

from ..kernels import bilinear_backward, bilinear_forward, nearest_backward, nearest_forward

MODES = ("bilinear", "nearest")


def upsample_forward(x, scale=2, mode="bilinear"):
    """Upsample x by ``scale``. Returns out, cache.

    Notes
    -----
    Bilinear (PyTorch align_corners=False): out[o] = (1-l) x[i0] + l x[i1] along each axis with
    src = max((o + 0.5)/s - 0.5, 0), i0 = floor(src), i1 = min(i0+1, n-1), l = src - i0.
    Nearest: out[o] = x[floor(o/s)].
    """
    N, C, H, W = x.shape
    out = np.empty((N, C, H * scale, W * scale), dtype=x.dtype)
    kernel = bilinear_forward if mode == "bilinear" else nearest_forward
    kernel(x.reshape(N * C, H, W), scale, out.reshape(N * C, H * scale, W * scale))
    return out, (x.shape, scale, mode)


def upsample_backward(dout, cache):
    """The adjoint (transpose) of the linear map in :func:`upsample_forward`."""
    (N, C, H, W), scale, mode = cache
    dx = np.empty((N, C, H, W), dtype=dout.dtype)
    kernel = bilinear_backward if mode == "bilinear" else nearest_backward
    dout = np.ascontiguousarray(dout)
    kernel(dout.reshape(N * C, H * scale, W * scale), scale, dx.reshape(N * C, H, W))
    return dx
