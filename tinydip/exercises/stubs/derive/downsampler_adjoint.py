"""Exercise downsampler_adjoint, level derive (chapter 06_super_resolution):
the Lanczos downsampler's adjoint.

Super-resolution fits ||A f(z) - y||^2 with A a fixed downsampler; its gradient needs A^T.
The forward is given; derive the adjoint. Check your work with:

    tinydip exercise check downsampler_adjoint
"""

from __future__ import annotations

import numpy as np


def lanczos2_taps(f: int) -> np.ndarray:
    """The normalised 1-D Lanczos-2 kernel k of length 4f (given).

    t_j = (j + 1/2 - 2f) / f,  k_j = sinc(t_j) sinc(t_j / 2) / (sum of those), j = 0..4f-1
    """
    t = (np.arange(4 * f) + 0.5 - 2 * f) / f
    k = np.sinc(t) * np.sinc(t / 2)
    return k / k.sum()


def window_index(n: int, f: int) -> np.ndarray:
    """(n/f, 4f) source indices: row i holds clamp(f*i - 3f/2 + j, 0, n-1) for j = 0..4f-1."""
    i = np.arange(n // f)[:, None]
    j = np.arange(4 * f)[None, :]
    return np.clip(f * i - 3 * f // 2 + j, 0, n - 1)


def _downsample_axis(x: np.ndarray, f: int) -> np.ndarray:
    """Along the LAST axis: y[..., i] = sum_j k_j x[..., idx[i, j]] (given)."""
    k = lanczos2_taps(f).astype(x.dtype)
    idx = window_index(x.shape[-1], f)  # (n/f, 4f)
    return (x[..., idx] * k).sum(axis=-1)  # (..., n/f)


def downsample_forward(x: np.ndarray, f: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H/f, W/f): the 1-D downsampler along W, then along H (given)."""
    y = _downsample_axis(x, f)  # along W
    y = _downsample_axis(np.swapaxes(y, 2, 3), f)  # along H
    return np.swapaxes(y, 2, 3)


def downsample_adjoint(dy: np.ndarray, f: int) -> np.ndarray:
    """The adjoint A^T of :func:`downsample_forward`.

    Parameters
    ----------
    dy : (N, C, h, w), a gradient with respect to the downsampled image.
    f : the factor (2, 4 or 8).

    Returns
    -------
    dx : (N, C, f*h, f*w), same dtype as dy, such that for all x, y
         np.vdot(downsample_forward(x, f), y) == np.vdot(x, downsample_adjoint(y, f)).

    To derive
    ---------
    In 1-D the forward is y[i] = sum_j k_j x[idx[i, j]] (read :func:`_downsample_axis`).
    Which x entries did each y[i] read, with which weights, and what does the adjoint send
    back to them? Look at window_index near the borders: what happens when the same x entry
    appears more than once, and does your NumPy indexing handle that?
    Test it with the dot-product identity above on random x, y.
    """
    N, C, h, w = dy.shape
    # TODO: derive a 1-D adjoint along the last axis and apply it along W and H.
    raise NotImplementedError("TODO: implement downsample_adjoint")
