"""2-D convolution, forward and backward, as im2col + one matrix product per image.

Shapes: x (N, C, H, W), w (F, C, KH, KW), b (F,), out (N, F, Ho, Wo) with "same"-style padding
P = KH // 2 and Ho = floor((H + 2P - KH)/S) + 1 (so stride 2 halves even sizes).
"""

from typing import NamedTuple

import numpy as np

from ..kernels import col2im, conv_out_size, im2col
from .gemm import gemm, gemm_nt_acc
from .workspace import workspace

PADDINGS = ("zeros", "reflect")


class ConvCache(NamedTuple):
    """What :func:`conv2d_forward` keeps for :func:`conv2d_backward`."""

    x: np.ndarray  # (N, C, H, W) the input
    w: np.ndarray  # (F, C, KH, KW) the weights
    has_bias: bool
    stride: int
    padding: str  # "zeros" or "reflect"
    cols: np.ndarray | None  # (N, C*KH*KW, Ho*Wo) im2col matrices if kept, else None


def conv2d_forward(x, w, b, stride=1, padding="zeros", cols=None):
    """Convolution forward pass.

    Parameters
    ----------
    x : (N, C, H, W) input.  w : (F, C, KH, KW) weights.  b : (F,) bias or None.
    stride : int.  padding : "zeros" or "reflect" (PyTorch ReflectionPad2d semantics).
    cols : optional (N, C*KH*KW, Ho*Wo) array to hold the im2col matrices; it is kept in the
        cache so backward does not rebuild them (faster, more memory). Without it a shared
        scratch buffer is used and backward rebuilds cols from x.

    Returns
    -------
    out : (N, F, Ho, Wo);  cache : :class:`ConvCache` for :func:`conv2d_backward`.

    Notes
    -----
    With cols = im2col(x[n]) of shape (C*KH*KW, Ho*Wo) and W2 = w.reshape(F, C*KH*KW):

        out[n] = W2 @ cols + b       (the bias added block by block inside :func:`gemm`)

    A 1x1, stride-1 convolution needs no im2col: cols is x[n] itself, reshaped (C, H*W).
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    pad = KH // 2
    Ho, Wo = conv_out_size(H, KH, stride, pad), conv_out_size(W, KW, stride, pad)
    out = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    w2 = w.reshape(F, C * KH * KW)  # (F, C*KH*KW)
    pointwise = KH == 1 and KW == 1 and stride == 1
    if pointwise:
        cols = None
    elif cols is not None and cols.shape != (N, C * KH * KW, Ho * Wo):
        raise ValueError(f"conv2d_forward: cols has shape {cols.shape}, expected "
                         f"{(N, C * KH * KW, Ho * Wo)}")
    for n in range(N):
        out_n = out[n].reshape(F, Ho * Wo)  # (F, Ho*Wo), a view
        if pointwise:
            gemm(w2, x[n].reshape(C, H * W), out_n, b)  # (F, C) @ (C, H*W) + b
        else:
            cols_n = cols[n] if cols is not None else \
                workspace("cols", (C * KH * KW, Ho * Wo), x.dtype)
            im2col(x[n], KH, KW, stride, pad, padding == "reflect", cols_n)
            gemm(w2, cols_n, out_n, b)  # (F, C*KH*KW) @ (C*KH*KW, Ho*Wo) + b
    cache = ConvCache(x, w, b is not None, stride, padding, cols)
    return out, cache


def conv2d_backward(dout, cache, need_dx=True):
    """Convolution backward pass.

    Parameters
    ----------
    dout : (N, F, Ho, Wo) upstream gradient.  cache : from :func:`conv2d_forward`.
    need_dx : False skips dx (returned as None): the input's gradient is half the work.

    Returns
    -------
    dx : (N, C, H, W) or None;  dw : (F, C, KH, KW);  db : (F,) or None.

    Notes
    -----
    With D = dout[n].reshape(F, Ho*Wo):

        dw += D @ cols.T          (F, C*KH*KW)
        dx[n] = col2im(W2.T @ D)  (C*KH*KW, Ho*Wo) scattered back to (C, H, W)
        db = sum of dout over N, Ho, Wo

    cols comes from the cache if forward kept it, else it is rebuilt from the saved input.
    """
    x, w, has_bias, stride, padding, kept = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    pad = KH // 2
    Ho, Wo = dout.shape[2], dout.shape[3]
    w2 = w.reshape(F, C * KH * KW)  # (F, C*KH*KW)
    dw2 = np.zeros((F, C * KH * KW), dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype) if need_dx else None  # C-contiguous, via views
    pointwise = KH == 1 and KW == 1 and stride == 1
    for n in range(N):
        d = dout[n].reshape(F, Ho * Wo)  # (F, Ho*Wo)
        if pointwise:
            xn = x[n].reshape(C, H * W)  # (C, H*W)
            gemm_nt_acc(d, xn, dw2)  # dw2 += (F, H*W) @ (H*W, C)
            if need_dx:
                gemm(w2.T, d, dx[n].reshape(C, H * W))  # (C, F) @ (F, H*W)
        else:
            if kept is not None:
                cols = kept[n]  # (C*KH*KW, Ho*Wo)
            else:
                cols = workspace("cols", (C * KH * KW, Ho * Wo), x.dtype)
                im2col(x[n], KH, KW, stride, pad, padding == "reflect", cols)
            gemm_nt_acc(d, cols, dw2)  # dw2 += (F, Ho*Wo) @ (Ho*Wo, C*KH*KW)
            if not need_dx:
                continue
            dcols = workspace("dcols", (C * KH * KW, Ho * Wo), x.dtype)
            gemm(w2.T, d, dcols)  # (C*KH*KW, F) @ (F, Ho*Wo)
            dxn = dx[n]
            dxn[...] = 0
            col2im(dcols, KH, KW, stride, pad, padding == "reflect", dxn)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw2.reshape(w.shape), db


def conv2d_naive(x, w, b, stride=1, padding="zeros"):
    """Reference convolution with explicit loops over taps (for tests; slow, obviously right).

    out[n, f, oy, ox] = b[f] + sum_{c,i,j} w[f, c, i, j] * xpad[n, c, oy*S + i, ox*S + j]
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    pad = KH // 2
    mode = "reflect" if padding == "reflect" else "constant"
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode=mode)
    Ho, Wo = conv_out_size(H, KH, stride, pad), conv_out_size(W, KW, stride, pad)
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for c in range(C):
                for i in range(KH):
                    for j in range(KW):
                        patch = xp[n, c, i : i + stride * Ho : stride, j : j + stride * Wo : stride]
                        out[n, f] += w[f, c, i, j] * patch
            if b is not None:
                out[n, f] += b[f]
    return out
