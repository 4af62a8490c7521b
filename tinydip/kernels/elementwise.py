"""Element-wise kernels on flat (1-D) arrays: the Adam update, done in place."""

import math

from numba import njit, prange


def _adam_update(p, g, m, v, lr, beta1, beta2, eps, bc1, bc2):
    """One Adam step, in place on flat arrays p, m, v (PyTorch's rule).

        m <- b1*m + (1-b1)*g ;  v <- b2*v + (1-b2)*g^2
        p <- p - (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps),   bc_i = 1 - b_i^t
    """
    step = lr / bc1
    sbc2 = math.sqrt(bc2)
    for i in prange(p.shape[0]):
        gi = g[i]
        mi = beta1 * m[i] + (1.0 - beta1) * gi
        vi = beta2 * v[i] + (1.0 - beta2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step * mi / (math.sqrt(vi) / sbc2 + eps)


adam_update = njit(cache=True, parallel=True)(_adam_update)
