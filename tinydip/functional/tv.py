"""Total variation (vectorial, smoothed) with its gradient, and a TV-regularised loss.

TV-regularised DIP (Liu, Sun, Xu & Kamilov, "Image restoration using total variation
regularized deep image prior", ICASSP 2019) adds ``weight * TV(output)`` to the data term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["TVCache", "tv_forward", "tv_backward", "with_tv"]


class TVCache(NamedTuple):
    """What :func:`tv_backward` needs: the differences divided by the magnitude."""

    gh: np.ndarray  # (N, C, H, W) vertical difference / m (0 in the last row)
    gw: np.ndarray  # (N, C, H, W) horizontal difference / m (0 in the last column)
    count: int  # N * H * W, the number of magnitudes averaged


def tv_forward(x: np.ndarray, eps: float = 1e-3) -> tuple[float, TVCache]:
    r"""Smoothed vectorial total variation of a batch of images, averaged over pixels.

    Parameters
    ----------
    x : (N, C, H, W) float array.
    eps : smoothing (> 0) that makes TV differentiable where the image is flat.

    Returns
    -------
    value : float, ``TV(x)``;  cache : :class:`TVCache` for :func:`tv_backward`.

    Notes
    -----
    Forward differences with a zero difference across the last row/column (Neumann
    boundary), the channels coupled under one square root (Bresson & Chan's vectorial TV:
    an edge in colour costs once, not once per channel):

    .. math::
        \partial_h x_{c,i,j} = x_{c,i+1,j} - x_{c,i,j}, \quad
        \partial_w x_{c,i,j} = x_{c,i,j+1} - x_{c,i,j}, \\
        m_{i,j} = \sqrt{\textstyle\sum_c (\partial_h x_{c,i,j})^2 + (\partial_w x_{c,i,j})^2
                  + \epsilon^2}, \qquad
        \mathrm{TV}(x) = \frac{1}{N H W}\sum_{n,i,j} m_{n,i,j},

    and with :math:`g_h = \partial_h x / m`, :math:`g_w = \partial_w x / m` the gradient is a
    negative divergence,

    .. math::
        \frac{\partial \mathrm{TV}}{\partial x_{c,i,j}} = \frac{1}{N H W}\left(
            g_{h;c,i-1,j} - g_{h;c,i,j} + g_{w;c,i,j-1} - g_{w;c,i,j}\right)

    (terms with an index outside the image are zero).
    """
    if x.ndim != 4:
        raise ValueError(f"tv_forward: need (N, C, H, W), got shape {x.shape}")
    if not eps > 0:
        raise ValueError(f"tv_forward: eps must be > 0, got {eps!r}")
    dh = np.zeros_like(x)
    dw = np.zeros_like(x)
    dh[:, :, :-1, :] = x[:, :, 1:, :] - x[:, :, :-1, :]
    dw[:, :, :, :-1] = x[:, :, :, 1:] - x[:, :, :, :-1]
    m = np.sqrt((dh * dh + dw * dw).sum(axis=1, keepdims=True) + x.dtype.type(eps) ** 2)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    value = float(m.sum(dtype=np.float64)) / count
    return value, TVCache(dh / m, dw / m, count)


def tv_backward(dout: float, cache: TVCache) -> np.ndarray:
    """Gradient of ``dout * TV(x)`` with respect to x, (N, C, H, W) like x."""
    gh, gw, count = cache
    dx = np.zeros_like(gh)
    dx -= gh
    dx[:, :, 1:, :] += gh[:, :, :-1, :]
    dx -= gw
    dx[:, :, :, 1:] += gw[:, :, :, :-1]
    dx *= gh.dtype.type(dout / count)
    return dx


def with_tv(loss_fn: Callable, weight: float, eps: float = 1e-3) -> Callable:
    """``loss_fn`` plus ``weight * TV(pred)``, with :func:`~tinydip.functional.mse_loss`'s
    contract ``(pred, target, mask) -> (E, dE/dpred)``.

    TV is taken of the prediction ``A f``, so it regularises the output itself when A is
    the identity (denoising); for other operators it would act on the wrong image.
    """
    if not weight >= 0:
        raise ValueError(f"with_tv: weight must be >= 0, got {weight!r}")

    def loss(pred, target, mask=None):
        value, grad = loss_fn(pred, target, mask)
        if weight == 0:
            return value, grad
        tv, cache = tv_forward(pred, eps)
        return value + weight * tv, grad + tv_backward(weight, cache).astype(grad.dtype)

    loss.__name__ = f"{getattr(loss_fn, '__name__', 'loss')}_tv"
    return loss
