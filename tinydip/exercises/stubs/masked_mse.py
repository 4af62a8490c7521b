"""Exercise masked_mse (chapter 05_inpainting): the loss over known pixels, and its gradient.

Inpainting fits only the pixels that were observed. Check your work with:

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
    loss : a Python float.
    dpred : (N, C, H, W), dL/dpred, same dtype as pred.

    Equations
    ---------
    With m the mask broadcast to pred's shape and K = sum(m) the number of known entries:

        L = (1/K) * sum m (pred - target)^2
        dL/dpred = (2/K) * m * (pred - target)

    Hints
    -----
    * ``np.broadcast_to(mask, pred.shape)`` gives the mask at full size (a (1, 1, H, W) mask
      covers every channel, so it counts C times).
    * Unknown entries must not pull on the network: their gradient is exactly 0.
    * Keep float32: ``(2 / K)`` is a Python float, which does not promote a float32 array.
    """
    # TODO: compute the broadcast mask, K, the loss and dpred (~5 lines).
    raise NotImplementedError("TODO: implement masked_mse")
