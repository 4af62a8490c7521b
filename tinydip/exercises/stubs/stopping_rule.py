"""Exercise stopping_rule (chapter 10_knowing_when_to_stop): stop without the ground truth.

Deep Image Prior fits the image first and the noise later, so the output is best somewhere
in the middle. The output moves least there: between the fast fit of the content and the
slow fit of the noise. This rule (ES-WMV, Wang et al. 2023) watches the variance of the
last W outputs and stops when it has not reached a new minimum for `patience` iterations.
Check your work with:

    tinydip exercise check stopping_rule
"""

from __future__ import annotations

import math

import numpy as np


class VarianceStopper:
    """Windowed-variance early stopping with patience.

    Usage in a fitting loop::

        rule = VarianceStopper(window=50, patience=100)
        for it in range(iters):
            ... out = net(z) ...
            if rule.update(it, out):
                break                 # the best output was at iteration rule.best_iter

    Attributes
    ----------
    statistic : float, the latest windowed variance (math.nan until the window is full).
    best_iter : int or None, the iteration at which the lowest statistic so far was computed.
    """

    def __init__(self, window: int = 50, patience: int = 100) -> None:
        self.window = window
        self.patience = patience
        self.statistic = math.nan
        self.best_iter: int | None = None
        # TODO: whatever else you need (the last `window` outputs, the best value so far).

    def update(self, it: int, output: np.ndarray) -> bool:
        """Feed the output of iteration ``it`` (0, 1, 2, ...); return True to stop now.

        Parameters
        ----------
        it : the iteration number, increasing by 1.
        output : (N, C, H, W) array. The caller may REUSE this array for the next output.

        Equations
        ---------
        Once the window holds the W latest outputs x_{it-W+1} .. x_it (from it = W - 1 on):

            mean = (1/W) sum_w x_w                       (per element)
            statistic = mean over elements of (1/W) sum_w (x_w - mean)^2

        i.e. ``np.var(stack, axis=0).mean()`` (population variance, ddof = 0).
        If statistic < the lowest so far: remember it and set best_iter = it.
        Return True at the first it with  it - best_iter >= patience.

        Hints
        -----
        * ``collections.deque(maxlen=W)`` drops the oldest output by itself.
        * Store ``output.copy()``: a loop that reuses its buffer would change your window.
        """
        # TODO: push the output, update statistic and best_iter, decide (~12 lines).
        raise NotImplementedError("TODO: implement VarianceStopper.update")
