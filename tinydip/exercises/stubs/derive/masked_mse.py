"""Exercise masked_mse, level derive (chapter 05_inpainting): the loss over known pixels, and
its gradient.

Check your work with:

    tinydip exercise check masked_mse
"""

from __future__ import annotations

import numpy as np


def masked_mse(pred: np.ndarray, target: np.ndarray,
               mask: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error over the known entries, and its gradient with respect to pred.

    Parameters
    ----------
    pred, target : (N, C, H, W).
    mask : broadcastable to pred, e.g. (N, C, H, W) or (1, 1, H, W); 1 = known, 0 = unknown.

    Returns
    -------
    loss : a Python float: the mean, over the KNOWN entries of pred (the mask broadcast to
        pred's shape), of the squared difference pred - target.
    dpred : (N, C, H, W), dL/dpred, same dtype as pred.

    To derive
    ---------
    Write the loss as a sum over entries divided by a count; which entries does the count
    include, and which entries of pred does the loss depend on at all? Differentiate it.
    """
    # TODO: the loss and its gradient.
    raise NotImplementedError("TODO: implement masked_mse")
