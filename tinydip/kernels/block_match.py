"""Block matching and patch aggregation for grouped (BM3D-style) filtering.

Images are (H, W) float64 planes; a patch is named by its top-left corner (row, col) and is
``p x p``. :func:`block_match` finds, for each reference patch, the patches of the same
plane most similar to it (mean squared difference) inside a search window;
:func:`gather` stacks the patches of groups; :func:`aggregate` adds weighted patch estimates
back into numerator/denominator planes.
All are parallel only where writes cannot collide (over references, groups, planes).
"""

import numpy as np
from numba import njit, prange


def _block_match(img, refs, p, radius, max_group, tau, idx, count):
    """For each reference patch, up to ``max_group`` most similar patches of ``img``.

    img (H, W); refs (R, 2) top-left corners. Writes idx (R, max_group, 2): the corners of
    the kept patches sorted by distance (the reference itself first), and count (R,): how
    many were kept (>= 1). Candidates: every corner within ``radius`` rows and columns of
    the reference (clipped to the image) whose mean squared difference to it is <= tau.
    Ties keep the earlier candidate in row-major scan order.
    """
    H, W = img.shape
    for r in prange(refs.shape[0]):
        r0 = refs[r, 0]
        c0 = refs[r, 1]
        best_d = np.full(max_group, np.inf)
        best_i = np.zeros((max_group, 2), dtype=np.int64)
        n = 0
        for i in range(max(0, r0 - radius), min(H - p, r0 + radius) + 1):
            for j in range(max(0, c0 - radius), min(W - p, c0 + radius) + 1):
                d = 0.0
                for a in range(p):
                    for b in range(p):
                        t = img[i + a, j + b] - img[r0 + a, c0 + b]
                        d += t * t
                d /= p * p
                if i == r0 and j == c0:
                    d = -1.0  # the reference always comes first
                elif d > tau:
                    continue
                if n == max_group and d >= best_d[n - 1]:
                    continue
                k = n if n < max_group else n - 1  # insertion into the sorted kept list
                while k > 0 and best_d[k - 1] > d:
                    best_d[k] = best_d[k - 1]
                    best_i[k, 0] = best_i[k - 1, 0]
                    best_i[k, 1] = best_i[k - 1, 1]
                    k -= 1
                best_d[k] = d
                best_i[k, 0] = i
                best_i[k, 1] = j
                if n < max_group:
                    n += 1
        count[r] = n
        for k in range(n):
            idx[r, k, 0] = best_i[k, 0]
            idx[r, k, 1] = best_i[k, 1]


def _gather(planes, corners, p, out):
    """out[g, m, c] = planes[c, r0:r0 + p, c0:c0 + p] for (r0, c0) = corners[g, m].

    planes (C, H, W); corners (G, n, 2); out (G, n, C, p, p), written in place. Parallel over
    groups (each writes its own rows of out).
    """
    G, n = corners.shape[:2]
    C = planes.shape[0]
    for g in prange(G):
        for m in range(n):
            r0 = corners[g, m, 0]
            c0 = corners[g, m, 1]
            for c in range(C):
                for a in range(p):
                    for b in range(p):
                        out[g, m, c, a, b] = planes[c, r0 + a, c0 + b]


def _aggregate(num, den, est, corners, weight, window):
    """num[c, rows, cols] += weight * window * est; den[c, rows, cols] += weight * window.

    num, den (C, H, W) accumulated in place; est (G, n, C, p, p) estimates of the n patches
    of G groups; corners (G, n, 2) their top-left corners; weight (G, C) one weight per
    group and plane; window (p, p). Parallel over planes (each plane's writes are its own).
    """
    G, n, C, p, _ = est.shape
    for c in prange(C):
        for g in range(G):
            w = weight[g, c]
            for m in range(n):
                r0 = corners[g, m, 0]
                c0 = corners[g, m, 1]
                for a in range(p):
                    for b in range(p):
                        ww = w * window[a, b]
                        num[c, r0 + a, c0 + b] += ww * est[g, m, c, a, b]
                        den[c, r0 + a, c0 + b] += ww


block_match = njit(cache=True, parallel=True)(_block_match)
gather = njit(cache=True, parallel=True)(_gather)
aggregate = njit(cache=True, parallel=True)(_aggregate)
