"""Losses with gradients: mean squared error, optionally under a mask of known pixels."""

import numpy as np


def mse_loss(pred, target, mask=None):
    """Mean squared error and its gradient.

    Parameters
    ----------
    pred, target : same shape (e.g. (N, C, H, W)).  mask : None, or an array broadcastable
    to pred with 1 where the pixel is known and 0 where it is not.

    Returns
    -------
    loss : float;  dpred : array like pred.

    Notes
    -----
    Without a mask, L = (1/K) sum (pred - target)^2 over all K entries.
    With a mask m, L = sum m (pred - target)^2 / sum m (over the broadcast mask): the mean
    over known entries only, so unknown pixels get zero gradient:
        dL/dpred = 2 m (pred - target) / sum m
    """
    if pred.shape != target.shape:
        raise ValueError(f"loss: prediction shape {pred.shape} != target shape {target.shape}")
    diff = pred - target
    if mask is None:
        wdiff = diff
        count = diff.size
    else:
        try:
            mask = np.broadcast_to(np.asarray(mask, dtype=pred.dtype), pred.shape)
        except ValueError:
            raise ValueError(f"loss: mask shape {np.shape(mask)} cannot be broadcast to "
                             f"prediction shape {pred.shape}") from None
        wdiff = diff * mask
        count = float(mask.sum(dtype=np.float64))
        if count <= 0:
            raise ValueError("loss: the mask has no known pixel")
    loss = float(np.dot(wdiff.ravel(), diff.ravel())) / count
    dpred = wdiff * (2.0 / count)
    return loss, dpred.astype(pred.dtype, copy=False)


POISSON_EPS = 1e-6  # predictions below this are continued linearly (the log is finite)


def poisson_loss(pred, target, mask=None):
    """Poisson negative log-likelihood (shot noise) and its gradient; ``mse_loss``'s contract.

    For an observation ``y = k / PEAK``, ``k ~ Poisson(PEAK x)``, the negative log-likelihood
    of a prediction ``p`` of ``x`` is ``PEAK * sum(p - y log p)`` plus terms without ``p``;
    the PEAK factor does not move the minimiser, so the loss needs no PEAK.

    Notes
    -----
    Per entry, ``l(p, y) = p - y - y log(p / y)`` (half the Poisson deviance: >= 0, zero at
    ``p = y``; ``y log y = 0`` at ``y = 0``). ``L = sum m l / sum m`` over the known entries
    (``mask`` m as in :func:`mse_loss`; no mask: the mean over all K entries), and

        dL/dp = m (1 - y / p) / sum m.

    Below ``p = POISSON_EPS`` (log p would blow up) ``l`` is continued by its tangent at
    ``POISSON_EPS``, so the loss stays finite and the gradient keeps pushing p up. ``target``
    must be >= 0 (ValueError otherwise).
    """
    if pred.shape != target.shape:
        raise ValueError(f"loss: prediction shape {pred.shape} != target shape {target.shape}")
    y = np.asarray(target, dtype=np.float64)
    if np.any(y < 0):
        raise ValueError("poisson loss: the observation has negative values (photon counts "
                         "cannot be negative)")
    p = np.asarray(pred, dtype=np.float64)
    pc = np.maximum(p, POISSON_EPS)
    ratio = np.divide(pc, y, out=np.ones_like(pc), where=y > 0)
    slope = 1.0 - y / pc
    per = pc - y - y * np.log(ratio) + (p - pc) * slope
    if mask is None:
        weights, count = None, float(per.size)
    else:
        try:
            weights = np.broadcast_to(np.asarray(mask, dtype=np.float64), per.shape)
        except ValueError:
            raise ValueError(f"loss: mask shape {np.shape(mask)} cannot be broadcast to "
                             f"prediction shape {pred.shape}") from None
        count = float(weights.sum())
        if count <= 0:
            raise ValueError("loss: the mask has no known pixel")
    if weights is not None:
        per, slope = per * weights, slope * weights
    loss = float(per.sum()) / count
    return loss, (slope / count).astype(pred.dtype, copy=False)
