"""Exercise batchnorm_backward, level derive (chapter 03_batchnorm):
BatchNorm's backward in train mode.

The forward pass is given; derive the backward. Check your work with:

    tinydip exercise check batchnorm_backward
"""

from __future__ import annotations

import numpy as np


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Train-mode batch normalisation over (N, H, W) per channel (given, do not change).

    x : (N, C, H, W).  gamma, beta : (C,).  Over the M = N*H*W values of each channel:

        mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps)
        out = gamma * xhat + beta

    Returns out (N, C, H, W) and cache = (xhat, gamma, istd) with istd = 1 / sqrt(var + eps)
    of shape (1, C, 1, 1).
    """
    C = x.shape[1]
    mu = x.mean(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    var = x.var(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1), biased (divides by M)
    istd = 1 / np.sqrt(var + eps)
    xhat = (x - mu) * istd  # (N, C, H, W)
    out = gamma.reshape(1, C, 1, 1) * xhat + beta.reshape(1, C, 1, 1)
    return out, (xhat, gamma, istd)


def batchnorm_backward(dout: np.ndarray,
                       cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of train-mode batch normalisation.

    Parameters
    ----------
    dout : (N, C, H, W) upstream gradient.
    cache : (xhat, gamma, istd) from :func:`batchnorm_forward`.

    Returns
    -------
    dx : (N, C, H, W),  dgamma : (C,),  dbeta : (C,), all in dout's dtype.

    To derive
    ---------
    Follow the graph x -> mu, var -> xhat -> out backwards (chapter 3). In train mode mu and
    var are computed from the same channel's values, so moving one x moves every xhat of its
    channel: keep those paths. Simplify until dx is written with xhat, gamma and istd only
    (the cache), plus sums over each channel.
    """
    xhat, gamma, istd = cache
    N, C, H, W = dout.shape
    # TODO: derive and compute dbeta, dgamma and dx.
    raise NotImplementedError("TODO: implement batchnorm_backward")
