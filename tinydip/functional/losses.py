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
