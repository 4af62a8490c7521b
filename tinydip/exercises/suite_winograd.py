"""Checks for Winograd F(2x2, 3x3)'s input transform (chapter 2; ``kernels/winograd.py``): the
learner's V, with tinydip's filter transform (``winograd_filters``) and output transform
(``winograd_output``), must reproduce a direct 3x3 convolution; then V itself is compared
with tinydip's ``winograd_input``, tile by tile."""

from __future__ import annotations

import numpy as np

from ..functional.winograd import winograd_filters
from ..kernels.winograd import winograd_input, winograd_output
from .checks import Fail, LearnerModule, Suite, compare, expect_array

WINOGRAD_INPUT = Suite()

_BT = np.array([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0],
                [0.0, 1.0, 0.0, -1.0]])
# (C, F, H, W): even, odd, non-square, one-pixel-high sizes
CASES = ((2, 3, 6, 8), (3, 2, 5, 7), (1, 2, 1, 3), (2, 2, 3, 3))


def _tiles_per_axis(n: int) -> int:
    return (n + 1) // 2


def _variant(x: np.ndarray, stride: int = 2, pad: bool = True, side: str = "both",
             matrix: np.ndarray = _BT, entries_t: bool = False, col_major: bool = False):
    """V computed the right way, or with one classic mistake (float64)."""
    C, H, W = x.shape
    th, tw = _tiles_per_axis(H), _tiles_per_axis(W)
    xp = np.zeros((C, stride * th + 2, stride * tw + 2))
    xp[:, int(pad):H + int(pad), int(pad):W + int(pad)] = x
    win = np.lib.stride_tricks.sliding_window_view(xp, (4, 4), axis=(1, 2))
    d = win[:, ::stride, ::stride][:, :th, :tw]  # (C, th, tw, 4, 4)
    v = {"both": matrix @ d @ matrix.T, "rows": matrix @ d, "cols": d @ matrix.T}[side]
    if entries_t:
        v = np.swapaxes(v, -1, -2)
    if col_major:
        v = np.swapaxes(v, 1, 2)
    return v.reshape(C, th * tw, 16).transpose(2, 0, 1)


def _mistakes(x: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "that is B d B^T: the transform is B^T d B, BT on the left and its transpose on the "
        "right (v = BT @ d @ BT.T)": _variant(x, matrix=_BT.T),
        "the tiles are taken with stride 4: the 4x4 input tiles OVERLAP by two pixels, tile "
        "(ty, tx) starts at padded pixel (2 ty, 2 tx) (each makes a 2x2 output block)":
            _variant(x, stride=4),
        "the padding is missing: tile (ty, tx) starts at PADDED pixel (2 ty, 2 tx), i.e. at "
        "image pixel (2 ty - 1, 2 tx - 1) -- pad x with one row/column of zeros on every "
        "side first": _variant(x, pad=False),
        "only the rows are transformed (B^T d): transform the columns too, V = B^T d B":
            _variant(x, side="rows"),
        "only the columns are transformed (d B): transform the rows too, V = B^T d B":
            _variant(x, side="cols"),
        "each transformed tile is stored transposed: entry (a, b) goes to row 4 a + b of V":
            _variant(x, entries_t=True),
        "the tiles are numbered column by column: number them row by row, t = ty * tw + tx":
            _variant(x, col_major=True),
    }


def _winograd_conv(V: np.ndarray, w: np.ndarray, b: np.ndarray, H: int, W: int) -> np.ndarray:
    """out (F, H, W) = A^T [U[xi] @ V[xi]] A + b, with tinydip's filter and output transforms."""
    M = np.matmul(winograd_filters(w), np.asarray(V, np.float64))  # (16, F, C) @ (16, C, T)
    out = np.empty((w.shape[0], H, W))
    winograd_output(np.ascontiguousarray(M), b, out)
    return out


def _direct_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 3x3 convolution (cross-correlation, as tinydip's Conv2d), zero padding 1, in NumPy."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # (C, H, W, 3, 3)
    return np.einsum("fcij,chwij->fhw", w, win) + b[:, None, None]


def _stride4_counts(H: int, W: int) -> set[int]:
    """Tile counts a learner who takes disjoint 4x4 tiles (stride 4) may come up with."""
    def per_axis(n):
        return {_tiles_per_axis(_tiles_per_axis(n)), -(-n // 4), (n + 2) // 4, -(-(n + 2) // 4)}
    return {a * b for a in per_axis(H) for b in per_axis(W)}


def _learner_v(m: LearnerModule, x: np.ndarray, dtype=None) -> np.ndarray:
    C, H, W = x.shape
    T = _tiles_per_axis(H) * _tiles_per_axis(W)
    V = m.winograd_input_transform(x)
    shape = (16, C, T)
    if isinstance(V, np.ndarray) and V.ndim == 3 and V.shape[:2] == (16, C) and \
            V.shape[2] != T and V.shape[2] in _stride4_counts(H, W):
        raise Fail(f"V has shape {V.shape}, expected {shape}: too few tiles -- the tiles are "
                   "taken with stride 4; the 4x4 input tiles OVERLAP by two pixels, tile "
                   "(ty, tx) starts at padded pixel (2 ty, 2 tx): T = ceil(H/2) * ceil(W/2)")
    if isinstance(V, np.ndarray) and V.shape != shape and sorted(V.shape) == sorted(shape):
        raise Fail(f"V has shape {V.shape}, expected {shape}: the axes are in the wrong "
                   "order -- V[4 a + b, c, t]")
    return expect_array(V, "V", shape, dtype)


def _data(rng: np.random.Generator, case):
    C, F, H, W = case
    return (rng.standard_normal((C, H, W)), rng.standard_normal((F, C, 3, 3)),
            rng.standard_normal(F))


@WINOGRAD_INPUT.check("shape and dtype (float32; T = ceil(H/2) * ceil(W/2) tiles)")
def _wi_shape(m: LearnerModule) -> None:
    x = np.random.default_rng(130).standard_normal((3, 8, 6)).astype(np.float32)
    _learner_v(m, x, np.float32)


@WINOGRAD_INPUT.check("with tinydip's filter and output transforms: a direct 3x3 convolution")
def _wi_conv(m: LearnerModule) -> None:
    rng = np.random.default_rng(131)
    for case in CASES:
        x, w, b = _data(rng, case)
        C, F, H, W = case
        got = _winograd_conv(_learner_v(m, x), w, b, H, W)
        wrong = {hint: _winograd_conv(v, w, b, H, W) for hint, v in _mistakes(x).items()}
        compare(got, _direct_conv(x, w, b), "the convolution", 1e-10, wrong,
                against="a direct 3x3 convolution",
                hint=f"case x {x.shape}, w {w.shape}: V = B^T d B of every 4x4 tile")


@WINOGRAD_INPUT.check("matches tinydip's winograd_input, tile by tile (even and odd sizes)")
def _wi_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(132)
    for case in CASES:
        x, _, _ = _data(rng, case)
        got = _learner_v(m, x)
        ref = np.empty(got.shape)
        winograd_input(x, False, ref)
        compare(got, ref, "V", 1e-12, _mistakes(x), hint=f"case x {x.shape}")
