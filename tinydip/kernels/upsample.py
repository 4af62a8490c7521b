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


# the x2 weights as float64, like the generic tables (plain Python then computes as numba does)
ZERO, QUARTER, THREE_QUARTERS, ONE = np.float64(0.0), np.float64(0.25), np.float64(0.75), \
    np.float64(1.0)


def _row2_forward(row, t):
    """t (2n,) = row (n,) upsampled x2 along its length, n >= 2: the generic formula
    (1 - l) a + l b (float64, l = 0 at the first pixel, else 0.75 / 0.25) without the index
    tables' gathers, so bit for bit the same numbers."""
    n = row.shape[0]
    t[0] = ONE * row[0] + ZERO * row[1]
    for k in range(1, n):
        t[2 * k] = QUARTER * row[k - 1] + THREE_QUARTERS * row[k]
    for k in range(n - 1):
        t[2 * k + 1] = THREE_QUARTERS * row[k] + QUARTER * row[k + 1]
    t[2 * n - 1] = THREE_QUARTERS * row[n - 1] + QUARTER * row[n - 1]


def _row2_backward(t, d):
    """d (n,) = the adjoint of :func:`_row2_forward` applied to t (2n,), n >= 2: each d[j]
    gathers its (at most five) weighted entries of t in the order the generic scatter adds
    them, rounding to d's dtype after every addition as it does (bit for bit the same)."""
    n = d.shape[0]
    for j in range(n):
        d[j] = 0.0
    d[1] += ZERO * t[0]  # output 0 puts weight l = 0 on pixel 1 (kept: NaN/inf propagate alike)
    d[0] += ONE * t[0]
    d[0] += THREE_QUARTERS * t[1]
    d[0] += QUARTER * t[2]
    for j in range(1, n - 1):
        d[j] += QUARTER * t[2 * j - 1]
        d[j] += THREE_QUARTERS * t[2 * j]
        d[j] += THREE_QUARTERS * t[2 * j + 1]
        d[j] += QUARTER * t[2 * j + 2]
    j = n - 1  # the last output pixel weighs pixel n-1 twice (i0 = i1 = n-1)
    d[j] += QUARTER * t[2 * j - 1]
    d[j] += THREE_QUARTERS * t[2 * j]
    d[j] += THREE_QUARTERS * t[2 * j + 1]
    d[j] += QUARTER * t[2 * j + 1]


def _bilinear_forward(x, s, out):
    """x: (P, H, W) -> out: (P, s*H, s*W), written in place.

    Separable: each input row is interpolated along W once into a (H, s*W) scratch, then every
    output row blends two scratch rows (contiguous, vectorised). For s = 2 the rows take
    :func:`_row2_forward` (the same numbers, no gathers: 2x faster).
    """
    P, H, W = x.shape
    y0, y1, ly = tables(H, s)
    x0, x1, lx = tables(W, s)
    for p in prange(P):
        tmp = np.empty((H, W * s), out.dtype)
        for iy in range(H):
            row = x[p, iy]
            t = tmp[iy]
            if s == 2 and W >= 2:
                row2_forward(row, t)
                continue
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
    scratch (vectorised row adds), then each scratch row is scattered along W (for s = 2
    gathered by :func:`_row2_backward`: the same numbers, 2x faster).
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
            t = tmp[iy]
            if s == 2 and W >= 2:
                row2_backward(t, d)
                continue
            d[:] = 0.0
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
row2_forward = njit(cache=True, inline="always")(_row2_forward)
row2_backward = njit(cache=True, inline="always")(_row2_backward)
tables = njit(cache=True)(_tables)
bilinear_forward = njit(cache=True, parallel=True)(_bilinear_forward)
bilinear_backward = njit(cache=True, parallel=True)(_bilinear_backward)
nearest_forward = njit(cache=True, parallel=True)(_nearest_forward)
nearest_backward = njit(cache=True, parallel=True)(_nearest_backward)
