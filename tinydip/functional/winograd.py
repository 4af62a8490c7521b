"""3x3, stride-1 convolution by Winograd F(2x2, 3x3): forward and backward.

Same contract as :mod:`tinydip.functional.conv` (x (N, C, H, W), w (F, C, 3, 3), b (F,),
"same" padding of 1, zeros or reflect, out (N, F, H, W)), computed with 16 matrix products of
size (F, C) x (C, T) instead of one of size (F, 9C) x (9C, H*W), T = ceil(H/2)*ceil(W/2) tiles:
4 multiplies per output pixel and channel pair instead of 9. The transforms are in
:mod:`tinydip.kernels.winograd`.

Large images run band by band: the transformed input V and the products M of a band of whole
tile rows at a time (:data:`BAND_BYTES` per buffer), so the scratch memory does not grow with
the image (un-banded, V and M of one 512x512 layer with 128 channels are 512 MB each).

Measured on the paper's U-Net at 128x128 (2 cores): see benchmarks/README.md.
"""

import functools
from typing import NamedTuple

import numpy as np

from ..kernels.winograd import (
    winograd_input,
    winograd_input_adjoint,
    winograd_output,
    winograd_output_adjoint,
)
from .gemm import batched_gemm, batched_gemm_nt_acc
from .workspace import workspace

# size of one band's scratch buffer (V, M, dM or dV); see bands()
BAND_BYTES = 8 * 2**20

# G maps a 3-tap filter to the 4 points of the transformed tile (Lavin & Gray 2016)
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])


class WinogradCache(NamedTuple):
    """What :func:`conv2d_winograd_forward` keeps for :func:`conv2d_winograd_backward`."""

    x: np.ndarray  # (N, C, H, W) the input
    w: np.ndarray  # (F, C, 3, 3) the weights
    U: np.ndarray  # (16, F, C) the transformed filters
    has_bias: bool
    padding: str  # "zeros" or "reflect"
    tiles: np.ndarray | None  # (N, 16, C, T) transformed input if kept, else None


def num_tiles(H: int, W: int) -> int:
    """Number of 2x2 output tiles covering an H x W image: ceil(H/2) * ceil(W/2)."""
    return ((H + 1) // 2) * ((W + 1) // 2)


def bands(H: int, W: int, channels: int, itemsize: int) -> list[tuple[int, int]]:
    """Tile-row bands ``(ty0, rows)`` covering an H x W image, each with a (16, channels,
    rows * tw) buffer of at most :data:`BAND_BYTES` (at least one tile row per band)."""
    th, tw = (H + 1) // 2, (W + 1) // 2
    rows = max(1, min(th, BAND_BYTES // (16 * channels * tw * itemsize)))
    return [(ty0, min(rows, th - ty0)) for ty0 in range(0, th, rows)]


@functools.cache
def _filter_transform(dtype) -> np.ndarray:
    """K (16, 9) = kron(G, G): row 4a+b maps a flattened 3x3 filter to (G g G^T)[a, b]
    (made once per dtype, read-only: two calls per layer and step measured 1 ms a step)."""
    k = np.kron(_G, _G).astype(dtype)
    k.flags.writeable = False
    return k


def winograd_filters(w: np.ndarray) -> np.ndarray:
    """w (F, C, 3, 3) -> U (16, F, C) with U[4a+b, f, c] = (G w[f, c] G^T)[a, b]."""
    F, C = w.shape[:2]
    u = _filter_transform(w.dtype) @ w.reshape(F * C, 9).T  # (16, 9) @ (9, F*C)
    return u.reshape(16, F, C)


def winograd_filters_adjoint(dU: np.ndarray) -> np.ndarray:
    """Transpose of :func:`winograd_filters`: dU (16, F, C) -> dw (F, C, 3, 3) = G^T dU G."""
    _, F, C = dU.shape
    dw = dU.reshape(16, F * C).T @ _filter_transform(dU.dtype)  # (F*C, 16) @ (16, 9)
    return dw.reshape(F, C, 3, 3)


def conv2d_winograd_forward(x, w, b, padding="zeros", tiles=None):
    """Winograd convolution forward pass (3x3 kernel, stride 1, padding 1).

    Parameters
    ----------
    x : (N, C, H, W).  w : (F, C, 3, 3).  b : (F,) or None.  padding : "zeros" or "reflect".
    tiles : optional (N, 16, C, T) array to keep the transformed input for backward (like
        ``cols`` of the im2col path); without it backward recomputes it from x.

    Returns
    -------
    out : (N, F, H, W);  cache : :class:`WinogradCache` for :func:`conv2d_winograd_backward`.

    Notes
    -----
    Per image, with V = B^T d B of every input tile and U = G w G^T of every filter:

        M[xi] = U[xi] @ V[xi]        for xi in 0..15: (F, C) @ (C, T) -> (F, T)
        out   = A^T M A + b          per tile, a 2x2 block of the output

    computed band by band (:func:`bands`): each tile's output depends on its own tile only.
    """
    N, C, H, W = x.shape
    F = w.shape[0]
    if w.shape[2:] != (3, 3):
        raise ValueError(f"conv2d_winograd_forward: needs a 3x3 kernel, got {w.shape[2:]}")
    T = num_tiles(H, W)
    if tiles is not None and tiles.shape != (N, 16, C, T):
        raise ValueError(f"conv2d_winograd_forward: tiles has shape {tiles.shape}, expected "
                         f"{(N, 16, C, T)}")
    reflect = padding == "reflect"
    U = winograd_filters(w)  # (16, F, C)
    bias = b if b is not None else np.zeros(F, dtype=x.dtype)
    out = np.empty((N, F, H, W), dtype=x.dtype)
    tw = (W + 1) // 2
    for n in range(N):
        for ty0, rows in bands(H, W, max(C, F), x.itemsize):
            t0, t1 = ty0 * tw, (ty0 + rows) * tw
            V = tiles[n, :, :, t0:t1] if tiles is not None else \
                workspace("wino_v", (16, C, t1 - t0), x.dtype)
            winograd_input(x[n], reflect, V, ty0)  # (16, C, band)
            M = workspace("wino_m", (16, F, t1 - t0), x.dtype)
            batched_gemm(U, V, M)  # (16, F, C) @ (16, C, band)
            winograd_output(M, bias, out[n], ty0)
    cache = WinogradCache(x, w, U, b is not None, padding, tiles)
    return out, cache


def conv2d_winograd_backward(dout, cache):
    """Winograd convolution backward pass: dx (N, C, H, W), dw (F, C, 3, 3), db (F,) or None.

    Notes
    -----
    Every step of the forward pass is linear, so the backward pass runs their transposes in
    reverse order. With dM = A dy A^T per output tile (the transpose of the output transform):

        dU[xi] += dM[xi] @ V[xi]^T    (F, T) @ (T, C);  dw = G^T dU G
        dV[xi]  = U[xi]^T @ dM[xi]    (C, F) @ (F, T);  dx = scatter of B dV B^T
        db      = sum of dout over N, H, W

    band by band like the forward pass (the input adjoint accumulates, so the bands' overlapping
    contributions add up).
    """
    x, w, U, has_bias, padding, kept = cache
    N, C, H, W = x.shape
    F = w.shape[0]
    reflect = padding == "reflect"
    dU = np.zeros((16, F, C), dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype)
    Ut = U.transpose(0, 2, 1)  # (16, C, F)
    tw = (W + 1) // 2
    for n in range(N):
        dxn = dx[n]
        dxn[...] = 0
        for ty0, rows in bands(H, W, max(C, F), x.itemsize):
            t0, t1 = ty0 * tw, (ty0 + rows) * tw
            dM = workspace("wino_dm", (16, F, t1 - t0), x.dtype)
            winograd_output_adjoint(dout[n], dM, ty0)  # (16, F, band)
            if kept is not None:
                V = kept[n, :, :, t0:t1]
            else:
                V = workspace("wino_v", (16, C, t1 - t0), x.dtype)
                winograd_input(x[n], reflect, V, ty0)
            batched_gemm_nt_acc(dM, V, dU)  # dU += (16, F, band) @ (16, band, C)
            dV = workspace("wino_dv", (16, C, t1 - t0), x.dtype)
            batched_gemm(Ut, dM, dV)  # (16, C, F) @ (16, F, band)
            winograd_input_adjoint(dV, reflect, dxn, ty0)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, winograd_filters_adjoint(dU), db
