import numpy as np


def masked_mse(pred, target, mask):
    m = np.broadcast_to(mask, pred.shape).astype(pred.dtype)
    K = float(m.sum())
    d = pred - target
    loss = float(np.sum(m * d * d)) / K
    dpred = (2 / K) * m * d
    return loss, dpred
