"""Exercise adam_step (chapter 09_adam): one Adam update with bias correction.

Deep Image Prior fits with Adam. Check your work with:

    tinydip exercise check adam_step
"""

from __future__ import annotations

import numpy as np


def adam_step(p: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int,
              lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step (Kingma & Ba, as PyTorch does it).

    Parameters
    ----------
    p : parameter array (any shape, float32).  grad : dL/dp, same shape.
    m, v : the first and second moment estimates from the previous step (zeros before the
        first step), same shape.
    t : this step's number: 1 on the first step, 2 on the second, ...

    Returns
    -------
    p_new, m_new, v_new : same shapes and dtype as p (new arrays, or updated in place and
        returned -- either is fine).

    Equations
    ---------
        m_new = beta1 * m + (1 - beta1) * grad
        v_new = beta2 * v + (1 - beta2) * grad^2
        m_hat = m_new / (1 - beta1^t)        (bias correction: m starts at 0, so early
        v_hat = v_new / (1 - beta2^t)         estimates are too small)
        p_new = p - lr * m_hat / (sqrt(v_hat) + eps)

    Hints
    -----
    * Return the RAW moments m_new and v_new: the bias-corrected ones are only for the update.
    * Python floats keep float32 arrays float32.
    """
    # TODO: the five lines above.
    raise NotImplementedError("TODO: implement adam_step")
