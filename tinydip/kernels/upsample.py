"""Upsampling by an integer factor s: bilinear (half-pixel centres) and nearest.

Arrays are (P, H, W) planes (P = N*C); outputs (P, s*H, s*W). Parallel over planes: each
plane's writes are disjoint, so backward (a scatter-add) is race-free too.

Bilinear follows PyTorch ``align_corners=False``: output pixel o samples the input at
``src = (o + 0.5)/s - 0.5`` clamped below at 0, between ``i0 = floor(src)`` and
``i1 = min(i0 + 1, n - 1)`` with weight ``l = src - i0`` on i1.
Nearest follows PyTorch ``mode="nearest"``: ``src = floor(o / s)``.
"""

import math

from numba import njit, prange


def _coords(o, s, n):
    """Bilinear source indices and weight for output coordinate o: (i0, i1, l)."""
    src = (o + 0.5) / s - 0.5
    if src < 0.0:
        src = 0.0
    i0 = int(math.floor(src))
    if i0 > n - 1:
        i0 = n - 1
    i1 = i0 + 1 if i0 < n - 1 else i0
    return i0, i1, src - i0


def _bilinear_forward(x, s, out):
    """x: (P, H, W) -> out: (P, s*H, s*W), written in place."""
    P, H, W = x.shape
    for p in prange(P):
        for oy in range(H * s):
            y0, y1, ly = coords(oy, s, H)
            for ox in range(W * s):
                x0, x1, lx = coords(ox, s, W)
                top = (1.0 - lx) * x[p, y0, x0] + lx * x[p, y0, x1]
                bot = (1.0 - lx) * x[p, y1, x0] + lx * x[p, y1, x1]
                out[p, oy, ox] = (1.0 - ly) * top + ly * bot


def _bilinear_backward(dout, s, dx):
    """Adjoint of bilinear_forward: dx (P, H, W) = scatter of dout (P, s*H, s*W). Overwrites dx."""
    P, H, W = dx.shape
    for p in prange(P):
        dx[p, :, :] = 0.0
        for oy in range(H * s):
            y0, y1, ly = coords(oy, s, H)
            for ox in range(W * s):
                x0, x1, lx = coords(ox, s, W)
                g = dout[p, oy, ox]
                gt = (1.0 - ly) * g
                gb = ly * g
                dx[p, y0, x0] += (1.0 - lx) * gt
                dx[p, y0, x1] += lx * gt
                dx[p, y1, x0] += (1.0 - lx) * gb
                dx[p, y1, x1] += lx * gb


def _nearest_forward(x, s, out):
    """x: (P, H, W) -> out: (P, s*H, s*W): every input pixel becomes an s x s block."""
    P, H, W = x.shape
    for p in prange(P):
        for oy in range(H * s):
            iy = oy // s
            for ox in range(W * s):
                out[p, oy, ox] = x[p, iy, ox // s]


def _nearest_backward(dout, s, dx):
    """Adjoint of nearest_forward: each dx pixel is the sum of its s x s block. Overwrites dx."""
    P, H, W = dx.shape
    for p in prange(P):
        dx[p, :, :] = 0.0
        for oy in range(H * s):
            iy = oy // s
            for ox in range(W * s):
                dx[p, iy, ox // s] += dout[p, oy, ox]


coords = njit(cache=True, inline="always")(_coords)
bilinear_forward = njit(cache=True, parallel=True)(_bilinear_forward)
bilinear_backward = njit(cache=True, parallel=True)(_bilinear_backward)
nearest_forward = njit(cache=True, parallel=True)(_nearest_forward)
nearest_backward = njit(cache=True, parallel=True)(_nearest_backward)
