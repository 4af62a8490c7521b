import numpy as np

from tinydip.exercises.stubs.conv_backward import conv_forward  # noqa: F401


def conv_backward(dout, cache):
    x, w, b, stride = cache
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    P = KH // 2
    Ho, Wo = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(N):
        for oy in range(Ho):
            for ox in range(Wo):
                ys, xs = oy * stride, ox * stride
                g = dout[n, :, oy, ox]  # (F,)
                dw += g[:, None, None, None] * xp[n, :, ys:ys + KH, xs:xs + KW]
                dxp[n, :, ys:ys + KH, xs:xs + KW] += np.tensordot(g, w, axes=(0, 0))
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, P:P + H, P:P + W], dw, db
