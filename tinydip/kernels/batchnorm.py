"""BatchNorm kernels over (N, C, L) views of NCHW tensors (L = H*W), parallel over channels.

An optional LeakyReLU with slope ``a`` is fused after the affine map (``a = 1`` means no
activation, ``a = 0`` is ReLU): y = gamma*xhat + beta, out = y if y > 0 else a*y. Fusing saves
one full read and write of the activation per pass; backward recomputes xhat and the sign of y
from the saved input instead of storing them. Sums are accumulated in float64; the
element-wise passes run in the input's dtype (float32 in training).
"""

import math

import numpy as np
from numba import njit, prange


def _bn_stats(x, mean, var):
    """Per-channel mean and biased variance of x (N, C, L) over N and L.

    Two passes (mean, then squared deviations) in float64: the one-pass E[x^2] - E[x]^2 loses
    digits when |mean| >> std. fastmath lets the sums vectorise (reassociation only).
    """
    N, C, L = x.shape
    M = N * L
    for c in prange(C):
        s = 0.0
        for n in range(N):
            for i in range(L):
                s += np.float64(x[n, c, i])
        mu = s / M
        q = 0.0
        for n in range(N):
            for i in range(L):
                d = np.float64(x[n, c, i]) - mu
                q += d * d
        mean[c] = mu
        var[c] = q / M


def _bn_forward_train(x, mean, invstd, gamma, beta, slope, out):
    """out (N, C, L) = act(gamma * (x - mean) * invstd + beta), written in place."""
    N, C, L = x.shape
    for c in prange(C):
        scale = gamma[c] * invstd[c]
        shift = beta[c] - mean[c] * scale
        for n in range(N):
            for i in range(L):
                y = x[n, c, i] * scale + shift
                out[n, c, i] = y if y > 0 else slope * y


def _act_grad(d, xv, mu, istd, gam, bet, slope):
    """(g, xhat) for one element: xhat recomputed from x, g = the upstream gradient d passed
    back through the fused LeakyReLU (times slope where gamma*xhat + beta <= 0)."""
    xh = (xv - mu) * istd
    g = d if gam * xh + bet > 0 else slope * d
    return g, xh


def _bn_backward(dout, x, mean, invstd, gamma, beta, slope, batch_stats, dx, dgamma, dbeta):
    """Backward of the (fused) batch norm. Writes dx; ACCUMULATES into dgamma, dbeta.

    With batch statistics (train mode), for g = dL/dy (the activation's gradient applied):
        dx = gamma * invstd / M * (M*g - sum(g) - xhat * sum(g*xhat))
    With fixed (running) statistics: dx = gamma * invstd * g.
    """
    N, C, L = x.shape
    M = N * L
    for c in prange(C):
        mu = mean[c]
        istd = invstd[c]
        gam = gamma[c]
        bet = beta[c]
        sg = 0.0
        sgx = 0.0
        for n in range(N):
            for i in range(L):
                g, xh = act_grad(dout[n, c, i], x[n, c, i], mu, istd, gam, bet, slope)
                sg += g
                sgx += g * xh
        dbeta[c] += sg
        dgamma[c] += sgx
        k = gam * istd
        if batch_stats:
            ab = np.empty(2, dtype=dx.dtype)  # the means in x's dtype: this pass in float32
            ab[0] = sg / M  # (float64 scalars made it float64: 1.3-2.5x slower, measured)
            ab[1] = sgx / M
            a = ab[0]
            b = ab[1]
            for n in range(N):
                for i in range(L):
                    g, xh = act_grad(dout[n, c, i], x[n, c, i], mu, istd, gam, bet, slope)
                    dx[n, c, i] = k * (g - a - xh * b)
        else:
            for n in range(N):
                for i in range(L):
                    g, xh = act_grad(dout[n, c, i], x[n, c, i], mu, istd, gam, bet, slope)
                    dx[n, c, i] = k * g


def _invstd(var, eps, out):
    """out = 1 / sqrt(var + eps)."""
    for c in range(var.shape[0]):
        out[c] = 1.0 / math.sqrt(var[c] + eps)


# fastmath: only reassociation of the float64 sums (no NaN/inf assumptions would be safe here)
_FAST = {"reassoc", "contract"}
act_grad = njit(cache=True, inline="always")(_act_grad)
bn_stats = njit(cache=True, parallel=True, fastmath=_FAST)(_bn_stats)
bn_forward_train = njit(cache=True, parallel=True)(_bn_forward_train)
bn_backward = njit(cache=True, parallel=True, fastmath=_FAST)(_bn_backward)
invstd = njit(cache=True)(_invstd)
