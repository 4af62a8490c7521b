"""Exercise adam_step, level derive (chapter 09_adam): one Adam update with bias correction.

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

    What Adam does (derive the formulas)
    -------------------------------------
    * m is an exponential moving average of the gradient with factor beta1 (beta1 of the old
      value is kept), v the same for the squared gradient with beta2.
    * Both start at 0, which biases the early averages towards 0. Unroll the average for a
      constant gradient g: what is m after t steps, as a multiple of g? Divide that factor
      out (the "bias correction"), for m and for v.
    * The step moves p against the corrected m, divided by the root of the corrected v plus
      eps, times lr.
    * Return the raw (uncorrected) moments: the next step averages from them.
    """
    # TODO: one Adam step.
    raise NotImplementedError("TODO: implement adam_step")
