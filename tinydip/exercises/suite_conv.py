"""Checks for chapter 2 (convolution): conv_forward_loops, im2col, conv_backward.

Conventions as in tinydip: NCHW, zero padding P = KH // 2 ("same" for stride 1), output size
Ho = (H + 2P - KH) // S + 1, and a cross-correlation (the kernel is not flipped).
"""

from __future__ import annotations

import numpy as np

from ..functional import conv2d_backward, conv2d_forward, conv2d_naive
from ..kernels import conv_out_size
from ..kernels import im2col as im2col_ref
from .checks import Fail, LearnerModule, Suite, compare, expect_array, gradcheck, unpack

CONV_FORWARD_LOOPS = Suite()
IM2COL = Suite()
CONV_BACKWARD = Suite()

# (N, C, H, W), (F, KH), stride: odd sizes, N = 2, stride 2, 1x1 and 5x5 kernels
CASES = (((2, 3, 5, 4), (4, 3), 1), ((2, 2, 7, 6), (3, 3), 2), ((1, 3, 4, 5), (2, 1), 1),
         ((2, 2, 6, 5), (3, 5), 1), ((1, 3, 5, 5), (3, 3), 1))


def _data(rng: np.random.Generator, xs, fk, dtype=np.float32):
    N, C, H, W = xs
    F, K = fk
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal((F, C, K, K)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


def _out_shape(x: np.ndarray, w: np.ndarray, stride: int) -> tuple[int, int, int, int]:
    K = w.shape[2]
    return (x.shape[0], w.shape[0], conv_out_size(x.shape[2], K, stride, K // 2),
            conv_out_size(x.shape[3], K, stride, K // 2))


def _shape_hint(got, expected, what: str) -> None:
    if isinstance(got, np.ndarray) and got.shape != tuple(expected):
        raise Fail(f"{what} has shape {got.shape}, expected {tuple(expected)}: pad P = KH // 2 "
                   "zeros on each side, Ho = (H + 2P - KH) // S + 1")


def _stride_hint(got, x, w, stride: int) -> None:
    if stride != 1 and isinstance(got, np.ndarray) and got.shape == _out_shape(x, w, 1) \
            and got.shape != _out_shape(x, w, stride):
        raise Fail(f"out has shape {got.shape}, the stride-1 size: with stride S = {stride}, "
                   "Ho = (H + 2P - KH) // S + 1 and output (oy, ox) reads the window at "
                   "(oy*S, ox*S)")


# ---- conv_forward_loops -------------------------------------------------------------------

@CONV_FORWARD_LOOPS.check("shape and dtype (stride 1 and 2)")
def _cf_shape(m: LearnerModule) -> None:
    rng = np.random.default_rng(30)
    for xs, fk, s in CASES[:2]:
        x, w, b = _data(rng, xs, fk)
        out = m.conv_forward_loops(x, w, b, s)
        _stride_hint(out, x, w, s)
        _shape_hint(out, _out_shape(x, w, s), "out")
        expect_array(out, "out", _out_shape(x, w, s), np.float32)


@CONV_FORWARD_LOOPS.check("matches tinydip (odd sizes, N=2, stride 2, 1x1 and 5x5 kernels)")
def _cf_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(31)
    for xs, fk, s in CASES:
        x, w, b = _data(rng, xs, fk, np.float64)
        out = m.conv_forward_loops(x, w, b, s)
        _stride_hint(out, x, w, s)
        _shape_hint(out, _out_shape(x, w, s), "out")
        Ho, Wo = _out_shape(x, w, s)[2:]
        expect_array(out, "out", _out_shape(x, w, s))
        compare(out, conv2d_naive(x, w, b, s), "out", 1e-10, mistakes={
            "the stride is ignored inside the loop: output (oy, ox) reads the window that "
            "starts at (oy*S, ox*S) in xpad, not at (oy, ox)":
                conv2d_naive(x, w, b, 1)[:, :, :Ho, :Wo],
            "the kernel is flipped: deep-learning 'convolution' is a cross-correlation, "
            "out[oy, ox] uses w[i, j] * xpad[oy*S + i, ox*S + j] (no flip)":
                conv2d_naive(x, w[:, :, ::-1, ::-1].copy(), b, s),
            "the bias is missing: add b[f] to every output of channel f":
                conv2d_naive(x, w, None, s),
        }, hint=f"case x {xs}, w {(fk[0], xs[1], fk[1], fk[1])}, stride {s}")


# ---- im2col -------------------------------------------------------------------------------

def _cols_ref(x: np.ndarray, K: int, stride: int) -> np.ndarray:
    C, H, W = x.shape
    Ho, Wo = conv_out_size(H, K, stride, K // 2), conv_out_size(W, K, stride, K // 2)
    cols = np.empty((C * K * K, Ho * Wo), x.dtype)
    im2col_ref(np.ascontiguousarray(x), K, K, stride, K // 2, False, cols)
    return cols


@IM2COL.check("shape and dtype")
def _ic_shape(m: LearnerModule) -> None:
    x = np.random.default_rng(40).standard_normal((3, 5, 4)).astype(np.float32)
    ref = _cols_ref(x, 3, 1)
    got = m.im2col(x, 3, 3, 1, 1)
    if isinstance(got, np.ndarray) and got.shape == ref.shape[::-1]:
        raise Fail(f"cols has shape {got.shape}, transposed: one ROW per (c, i, j) tap, one "
                   "COLUMN per output position, shape (C*KH*KW, Ho*Wo)")
    expect_array(got, "cols", ref.shape, np.float32)


@IM2COL.check("matches tinydip (padding, stride 2, 1x1 and 5x5)")
def _ic_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(41)
    for (_, C, H, W), (_, K), s in CASES:
        x = rng.standard_normal((C, H, W))
        ref = _cols_ref(x, K, s)
        got = expect_array(m.im2col(x, K, K, s, K // 2), "cols", ref.shape)
        Ho, Wo = conv_out_size(H, K, s, K // 2), conv_out_size(W, K, s, K // 2)
        taps_first = ref.reshape(C, K * K, Ho * Wo).transpose(1, 0, 2).reshape(ref.shape)
        col_major = ref.reshape(-1, Ho, Wo).transpose(0, 2, 1).reshape(ref.shape)
        compare(got, ref, "cols", 1e-12, mistakes={
            "rows are in the wrong order: row r = c*KH*KW + i*KW + j (channel slowest, j "
            "fastest), the order of w.reshape(F, C*KH*KW)": taps_first,
            "columns are in the wrong order: column = oy*Wo + ox (row-major, ox fastest)":
                col_major,
        }, hint=f"case x {(C, H, W)}, kernel {K}, stride {s}")


@IM2COL.check("w.reshape(F, -1) @ cols gives the convolution")
def _ic_gemm(m: LearnerModule) -> None:
    rng = np.random.default_rng(42)
    x, w, b = _data(rng, (1, 2, 6, 5), (3, 3), np.float64)
    cols = expect_array(m.im2col(x[0], 3, 3, 2, 1), "cols", (18, 3 * 3))
    out = (w.reshape(3, -1) @ cols).reshape(3, 3, 3)
    compare(out, conv2d_naive(x, w, None, 2)[0], "w.reshape(F, -1) @ cols", 1e-10,
            against="the convolution", hint="get the (matches tinydip) check passing first")


# ---- conv_backward ------------------------------------------------------------------------

def _backward_case(m: LearnerModule, x, w, b, stride, dout):
    _, cache = m.conv_forward(x, w, b, stride)
    return unpack(m.conv_backward(dout, cache), "conv_backward", 3)


def _reference(x, w, b, stride, dout):
    _, cache = conv2d_forward(x, w, b, stride)
    return conv2d_backward(dout, cache)


@CONV_BACKWARD.check("shapes and dtypes of dx, dw, db")
def _cb_shape(m: LearnerModule) -> None:
    rng = np.random.default_rng(50)
    x, w, b = _data(rng, (2, 3, 5, 4), (4, 3))
    dout = rng.standard_normal(_out_shape(x, w, 1)).astype(np.float32)
    dx, dw, db = _backward_case(m, x, w, b, 1, dout)
    if db is None:
        raise Fail("db is None: the bias gets a gradient too, dout summed over N, Ho, Wo")
    expect_array(dx, "dx", x.shape, np.float32)
    expect_array(dw, "dw", w.shape, np.float32)
    if isinstance(db, np.ndarray) and db.ndim > 1:
        raise Fail(f"db has shape {db.shape}, expected {b.shape}: sum over N, Ho AND Wo")
    expect_array(db, "db", b.shape, np.float32)


def _dx_with(x, w_used, b, s, dout):
    """dx as if the backward had used ``w_used`` in place of w (dx is linear in w)."""
    return _reference(x, np.ascontiguousarray(w_used), b, s, dout)[0]


def _mistakes_dx(x, w, b, s, dout):
    out = {"dx has the kernel the wrong way round (rotated by 180 degrees): each "
           "dout[n, f, oy, ox] * w[f, c, i, j] goes back to xpad[n, c, oy*S + i, ox*S + j], "
           "the same tap (i, j) the forward used -- no flip in the loop form (the flip only "
           "appears when dx is written as a convolution of dout)":
               _dx_with(x, w[:, :, ::-1, ::-1], b, s, dout),
           "dx has the kernel transposed (i and j swapped): w[f, c, i, j] goes back to "
           "xpad[..., oy*S + i, ox*S + j] -- i moves along H (rows), j along W":
               _dx_with(x, w.transpose(0, 1, 3, 2), b, s, dout)}
    if w.shape[0] == w.shape[1]:
        out["dx sums over the OUTPUT channels f: use w[f, c] transposed to (C, F, KH, KW) "
            "(yours mixes up f and c)"] = _dx_with(x, w.transpose(1, 0, 2, 3), b, s, dout)
    if s == 1:
        out["dx is the convolution of dout with the kernel rotated by 180 degrees AND its "
            "channel axes swapped to (C, F, KH, KW); you swapped the axes but did not rotate"] \
            = conv2d_naive(dout, np.ascontiguousarray(w.transpose(1, 0, 2, 3)), None)
    return out


def _mistakes_dw(x, w, b, s, dout):
    dw = _reference(x, w, b, s, dout)[1]
    out = {"dw is flipped: dw[f, c, i, j] = sum dout[n, f, oy, ox] * xpad[n, c, oy*S + i, "
           "ox*S + j] (no flip)": dw[:, :, ::-1, ::-1],
           "dw is transposed in (i, j): i indexes rows (H), j columns (W)":
               dw.transpose(0, 1, 3, 2)}
    if x.shape[0] > 1:
        for n in (0, x.shape[0] - 1):
            out[f"dw only has image n={n}'s contribution: accumulate (+=) over the whole "
                "batch"] = _reference(x[n:n + 1], w, b, s, dout[n:n + 1])[1]
    return out


@CONV_BACKWARD.check("dx, dw, db match tinydip (N=2, stride 2, odd sizes, 1x1, 5x5)")
def _cb_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(51)
    for xs, fk, s in CASES:
        x, w, b = _data(rng, xs, fk, np.float64)
        dout = rng.standard_normal(_out_shape(x, w, s))
        dx, dw, db = _backward_case(m, x, w, b, s, dout)
        rdx, rdw, rdb = _reference(x, w, b, s, dout)
        case = f"case x {xs}, w {w.shape}, stride {s}"
        if db is None:
            raise Fail("db is None: the bias gets a gradient too, dout summed over N, Ho, Wo")
        compare(expect_array(dx, "dx", x.shape), rdx, "dx", 1e-9,
                _mistakes_dx(x, w, b, s, dout), hint=case)
        compare(expect_array(dw, "dw", w.shape), rdw, "dw", 1e-9,
                _mistakes_dw(x, w, b, s, dout), hint=case)
        compare(expect_array(db, "db", b.shape), rdb, "db", 1e-9, mistakes={
            "db is zero: it is dout summed over N, Ho, Wo (every output gets + b[f])":
                np.zeros_like(rdb),
            "db should be a SUM over N, Ho, Wo, not a mean": dout.mean(axis=(0, 2, 3)),
            "db only sums image 0: sum over the batch too": dout[0].sum(axis=(1, 2)),
        }, hint=case)


@CONV_BACKWARD.check("float64 gradient check of dx, dw, db (stride 1 and 2)")
def _cb_gradcheck(m: LearnerModule) -> None:
    rng = np.random.default_rng(52)
    for xs, fk, s in (((2, 2, 5, 4), (3, 3), 1), ((1, 2, 5, 6), (2, 3), 2)):
        x, w, b = _data(rng, xs, fk, np.float64)
        dout = rng.standard_normal(_out_shape(x, w, s))
        dx, dw, db = _backward_case(m, x, w, b, s, dout)

        def f(x=x, w=w, b=b, s=s):
            return m.conv_forward(x, w, b, s)[0]

        gradcheck(f, x, dout, dx, "dx")
        gradcheck(f, w, dout, dw, "dw")
        gradcheck(f, b, dout, db, "db")
