import numpy as np


def conv_forward_loops(x, w, b, stride=1):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    P = KH // 2
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    Ho, Wo = (H + 2 * P - KH) // stride + 1, (W + 2 * P - KW) // stride + 1
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for oy in range(Ho):
                for ox in range(Wo):
                    win = xp[n, :, oy * stride:oy * stride + KH, ox * stride:ox * stride + KW]
                    out[n, f, oy, ox] = np.sum(win * w[f]) + b[f]
    return out
