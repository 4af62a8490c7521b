"""3x3, stride-1 convolution by Winograd F(m x m, 3x3), m = 2 or 4: forward and backward.

Same contract as :mod:`tinydip.functional.conv` (x (N, C, H, W), w (F, C, 3, 3), b (F,),
"same" padding of 1, zeros or reflect, out (N, F, H, W)), computed with a = (m + 2)^2 matrix
products of size (F, C) x (C, T) instead of one of size (F, 9C) x (9C, H*W), over
T = ceil(H/m)*ceil(W/m) tiles of m x m output pixels:

    m = 2 (default): 16 products, T ~ H*W/4,  4 multiplies per output pixel and channel pair
    m = 4:           36 products, T ~ H*W/16, 2.25 multiplies (and 2.25 instead of 4
                     transformed floats per pixel), a few bits less accurate in float32

instead of 9. The transforms are in :mod:`tinydip.kernels.winograd` (m = 2) and
:mod:`tinydip.kernels.winograd4` (m = 4), one table entry per tile size (:data:`TRANSFORMS`).

Large images run band by band: the transformed input V and the products M of a band of whole
tile rows at a time (:data:`BAND_BYTES` and :data:`BAND_TILES` per buffer), so the scratch
memory does not grow with the image (un-banded, V and M of one 512x512 layer with 128
channels are 512 MB each).

Measured on the paper's U-Net at 128x128 (2 cores): see benchmarks/README.md.
"""

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..kernels.winograd import (
    winograd_input,
    winograd_input_adjoint,
    winograd_output,
    winograd_output_adjoint,
)
from ..kernels.winograd4 import (
    winograd4_input,
    winograd4_input_adjoint,
    winograd4_output,
    winograd4_output_adjoint,
)
from .gemm import batched_gemm, batched_gemm_nt_acc
from .workspace import workspace

# size of one band's scratch buffer (V, M, dM or dV), and its number of tiles; see bands()
BAND_BYTES = 8 * 2**20
BAND_TILES = 512


class Transforms(NamedTuple):
    """One tile size m: G (m + 2, 3) maps a 3-tap filter to the m + 2 points of a transformed
    tile (Lavin & Gray 2016), and the four data transforms (see :mod:`tinydip.kernels`)."""

    G: np.ndarray
    input: Callable
    input_adjoint: Callable
    output: Callable
    output_adjoint: Callable


# tile size m -> its transforms (looked up when a pass runs, so a test can patch one)
TRANSFORMS = {
    2: Transforms(np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]]),
                  winograd_input, winograd_input_adjoint, winograd_output,
                  winograd_output_adjoint),
    4: Transforms(np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                            [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
                  winograd4_input, winograd4_input_adjoint, winograd4_output,
                  winograd4_output_adjoint),
}


class WinogradCache(NamedTuple):
    """What :func:`conv2d_winograd_forward` keeps for :func:`conv2d_winograd_backward`."""

    x: np.ndarray  # (N, C, H, W) the input
    w: np.ndarray  # (F, C, 3, 3) the weights
    U: np.ndarray  # (a, F, C) the transformed filters, a = (m + 2)^2
    has_bias: bool
    padding: str  # "zeros" or "reflect"
    tiles: np.ndarray | None  # (N, a, C, T) transformed input if kept, else None
    m: int  # the tile size: m x m output pixels per tile


def _transforms(m: int) -> Transforms:
    if m not in TRANSFORMS:
        raise ValueError(f"winograd: tile size m must be one of {sorted(TRANSFORMS)}, got {m}")
    return TRANSFORMS[m]


def num_tiles(H: int, W: int, m: int = 2) -> int:
    """Number of m x m output tiles covering an H x W image: ceil(H/m) * ceil(W/m)."""
    return -(-H // m) * -(-W // m)


def bands(H: int, W: int, channels: int, itemsize: int, m: int = 2) -> list[tuple[int, int]]:
    """Tile-row bands ``(ty0, rows)`` covering an H x W image in m x m tiles, each with an
    (a, channels, rows * tw) buffer, a = (m + 2)^2, of at most :data:`BAND_BYTES` and at most
    :data:`BAND_TILES` tiles (at least one tile row per band).

    The tile cap is for speed: on narrow layers a band of 512 tiles keeps its buffers in cache
    from one transform through the products to the next (36 -> 32 channels, 256x256, 2
    threads: forward 7.9 -> 6.4 ms, backward 13.5 -> 9.9 against 8 MiB bands); wide layers
    (128 channels) reach the byte cap first, where fewer tiles were slower. The bands fix
    where dU's sum over the tiles is split, and the BLAS's rounding of a product can depend on
    its column count (OpenBLAS's Haswell kernels): changing either cap moves a fit's numbers."""
    th, tw = -(-H // m), -(-W // m)
    budget = min(BAND_BYTES, BAND_TILES * (m + 2) ** 2 * channels * itemsize)
    rows = max(1, min(th, budget // ((m + 2) ** 2 * channels * tw * itemsize)))
    return [(ty0, min(rows, th - ty0)) for ty0 in range(0, th, rows)]


@functools.cache
def _filter_transform(m: int, dtype) -> np.ndarray:
    """K (a, 9) = kron(G, G): row (m+2)i+j maps a flattened 3x3 filter to (G g G^T)[i, j]
    (made once per tile size and dtype, read-only: two calls per layer and step measured 1 ms
    a step)."""
    G = _transforms(m).G
    k = np.kron(G, G).astype(dtype)
    k.flags.writeable = False
    return k


def winograd_filters(w: np.ndarray, m: int = 2) -> np.ndarray:
    """w (F, C, 3, 3) -> U (a, F, C), a = (m + 2)^2: U[(m+2)i+j, f, c] = (G w[f, c] G^T)[i, j]."""
    F, C = w.shape[:2]
    K = _filter_transform(m, w.dtype)
    u = K @ w.reshape(F * C, 9).T  # (a, 9) @ (9, F*C)
    return u.reshape(K.shape[0], F, C)


def winograd_filters_adjoint(dU: np.ndarray) -> np.ndarray:
    """Transpose of :func:`winograd_filters`: dU (a, F, C) -> dw (F, C, 3, 3) = G^T dU G (the
    tile size from a = (m + 2)^2)."""
    a, F, C = dU.shape
    dw = dU.reshape(a, F * C).T @ _filter_transform(math.isqrt(a) - 2, dU.dtype)  # @ (a, 9)
    return dw.reshape(F, C, 3, 3)


def conv2d_winograd_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                            padding: str = "zeros", tiles: np.ndarray | None = None, *,
                            m: int = 2) -> tuple[np.ndarray, WinogradCache]:
    """Winograd convolution forward pass (3x3 kernel, stride 1, padding 1).

    Parameters
    ----------
    x : (N, C, H, W).  w : (F, C, 3, 3).  b : (F,) or None.  padding : "zeros" or "reflect".
    tiles : optional (N, a, C, T) array to keep the transformed input for backward (like
        ``cols`` of the im2col path); without it backward recomputes it from x.
    m : the output tile size, 2 (F(2x2, 3x3), a = 16) or 4 (F(4x4, 3x3), a = 36);
        T = :func:`num_tiles` (H, W, m).

    Returns
    -------
    out : (N, F, H, W);  cache : :class:`WinogradCache` for :func:`conv2d_winograd_backward`.

    Notes
    -----
    Per image, with V = B^T d B of every (m+2) x (m+2) input tile and U = G w G^T of every
    filter:

        M[xi] = U[xi] @ V[xi]        for xi in 0..a-1: (F, C) @ (C, T) -> (F, T)
        out   = A^T M A + b          per tile, an m x m block of the output

    computed band by band (:func:`bands`): each tile's output depends on its own tile only.
    """
    N, C, H, W = x.shape
    F = w.shape[0]
    if w.shape[2:] != (3, 3):
        raise ValueError(f"conv2d_winograd_forward: needs a 3x3 kernel, got {w.shape[2:]}")
    k = _transforms(m)
    a, T = (m + 2) ** 2, num_tiles(H, W, m)
    if tiles is not None and tiles.shape != (N, a, C, T):
        raise ValueError(f"conv2d_winograd_forward: tiles has shape {tiles.shape}, expected "
                         f"{(N, a, C, T)}")
    reflect = padding == "reflect"
    U = winograd_filters(w, m)  # (a, F, C)
    bias = b if b is not None else np.zeros(F, dtype=x.dtype)
    out = np.empty((N, F, H, W), dtype=x.dtype)
    tw = -(-W // m)
    for n in range(N):
        for ty0, rows in bands(H, W, max(C, F), x.itemsize, m):
            t0, t1 = ty0 * tw, (ty0 + rows) * tw
            V = tiles[n, :, :, t0:t1] if tiles is not None else \
                workspace("wino_v", (a, C, t1 - t0), x.dtype)
            k.input(x[n], reflect, V, ty0)  # (a, C, band)
            M = workspace("wino_m", (a, F, t1 - t0), x.dtype)
            batched_gemm(U, V, M)  # (a, F, C) @ (a, C, band)
            k.output(M, bias, out[n], ty0)
    cache = WinogradCache(x, w, U, b is not None, padding, tiles, m)
    return out, cache


def conv2d_winograd_backward(dout: np.ndarray, cache: WinogradCache, need_dx: bool = True
                             ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Winograd convolution backward pass: dx (N, C, H, W), dw (F, C, 3, 3), db (F,) or None
    (the tile size m of the forward pass, from the cache). ``need_dx=False`` skips dx
    (returned as None): its product and transform are half the work.

    Notes
    -----
    Every step of the forward pass is linear, so the backward pass runs their transposes in
    reverse order. With dM = A dy A^T per m x m output tile (the transpose of the output
    transform), for xi in 0..a-1:

        dU[xi] += dM[xi] @ V[xi]^T    (F, T) @ (T, C);  dw = G^T dU G
        dV[xi]  = U[xi]^T @ dM[xi]    (C, F) @ (F, T);  dx = scatter of B dV B^T
        db      = sum of dout over N, H, W

    band by band like the forward pass (the input adjoint accumulates, so the bands' overlapping
    contributions add up).
    """
    x, w, U, has_bias, padding, kept, m = cache
    N, C, H, W = x.shape
    F, a = w.shape[0], U.shape[0]
    k = _transforms(m)
    reflect = padding == "reflect"
    dU = np.zeros((a, F, C), dtype=x.dtype)
    dx = np.zeros(x.shape, dtype=x.dtype) if need_dx else None
    Ut = U.transpose(0, 2, 1)  # (a, C, F)
    tw = -(-W // m)
    for n in range(N):
        for ty0, rows in bands(H, W, max(C, F), x.itemsize, m):
            t0, t1 = ty0 * tw, (ty0 + rows) * tw
            dM = workspace("wino_dm", (a, F, t1 - t0), x.dtype)
            k.output_adjoint(dout[n], dM, ty0)  # (a, F, band)
            if kept is not None:
                V = kept[n, :, :, t0:t1]
            else:
                V = workspace("wino_v", (a, C, t1 - t0), x.dtype)
                k.input(x[n], reflect, V, ty0)
            batched_gemm_nt_acc(dM, V, dU)  # dU += (a, F, band) @ (a, band, C)
            if need_dx:
                dV = workspace("wino_dv", (a, C, t1 - t0), x.dtype)
                batched_gemm(Ut, dM, dV)  # (a, C, F) @ (a, F, band)
                k.input_adjoint(dV, reflect, dx[n], ty0)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, winograd_filters_adjoint(dU), db
