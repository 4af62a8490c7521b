"""Loss modules wrapping :func:`tinydip.functional.mse_loss`."""

from __future__ import annotations

import numpy as np

from ..functional import mse_loss


class MSELoss:
    """Mean squared error, optionally over known pixels only (``mask``: 1 known, 0 unknown).

    ``loss = crit(pred, target, mask)`` then ``dpred = crit.backward()``.
    """

    def __init__(self):
        self._grad = None

    def __call__(self, pred: np.ndarray, target: np.ndarray,
                 mask: np.ndarray | None = None) -> float:
        loss, self._grad = mse_loss(pred, target, mask)
        return loss

    def backward(self) -> np.ndarray:
        if self._grad is None:
            raise ValueError("MSELoss.backward called before the loss was computed")
        return self._grad
