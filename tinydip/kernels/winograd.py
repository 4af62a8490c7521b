"""Winograd F(2x2, 3x3) transforms: a 3x3, stride-1 convolution with 2.25x fewer multiplies.

Lavin & Gray (2016), "Fast Algorithms for Convolutional Neural Networks". Cut the padded
input into 4x4 tiles that overlap by 2 (tile t = (ty, tx) starts at padded pixel (2ty, 2tx))
and each tile produces a 2x2 block of the output. Per tile, with d the 4x4 input patch and g
one 3x3 filter,

    y = A^T [ (G g G^T) * (B^T d B) ] A          (* elementwise, y is 2x2)

    B^T = [[1, 0, -1, 0],   G = [[1,    0,   0],   A^T = [[1, 1,  1,  0],
           [0, 1,  1, 0],        [1/2, 1/2, 1/2],         [0, 1, -1, -1]]
           [0, -1, 1, 0],        [1/2, -1/2, 1/2],
           [0, 1,  0, -1]]       [0,    0,   1]]

Summing over input channels turns the 16 elementwise products into 16 matrix products
(one per position xi of the 4x4 transformed tile): M[xi] = U[xi] @ V[xi] with
U[xi] (F, C) the transformed filters and V[xi] (C, T) the transformed input tiles. A direct
3x3 convolution spends 9 multiplies per output pixel and channel pair; this one 16/4 = 4.

The four kernels here are the data transforms and their exact adjoints (transposes), which
the backward pass needs:

    winograd_input           x (C, H, W)      -> V (16, C, T)     V = B^T d B per tile
    winograd_input_adjoint   dV (16, C, T)    -> dx (C, H, W)     dx += scatter of B dV B^T
    winograd_output          M (16, F, T), b  -> out (F, H, W)    out = A^T m A + b per tile
    winograd_output_adjoint  dout (F, H, W)   -> dM (16, F, T)    dM = A dy A^T per tile

T = ceil(H/2) * ceil(W/2) tiles, row-major (t = ty * tw + tx). Every kernel can also work on a
band of whole tile rows: with ``ty0`` (first tile row) and a tile array of R * tw columns it
handles tile rows ty0 .. ty0 + R - 1 only, so a caller can run a large convolution band by
band through a small buffer (the adjoint still accumulates, and bands overlap by two padded
rows, so summing the bands' contributions gives the whole transpose). For odd sizes the last
tile row/column computes one output row/column past the image, which is dropped (and gets zero
gradient). Padding is 1 pixel, zeros or reflect (PyTorch ReflectionPad2d): each channel's band
is copied into a small padded plane (``pad_plane``; its transpose ``fold_plane`` adds the
gradient of mirrored pixels back to their sources), so the tile loops themselves have no
boundary cases.
"""

import numpy as np
from numba import njit, prange

from .im2col import src_index


def _pad_plane(xc, reflect, r0, p):
    """p (R, Wp) = rows r0 .. r0 + R - 1 of one channel xc (H, W) padded by 1 pixel (zeros or
    reflect).

    p[k, s] holds image pixel (r0 + k - 1, s - 1); rows/columns past the padded image (the last
    tile of an odd size reaches one further) are zero.
    """
    H, W = xc.shape
    R = p.shape[0]
    for k in range(R):
        r = r0 + k
        ir = src_index(r - 1, H, reflect) if r <= H + 1 else -1
        if ir < 0:
            p[k, :] = 0
            continue
        row = xc[ir]  # (W,)
        p[k, 1:W + 1] = row
        for s in (0, W + 1):  # the two padding columns
            js = src_index(s - 1, W, reflect)
            p[k, s] = row[js] if js >= 0 else 0
        p[k, W + 2:] = 0


def _fold_plane(p, reflect, r0, dxc):
    """Transpose of :func:`pad_plane`: dxc (H, W) += p (R, Wp), padded rows r0 .. r0 + R - 1,
    folded back onto the image."""
    H, W = dxc.shape
    R = p.shape[0]
    for k in range(R):
        r = r0 + k
        if r > H + 1:
            break
        ir = src_index(r - 1, H, reflect)
        if ir < 0:
            continue
        d = dxc[ir]  # (W,)
        s = p[k, 1:W + 1]
        for j in range(W):
            d[j] += s[j]
        for c in (0, W + 1):
            js = src_index(c - 1, W, reflect)
            if js >= 0:
                d[js] += p[k, c]


def _winograd_input(x, reflect, V, ty0=0):
    """x (C, H, W) -> V (16, C, R*tw): V[4a+b, c, t] = (B^T d B)[a, b], d = tile ty0*tw + t of
    channel c (R = V.shape[2] // tw tile rows from ty0; all of them: R = th, ty0 = 0).

    B^T is applied along the rows of a whole row of tiles at once (four padded rows in, four
    out, no dependence on the tile), then along the columns tile by tile: both loops are
    straight-line arithmetic on contiguous rows, which numba vectorises.
    """
    C, H, W = x.shape
    tw = (W + 1) // 2
    rows = V.shape[2] // tw
    for c in prange(C):
        p = np.empty((2 * rows + 2, 2 * tw + 2), dtype=x.dtype)  # the band of padded channel c
        pad_plane(x[c], reflect, 2 * ty0, p)
        u = np.empty((4, 2 * tw + 2), dtype=x.dtype)  # B^T (4 padded rows)
        for ty in range(rows):
            d0, d1, d2, d3 = p[2 * ty], p[2 * ty + 1], p[2 * ty + 2], p[2 * ty + 3]
            u0, u1, u2, u3 = u[0], u[1], u[2], u[3]
            for k in range(u.shape[1]):
                u0[k] = d0[k] - d2[k]
                u1[k] = d1[k] + d2[k]
                u2[k] = d2[k] - d1[k]
                u3[k] = d1[k] - d3[k]
            t0 = ty * tw
            for a in range(4):  # row a of every tile times B
                ua = u[a]
                v0, v1 = V[4 * a, c, t0:t0 + tw], V[4 * a + 1, c, t0:t0 + tw]
                v2, v3 = V[4 * a + 2, c, t0:t0 + tw], V[4 * a + 3, c, t0:t0 + tw]
                for tx in range(tw):
                    s = 2 * tx
                    v0[tx] = ua[s] - ua[s + 2]
                    v1[tx] = ua[s + 1] + ua[s + 2]
                    v2[tx] = ua[s + 2] - ua[s + 1]
                    v3[tx] = ua[s + 1] - ua[s + 3]


def _winograd_input_adjoint(dV, reflect, dx, ty0=0):
    """dV (16, C, R*tw) -> dx (C, H, W) += sum over tiles of B dV_t B^T, scattered back (tile
    rows ty0 .. ty0 + R - 1, as in :func:`winograd_input`).

    Accumulates into ``dx`` (zero it first for a plain transpose). Parallel over channels:
    channel c's tiles only write into its own padded plane, folded into dx[c] at the end.
    The steps of :func:`winograd_input` transposed and in reverse order.
    """
    C, H, W = dx.shape
    tw = (W + 1) // 2
    rows = dV.shape[2] // tw
    for c in prange(C):
        p = np.zeros((2 * rows + 2, 2 * tw + 2), dtype=dx.dtype)
        e = np.empty((4, 2 * tw + 2), dtype=dx.dtype)
        for ty in range(rows):
            t0 = ty * tw
            e[:] = 0
            for a in range(4):  # row a of every tile times B^T, overlapping tiles summed
                ea = e[a]
                v0, v1 = dV[4 * a, c, t0:t0 + tw], dV[4 * a + 1, c, t0:t0 + tw]
                v2, v3 = dV[4 * a + 2, c, t0:t0 + tw], dV[4 * a + 3, c, t0:t0 + tw]
                for tx in range(tw):
                    s = 2 * tx
                    ea[s] += v0[tx]
                    ea[s + 1] += v1[tx] - v2[tx] + v3[tx]
                    ea[s + 2] += v1[tx] + v2[tx] - v0[tx]
                    ea[s + 3] -= v3[tx]
            d0, d1, d2, d3 = p[2 * ty], p[2 * ty + 1], p[2 * ty + 2], p[2 * ty + 3]
            e0, e1, e2, e3 = e[0], e[1], e[2], e[3]
            for k in range(e.shape[1]):  # then B along the rows
                d0[k] += e0[k]
                d1[k] += e1[k] - e2[k] + e3[k]
                d2[k] += e1[k] + e2[k] - e0[k]
                d3[k] -= e3[k]
        fold_plane(p, reflect, 2 * ty0, dx[c])


def _winograd_output(M, b, out, ty0=0):
    """M (16, F, R*tw), b (F,) -> out (F, H, W): each tile's 2x2 block is A^T m A + b (tile
    rows ty0 .. ty0 + R - 1: output rows 2*ty0 .. 2*(ty0 + R) - 1)."""
    F, H, W = out.shape
    tw = (W + 1) // 2
    rows = M.shape[2] // tw
    for f in prange(F):
        bias = b[f]
        for ty in range(rows):
            for tx in range(tw):
                t = ty * tw + tx
                # s = A^T m: two rows of 4 (rows 0 and 1 of the 2x4 intermediate)
                s00 = M[0, f, t] + M[4, f, t] + M[8, f, t]
                s01 = M[1, f, t] + M[5, f, t] + M[9, f, t]
                s02 = M[2, f, t] + M[6, f, t] + M[10, f, t]
                s03 = M[3, f, t] + M[7, f, t] + M[11, f, t]
                s10 = M[4, f, t] - M[8, f, t] - M[12, f, t]
                s11 = M[5, f, t] - M[9, f, t] - M[13, f, t]
                s12 = M[6, f, t] - M[10, f, t] - M[14, f, t]
                s13 = M[7, f, t] - M[11, f, t] - M[15, f, t]
                y, x = 2 * (ty0 + ty), 2 * tx
                out[f, y, x] = s00 + s01 + s02 + bias
                if x + 1 < W:
                    out[f, y, x + 1] = s01 - s02 - s03 + bias
                if y + 1 < H:
                    out[f, y + 1, x] = s10 + s11 + s12 + bias
                    if x + 1 < W:
                        out[f, y + 1, x + 1] = s11 - s12 - s13 + bias


def _winograd_output_adjoint(dout, dM, ty0=0):
    """dout (F, H, W) -> dM (16, F, R*tw) = A dy A^T per tile (dy = the tile's 2x2 block;
    tile rows ty0 .. ty0 + R - 1).

    Output pixels past the image (odd sizes) count as zero gradient.
    """
    F, H, W = dout.shape
    tw = (W + 1) // 2
    rows = dM.shape[2] // tw
    zero = dout.dtype.type(0)  # a literal 0 would promote float32 to float64
    for f in prange(F):
        for ty in range(rows):
            for tx in range(tw):
                t = ty * tw + tx
                y, x = 2 * (ty0 + ty), 2 * tx
                g00 = dout[f, y, x]
                g01 = dout[f, y, x + 1] if x + 1 < W else zero
                g10 = dout[f, y + 1, x] if y + 1 < H else zero
                g11 = dout[f, y + 1, x + 1] if x + 1 < W and y + 1 < H else zero
                # rows of A dy, then columns: (p, q) -> (p, p + q, p - q, -q)
                write_adjoint_row(dM, 0, f, t, g00, g01)
                write_adjoint_row(dM, 4, f, t, g00 + g10, g01 + g11)
                write_adjoint_row(dM, 8, f, t, g00 - g10, g01 - g11)
                write_adjoint_row(dM, 12, f, t, -g10, -g11)


def _write_adjoint_row(dM, base, f, t, p, q):
    """dM[base:base+4, f, t] = (p, p + q, p - q, -q): one row of A dy A^T."""
    dM[base, f, t] = p
    dM[base + 1, f, t] = p + q
    dM[base + 2, f, t] = p - q
    dM[base + 3, f, t] = -q

pad_plane = njit(cache=True)(_pad_plane)
fold_plane = njit(cache=True)(_fold_plane)
write_adjoint_row = njit(cache=True, inline="always")(_write_adjoint_row)
winograd_input = njit(cache=True, parallel=True)(_winograd_input)
winograd_input_adjoint = njit(cache=True, parallel=True)(_winograd_input_adjoint)
winograd_output = njit(cache=True, parallel=True)(_winograd_output)
winograd_output_adjoint = njit(cache=True, parallel=True)(_winograd_output_adjoint)
