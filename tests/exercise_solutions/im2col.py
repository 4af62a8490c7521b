import numpy as np


def im2col(x, kh, kw, stride, pad):
    C, H, W = x.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    cols = np.empty((C * kh * kw, Ho * Wo), dtype=x.dtype)
    for c in range(C):
        for i in range(kh):
            for j in range(kw):
                tap = xp[c, i:i + stride * Ho:stride, j:j + stride * Wo:stride]
                cols[c * kh * kw + i * kw + j] = tap.reshape(-1)
    return cols
