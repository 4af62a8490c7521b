"""Exercise numerical_gradient (chapter 01_gradients): central differences and relative error.

Every backward pass in tinydip is proved against finite differences. Here you write the two
tools that do it. Check your work with:

    tinydip exercise check numerical_gradient
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : takes an array shaped like ``x`` and returns a float.
    x : array of any shape, float64 (perturbed in place while you work; see Hints).
    h : the step.

    Returns
    -------
    grad : array of the same shape and dtype as ``x``, grad[i] ~ df/dx[i].

    Equation
    --------
    For every entry i, with e_i the unit vector of that entry:

        df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2 h)

    The error is O(h^2) (truncation) + O(eps / h) (round-off); in float64 with h = 1e-5 both
    are far below 1e-7.

    Hints
    -----
    * Loop over every index of a multi-dimensional array with ``for i in np.ndindex(x.shape)``.
    * Perturb one entry at a time: save ``old = x[i]``, set ``x[i] = old + h``, evaluate,
      set ``x[i] = old - h``, evaluate, then put ``x[i] = old`` back. (Adding and subtracting
      h does not always give back the same float: assign the saved value.)
    """
    grad = np.zeros_like(x)  # (same shape as x)
    # TODO: fill grad with the central difference of f at every entry of x (about 6 lines).
    raise NotImplementedError("TODO: implement numerical_gradient")
    return grad


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Relative error between two arrays of the same shape, as tinydip measures it.

    Equation
    --------
        rel_error(a, b) = max_i |a_i - b_i| / max(max_i |a_i|, max_i |b_i|)

    i.e. the largest difference relative to the largest entry of either array (max norm),
    not entry by entry. If both arrays are all zeros, return 0.0.

    Returns
    -------
    A Python float: ~1e-10 means two gradients agree, ~1 means they are unrelated.
    """
    # TODO: compute the max-norm relative error (3-4 lines; remember the all-zeros case).
    raise NotImplementedError("TODO: implement rel_error")
