"""Winograd F(4x4, 3x3) transforms: the larger tile, 36 products instead of 16.

The same algorithm as :mod:`tinydip.kernels.winograd` (Lavin & Gray 2016) with 6x6 input
tiles at stride 4 (overlapping by 2; tile t = (ty, tx) starts at padded pixel (4ty, 4tx)), each
producing a 4x4 block of the output. Interpolation points 0, 1, -1, 2, -2 and infinity:

    y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, d 6x6, g 3x3, y 4x4)

    B^T = [[4,  0, -5,  0, 1, 0],   G = [[ 1/4,     0,    0],   A^T = [[1, 1,  1, 1,  1, 0],
           [0, -4, -4,  1, 1, 0],        [-1/6, -1/6, -1/6],           [0, 1, -1, 2, -2, 0],
           [0,  4, -4, -1, 1, 0],        [-1/6,  1/6, -1/6],           [0, 1,  1, 4,  4, 0],
           [0, -2, -1,  2, 1, 0],        [1/24, 1/12,  1/6],           [0, 1, -1, 8, -8, 1]]
           [0,  2, -1, -2, 1, 0],        [1/24, -1/12, 1/6],
           [0,  4,  0, -5, 0, 1]]        [   0,     0,    1]]

36 matrix products M[xi] = U[xi] @ V[xi] over T = ceil(H/4) * ceil(W/4) tiles: 36/16 = 2.25
multiplies per output pixel and channel pair (F(2x2, 3x3): 4, direct: 9), and 2.25 transformed
floats per pixel instead of 4. The price is accuracy: the transforms' larger coefficients cost
a few bits in float32 (see tests/test_kernels_winograd4.py for the measured error).

    winograd4_input           x (C, H, W)      -> V (36, C, T)     V = B^T d B per tile
    winograd4_input_adjoint   dV (36, C, T)    -> dx (C, H, W)     dx += scatter of B dV B^T
    winograd4_output          M (36, F, T), b  -> out (F, H, W)    out = A^T m A + b per tile
    winograd4_output_adjoint  dout (F, H, W)   -> dM (36, F, T)    dM = A dy A^T per tile

Tiles are row-major (t = ty * tw + tx, tw = ceil(W/4)). Bands of whole tile rows (``ty0``, a
tile array of R * tw columns), padding (zeros or reflect through ``pad_plane`` /
``fold_plane``, on a padded band plane of 4R + 2 rows) and the output pixels past the image
(dropped, zero gradient) work exactly as in :mod:`tinydip.kernels.winograd`. Every transform is
applied along the rows of a whole row of tiles at once (six rows in, vectorised along the row),
then along the columns tile by tile; the constants are of the array's dtype, so float32 stays
float32.
"""

import numpy as np
from numba import njit, prange

from .winograd import fold_plane, pad_plane


def _winograd4_input(x, reflect, V, ty0=0):
    """x (C, H, W) -> V (36, C, R*tw): V[6a+b, c, t] = (B^T d B)[a, b], d = 6x6 tile
    ty0*tw + t of channel c (R = V.shape[2] // tw tile rows from ty0).

    Notes
    -----
    B^T of six padded rows d0..d5 (and, tile by tile, of six columns), shared terms first:

        u0 = 4 (d0 - d2) + (d4 - d2)        u3 = (d4 - d2) + 2 (d3 - d1)
        u1 = (d4 - 4 d2) - (4 d1 - d3)      u4 = (d4 - d2) - 2 (d3 - d1)
        u2 = (d4 - 4 d2) + (4 d1 - d3)      u5 = 4 (d1 - d3) + (d5 - d3)
    """
    C, H, W = x.shape
    tw = (W + 3) // 4
    rows = V.shape[2] // tw
    two, four = x.dtype.type(2), x.dtype.type(4)  # literals would promote float32 to float64
    for c in prange(C):
        p = np.empty((4 * rows + 2, 4 * tw + 2), dtype=x.dtype)  # the band of padded channel c
        pad_plane(x[c], reflect, 4 * ty0, p)
        u = np.empty((6, 4 * tw + 2), dtype=x.dtype)  # B^T (6 padded rows)
        ph = np.empty((4, tw + 1), dtype=x.dtype)  # one row of u by phase: ph[j, t] = ua[4t + j]
        p0, p1, p2, p3 = ph[0], ph[1], ph[2], ph[3]
        for ty in range(rows):
            r = 4 * ty
            d0, d1, d2, d3, d4, d5 = p[r], p[r + 1], p[r + 2], p[r + 3], p[r + 4], p[r + 5]
            u0, u1, u2, u3, u4, u5 = u[0], u[1], u[2], u[3], u[4], u[5]
            for k in range(u.shape[1]):
                q, s = d4[k] - four * d2[k], four * d1[k] - d3[k]
                e, o = d4[k] - d2[k], two * (d3[k] - d1[k])
                u0[k] = four * (d0[k] - d2[k]) + e
                u1[k] = q - s
                u2[k] = q + s
                u3[k] = e + o
                u4[k] = e - o
                u5[k] = four * (d1[k] - d3[k]) + d5[k] - d3[k]
            t0 = ty * tw
            for a in range(6):  # row a of every tile times B
                ua = u[a]
                # split by phase first, so the tile loop reads contiguous rows (its six
                # stride-4 reads of overlapping tiles compiled to gathers: 1.7 -> 1.0 ms,
                # 36 channels, 256x256)
                for t in range(tw):
                    p0[t] = ua[4 * t]
                    p1[t] = ua[4 * t + 1]
                    p2[t] = ua[4 * t + 2]
                    p3[t] = ua[4 * t + 3]
                p0[tw], p1[tw] = ua[4 * tw], ua[4 * tw + 1]
                v0, v1 = V[6 * a, c, t0:t0 + tw], V[6 * a + 1, c, t0:t0 + tw]
                v2, v3 = V[6 * a + 2, c, t0:t0 + tw], V[6 * a + 3, c, t0:t0 + tw]
                v4, v5 = V[6 * a + 4, c, t0:t0 + tw], V[6 * a + 5, c, t0:t0 + tw]
                for tx in range(tw):  # the tile's six columns: p0..p3[tx], p0, p1[tx + 1]
                    q, s = p0[tx + 1] - four * p2[tx], four * p1[tx] - p3[tx]
                    e, o = p0[tx + 1] - p2[tx], two * (p3[tx] - p1[tx])
                    v0[tx] = four * (p0[tx] - p2[tx]) + e
                    v1[tx] = q - s
                    v2[tx] = q + s
                    v3[tx] = e + o
                    v4[tx] = e - o
                    v5[tx] = four * (p1[tx] - p3[tx]) + p1[tx + 1] - p3[tx]


def _winograd4_input_adjoint(dV, reflect, dx, ty0=0):
    """dV (36, C, R*tw) -> dx (C, H, W) += sum over tiles of B dV_t B^T, scattered back (tile
    rows ty0 .. ty0 + R - 1, as in :func:`winograd4_input`).

    Accumulates into ``dx`` (zero it first for a plain transpose). Parallel over channels, each
    channel's tiles written into its own padded plane, folded into dx[c] at the end.

    Notes
    -----
    B (the transpose of B^T) of six values v0..v5, along the rows then down the columns:

        k0 = 4 v0                                    k3 = (v1 - v2) + 2 (v3 - v4) - 5 v5
        k1 = 4 (v2 - v1 + v5) + 2 (v4 - v3)          k4 = v0 + v1 + v2 + v3 + v4
        k2 = -5 v0 - 4 (v1 + v2) - (v3 + v4)         k5 = v5

    Neighbouring tiles overlap by two pixels, so their contributions add up: pixel 4tx of a
    row receives k4 of tile tx - 1 and k0 of tile tx (4tx + 1: k5 and k1). The six k's of a
    whole row of tiles are computed first (independent tiles: the loop vectorises), then each
    pixel of the row is written once, its terms added in tile order (the same numbers, up to
    the sign of a zero, as a tile-by-tile scatter into a zeroed row, without its dependence
    from one tile to the next: 1.8x faster at 36 channels, 128x128; writing instead of adding
    into the zeroed row, 4.9 -> 4.1 ms at 256x256).
    """
    C, H, W = dx.shape
    tw = (W + 3) // 4
    rows = dV.shape[2] // tw
    two, four, five = dx.dtype.type(2), dx.dtype.type(4), dx.dtype.type(5)
    for c in prange(C):
        p = np.zeros((4 * rows + 2, 4 * tw + 2), dtype=dx.dtype)
        e = np.empty((6, 4 * tw + 2), dtype=dx.dtype)
        k = np.empty((6, tw), dtype=dx.dtype)  # k0..k5 of row a of every tile
        k0, k1, k2, k3, k4, k5 = k[0], k[1], k[2], k[3], k[4], k[5]
        for ty in range(rows):
            t0 = ty * tw
            for a in range(6):  # row a of every tile times B^T, overlapping tiles summed
                ea = e[a]
                v0, v1 = dV[6 * a, c, t0:t0 + tw], dV[6 * a + 1, c, t0:t0 + tw]
                v2, v3 = dV[6 * a + 2, c, t0:t0 + tw], dV[6 * a + 3, c, t0:t0 + tw]
                v4, v5 = dV[6 * a + 4, c, t0:t0 + tw], dV[6 * a + 5, c, t0:t0 + tw]
                for tx in range(tw):
                    k0[tx] = four * v0[tx]
                    k1[tx] = four * (v2[tx] - v1[tx] + v5[tx]) + two * (v4[tx] - v3[tx])
                    k2[tx] = five * v0[tx] + four * (v1[tx] + v2[tx]) + v3[tx] + v4[tx]
                    k3[tx] = v1[tx] - v2[tx] + two * (v3[tx] - v4[tx]) - five * v5[tx]
                    k4[tx] = v0[tx] + v1[tx] + v2[tx] + v3[tx] + v4[tx]
                    k5[tx] = v5[tx]
                ea[0], ea[1], ea[2], ea[3] = k0[0], k1[0], -k2[0], k3[0]
                for tx in range(1, tw):  # pixel 4tx: k4 of tile tx - 1, then k0 of tile tx
                    s = 4 * tx
                    ea[s] = k4[tx - 1] + k0[tx]
                    ea[s + 1] = k5[tx - 1] + k1[tx]
                    ea[s + 2] = -k2[tx]
                    ea[s + 3] = k3[tx]
                ea[4 * tw], ea[4 * tw + 1] = k4[tw - 1], k5[tw - 1]
            r = 4 * ty
            d0, d1, d2, d3, d4, d5 = p[r], p[r + 1], p[r + 2], p[r + 3], p[r + 4], p[r + 5]
            e0, e1, e2, e3, e4, e5 = e[0], e[1], e[2], e[3], e[4], e[5]
            for k in range(e.shape[1]):  # then B along the rows
                d0[k] += four * e0[k]
                d1[k] += four * (e2[k] - e1[k] + e5[k]) + two * (e4[k] - e3[k])
                d2[k] -= five * e0[k] + four * (e1[k] + e2[k]) + e3[k] + e4[k]
                d3[k] += e1[k] - e2[k] + two * (e3[k] - e4[k]) - five * e5[k]
                d4[k] += e0[k] + e1[k] + e2[k] + e3[k] + e4[k]
                d5[k] += e5[k]
        fold_plane(p, reflect, 4 * ty0, dx[c])


def _winograd4_output(M, b, out, ty0=0):
    """M (36, F, R*tw), b (F,) -> out (F, H, W): each tile's 4x4 block is A^T m A + b (tile
    rows ty0 .. ty0 + R - 1: output rows 4*ty0 .. 4*(ty0 + R) - 1, those past H dropped).

    Notes
    -----
    A^T of six values m0..m5 (down the columns for a whole row of tiles, then along the rows):

        y0 = m0 + (m1 + m2) + (m3 + m4)          y2 = (m1 + m2) + 4 (m3 + m4)
        y1 = (m1 - m2) + 2 (m3 - m4)             y3 = (m1 - m2) + 8 (m3 - m4) + m5
    """
    F, H, W = out.shape
    tw = (W + 3) // 4
    rows = M.shape[2] // tw
    two, four, eight = out.dtype.type(2), out.dtype.type(4), out.dtype.type(8)
    for f in prange(F):
        bias = b[f]
        s = np.empty((4, 6, tw), dtype=out.dtype)  # A^T m of every tile of the row
        row = np.empty(4 * tw, dtype=out.dtype)  # one output row (past W: dropped)
        for ty in range(rows):
            t0 = ty * tw
            for j in range(6):  # column j of every tile
                m0, m1, m2 = M[j, f, t0:t0 + tw], M[6 + j, f, t0:t0 + tw], M[12 + j, f, t0:t0 + tw]
                m3, m4, m5 = M[18 + j, f, t0:t0 + tw], M[24 + j, f, t0:t0 + tw], \
                    M[30 + j, f, t0:t0 + tw]
                s0, s1, s2, s3 = s[0, j], s[1, j], s[2, j], s[3, j]
                for tx in range(tw):
                    ep, em = m1[tx] + m2[tx], m1[tx] - m2[tx]
                    fp, fm = m3[tx] + m4[tx], m3[tx] - m4[tx]
                    s0[tx] = m0[tx] + ep + fp
                    s1[tx] = em + two * fm
                    s2[tx] = ep + four * fp
                    s3[tx] = em + eight * fm + m5[tx]
            for i in range(4):  # row i of every tile times A
                y = 4 * (ty0 + ty) + i
                if y >= H:
                    break
                si = s[i]
                for tx in range(tw):
                    ep, em = si[1, tx] + si[2, tx], si[1, tx] - si[2, tx]
                    fp, fm = si[3, tx] + si[4, tx], si[3, tx] - si[4, tx]
                    x = 4 * tx
                    row[x] = si[0, tx] + ep + fp + bias
                    row[x + 1] = em + two * fm + bias
                    row[x + 2] = ep + four * fp + bias
                    row[x + 3] = em + eight * fm + si[5, tx] + bias
                out[f, y, :] = row[:W]


def _winograd4_output_adjoint(dout, dM, ty0=0):
    """dout (F, H, W) -> dM (36, F, R*tw) = A dy A^T per tile (dy = the tile's 4x4 block;
    tile rows ty0 .. ty0 + R - 1).

    Output pixels past the image count as zero gradient.

    Notes
    -----
    A (the transpose of A^T) of four values g0..g3, along the rows then down the columns:

        k0 = g0     k1 = (g0 + g2) + (g1 + g3)      k3 = (g0 + 4 g2) + (2 g1 + 8 g3)
        k5 = g3     k2 = (g0 + g2) - (g1 + g3)      k4 = (g0 + 4 g2) - (2 g1 + 8 g3)
    """
    F, H, W = dout.shape
    tw = (W + 3) // 4
    rows = dM.shape[2] // tw
    two, four, eight = dout.dtype.type(2), dout.dtype.type(4), dout.dtype.type(8)
    for f in prange(F):
        g = np.zeros((4, 4 * tw), dtype=dout.dtype)  # the tile row's 4 output rows, 0 past W
        h = np.empty((4, 6, tw), dtype=dout.dtype)  # A of every tile's rows
        for ty in range(rows):
            y0 = 4 * (ty0 + ty)
            for i in range(4):
                if y0 + i < H:
                    g[i, :W] = dout[f, y0 + i]
                else:
                    g[i, :] = 0
            for i in range(4):  # row i of every tile times A^T
                gi = g[i]
                h0, h1, h2, h3, h4, h5 = h[i, 0], h[i, 1], h[i, 2], h[i, 3], h[i, 4], h[i, 5]
                for tx in range(tw):
                    x = 4 * tx
                    ep, op = gi[x] + gi[x + 2], gi[x + 1] + gi[x + 3]
                    e4, o8 = gi[x] + four * gi[x + 2], two * gi[x + 1] + eight * gi[x + 3]
                    h0[tx] = gi[x]
                    h1[tx] = ep + op
                    h2[tx] = ep - op
                    h3[tx] = e4 + o8
                    h4[tx] = e4 - o8
                    h5[tx] = gi[x + 3]
            t0 = ty * tw
            for j in range(6):  # column j of every tile: A times it
                g0, g1, g2, g3 = h[0, j], h[1, j], h[2, j], h[3, j]
                k0, k1, k2 = dM[j, f, t0:t0 + tw], dM[6 + j, f, t0:t0 + tw], \
                    dM[12 + j, f, t0:t0 + tw]
                k3, k4, k5 = dM[18 + j, f, t0:t0 + tw], dM[24 + j, f, t0:t0 + tw], \
                    dM[30 + j, f, t0:t0 + tw]
                for tx in range(tw):
                    ep, op = g0[tx] + g2[tx], g1[tx] + g3[tx]
                    e4, o8 = g0[tx] + four * g2[tx], two * g1[tx] + eight * g3[tx]
                    k0[tx] = g0[tx]
                    k1[tx] = ep + op
                    k2[tx] = ep - op
                    k3[tx] = e4 + o8
                    k4[tx] = e4 - o8
                    k5[tx] = g3[tx]

winograd4_input = njit(cache=True, parallel=True)(_winograd4_input)
winograd4_input_adjoint = njit(cache=True, parallel=True)(_winograd4_input_adjoint)
winograd4_output = njit(cache=True, parallel=True)(_winograd4_output)
winograd4_output_adjoint = njit(cache=True, parallel=True)(_winograd4_output_adjoint)
