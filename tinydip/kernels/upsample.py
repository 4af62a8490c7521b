"""Upsampling by an integer factor s: bilinear (half-pixel centres) and nearest.

Arrays are (P, H, W) planes (P = N*C); outputs (P, s*H, s*W). Parallel over planes: each
plane's writes are disjoint, so backward (a scatter-add) is race-free too.

Bilinear follows PyTorch ``align_corners=False``: output pixel o samples the input at
``src = (o + 0.5)/s - 0.5`` clamped below at 0, between ``i0 = floor(src)`` and
``i1 = min(i0 + 1, n - 1)`` with weight ``l = src - i0`` on i1.
Nearest follows PyTorch ``mode="nearest"``: ``src = floor(o / s)``.
"""

import math

import numpy as np
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


def _tables(n, s):
    """Per-output-coordinate bilinear tables along one axis: (i0, i1, l), each of length s*n."""
    i0 = np.empty(n * s, np.int64)
    i1 = np.empty(n * s, np.int64)
    lam = np.empty(n * s, np.float64)
    for o in range(n * s):
        i0[o], i1[o], lam[o] = coords(o, s, n)
    return i0, i1, lam


def _bilinear_forward(x, s, out):
    """x: (P, H, W) -> out: (P, s*H, s*W), written in place.

    Separable: each input row is interpolated along W once into a (H, s*W) scratch, then every
    output row blends two scratch rows (contiguous, vectorised).
    """
    P, H, W = x.shape
    y0, y1, ly = tables(H, s)
    x0, x1, lx = tables(W, s)
    for p in prange(P):
        tmp = np.empty((H, W * s), out.dtype)
        for iy in range(H):
            row = x[p, iy]
            t = tmp[iy]
            for ox in range(W * s):
                t[ox] = (1.0 - lx[ox]) * row[x0[ox]] + lx[ox] * row[x1[ox]]
        for oy in range(H * s):
            a = tmp[y0[oy]]
            b = tmp[y1[oy]]
            w = ly[oy]
            o = out[p, oy]
            for ox in range(W * s):
                o[ox] = (1.0 - w) * a[ox] + w * b[ox]


def _bilinear_backward(dout, s, dx):
    """Adjoint of bilinear_forward: dx (P, H, W) = scatter of dout (P, s*H, s*W). Overwrites dx.

    The transpose of the separable forward: output rows are accumulated into a (H, s*W)
    scratch (vectorised row adds), then each scratch row is scattered along W.
    """
    P, H, W = dx.shape
    y0, y1, ly = tables(H, s)
    x0, x1, lx = tables(W, s)
    for p in prange(P):
        tmp = np.zeros((H, W * s), dx.dtype)
        for oy in range(H * s):
            g = dout[p, oy]
            a = tmp[y0[oy]]
            w = ly[oy]
            for ox in range(W * s):
                a[ox] += (1.0 - w) * g[ox]
            b = tmp[y1[oy]]
            for ox in range(W * s):
                b[ox] += w * g[ox]
        for iy in range(H):
            d = dx[p, iy]
            d[:] = 0.0
            t = tmp[iy]
            for ox in range(W * s):
                d[x0[ox]] += (1.0 - lx[ox]) * t[ox]
                d[x1[ox]] += lx[ox] * t[ox]


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
tables = njit(cache=True)(_tables)
bilinear_forward = njit(cache=True, parallel=True)(_bilinear_forward)
bilinear_backward = njit(cache=True, parallel=True)(_bilinear_backward)
nearest_forward = njit(cache=True, parallel=True)(_nearest_forward)
nearest_backward = njit(cache=True, parallel=True)(_nearest_backward)
