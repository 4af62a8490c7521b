"""Batch normalisation (optionally fused with a LeakyReLU), forward and backward.

Shapes: x (N, C, H, W), gamma/beta/running statistics (C,).
"""

from typing import NamedTuple

import numpy as np

from ..kernels import bn_backward, bn_forward_train, bn_stats, invstd


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_forward` keeps for :func:`batchnorm_backward`."""

    x: np.ndarray  # (N, C, H, W) the input
    mean: np.ndarray  # (C,) the mean used (batch statistics in train mode)
    istd: np.ndarray  # (C,) 1 / sqrt(var + eps) used
    gamma: np.ndarray  # (C,)
    beta: np.ndarray  # (C,)
    slope: float  # fused LeakyReLU slope (1.0: none)
    train: bool


def batchnorm_forward(x, gamma, beta, running_mean, running_var, train=True, momentum=0.1,
                      eps=1e-5, slope=1.0):
    """Batch norm forward; with ``slope != 1`` a LeakyReLU(slope) is fused after it.

    Parameters
    ----------
    x : (N, C, H, W).  gamma, beta : (C,).  running_mean, running_var : (C,), updated in place
    in train mode.  train : use batch statistics (True) or the running ones (False).

    Returns
    -------
    out : (N, C, H, W);  cache : :class:`BatchNormCache` for :func:`batchnorm_backward`.

    Notes
    -----
    Train mode, over the M = N*H*W values of each channel:

        mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps)
        out = gamma * xhat + beta
        running_mean <- (1 - momentum) * running_mean + momentum * mu
        running_var  <- (1 - momentum) * running_var  + momentum * var * M / (M - 1)

    (the running variance is unbiased, as in PyTorch). Eval mode uses mu = running_mean and
    var = running_var.
    """
    N, C, H, W = x.shape
    x3 = x.reshape(N, C, H * W)  # (N, C, L)
    if train:
        mean = np.empty(C, dtype=x.dtype)
        var = np.empty(C, dtype=x.dtype)
        bn_stats(x3, mean, var)
        M = N * H * W
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (M / max(M - 1, 1))
    else:
        mean, var = running_mean.copy(), running_var
    istd = np.empty(C, dtype=x.dtype)
    invstd(var, eps, istd)
    out = np.empty(x.shape, dtype=x.dtype)  # C-contiguous even if x is not: written via a view
    bn_forward_train(x3, mean, istd, gamma, beta, slope, out.reshape(N, C, H * W))
    cache = BatchNormCache(x, mean, istd, gamma, beta, slope, train)
    return out, cache


def batchnorm_backward(dout, cache):
    """Batch norm backward.

    Returns
    -------
    dx : (N, C, H, W);  dgamma, dbeta : (C,).

    Notes
    -----
    With g the gradient w.r.t. the affine output y (dout, times the LeakyReLU slope where
    y <= 0) and xhat recomputed from the saved input:

        dbeta = sum(g),  dgamma = sum(g * xhat)
        train: dx = gamma / sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat))
        eval:  dx = gamma / sqrt(var + eps) * g
    """
    x, mean, istd, gamma, beta, slope, train = cache
    N, C, H, W = x.shape
    dx = np.empty(x.shape, dtype=x.dtype)  # C-contiguous even if x is not: written via a view
    dgamma = np.zeros(C, dtype=x.dtype)
    dbeta = np.zeros(C, dtype=x.dtype)
    bn_backward(dout.reshape(N, C, H * W), x.reshape(N, C, H * W), mean, istd, gamma, beta,
                slope, train, dx.reshape(N, C, H * W), dgamma, dbeta)
    return dx, dgamma, dbeta
