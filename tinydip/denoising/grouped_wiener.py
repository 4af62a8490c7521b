"""Grouped Wiener filtering guided by a pilot: BM3D's second step with any pilot.

:func:`tinydip.denoising.pilot_wiener.pilot_wiener` shrinks the noisy image window by window. This
module adds block matching (Dabov et al., 2007): for each reference patch, the patches of
the image that look most like it -- judged on the PILOT, which is nearly noise-free -- are
stacked into a 3-D group, and the Wiener gains are applied in a 3-D transform of the group
(2-D DCT of every patch, then a DCT across the stack). Similar patches make the group's
spectrum sparser than one patch's, so the gains separate signal from noise better. CBM3D
gets its pilot from a first hard-thresholding step; here the pilot is a DIP fit, its power
calibrated per frequency (:func:`tinydip.denoising.pilot_wiener.pilot_calibration`).

Measured (benchmarks/README.md, "Denoising beyond one fit"; four images, DIP width-32 fits,
no ground truth): +0.06 dB over the calibrated sliding pass at 128x128 and +0.09 at 256x256
for sigma 25, +0.14-0.15 at sigma 50, -0.02 at sigma 15 (128x128); +0.09 on four held-out
images -- with reference patches every 3 pixels, as BM3D. Every 2 pixels (the default since
2026-12-06) adds +0.03 dB on average, on 53 of 53 saved fits (sizes 128 and 256, sigma
15-50, "The pass's stride" there), for about twice the time: 0.8 s at 128x128, 3.4 s at
256x256 on 2 cores (the sliding pass: 0.4 / 1.2 s).
Memory (tracemalloc peak, colour): ~13 MB of group buffers plus ~150 bytes per pixel (15 MB
at 128x128, 22 MB at 256x256).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..kernels.block_match import aggregate, block_match, gather
from .pilot_wiener import OPPONENT, checked_pair, pilot_calibration

__all__ = ["grouped_wiener", "reference_corners", "PATCH", "STEP", "MAX_GROUP", "RADIUS"]

# BM3D's second-step settings (Dabov et al. 2007; the bm3d package's "np" profile):
PATCH = 8  # patch side
STEP = 2  # stride of the reference patches (BM3D: 3; 2 measured +0.03 dB, see below)
RADIUS = 19  # search window: corners within +-19 rows and columns (39 x 39)
MAX_GROUP = 32  # patches per group at most (rounded down to a power of two)
TAU = 400 / 255**2  # largest mean squared difference between matched pilot patches
BETA = 2.0  # Kaiser window used to aggregate the patch estimates


def reference_corners(n: int, p: int, step: int) -> np.ndarray:
    """Top-left coordinates 0, step, 2 step, ... of reference patches along a side of n
    pixels, with n - p always included so that every pixel is covered."""
    c = np.arange(0, n - p + 1, step)
    return c if c[-1] == n - p else np.append(c, n - p)


def grouped_wiener(noisy: np.ndarray, pilot: np.ndarray, sigma: float, *,
                   patch: int = PATCH, step: int = STEP, radius: int = RADIUS,
                   max_group: int = MAX_GROUP, tau: float = TAU, calibrate: bool = True,
                   chunk: int = 32) -> np.ndarray:
    r"""Wiener-filter ``noisy`` in 3-D groups of similar patches found on ``pilot``.

    Parameters
    ----------
    noisy : HxWxC float array (C = 1 or 3), clean + white noise of std ``sigma``.
    pilot : HxWxC float array, an estimate of the clean image (e.g. the DIP output).
    sigma : the noise's standard deviation in the images' units (e.g. 25/255), >= 0.
    patch, step, radius, max_group, tau : patch side, stride of the reference patches,
        search radius, largest group (a power of two), and the largest mean squared
        difference (images' units squared) of a match (``inf``: no limit); defaults:
        BM3D's.
    calibrate : scale the pilot's power per 2-D frequency as in
        :func:`~tinydip.denoising.pilot_wiener.pilot_wiener` (False: plain BM3D gains).
    chunk : groups transformed at once (memory: about 8 x chunk x max_group x C x patch^2
        float64 numbers, 13 MB at the defaults for colour; larger chunks are no faster).

    Returns
    -------
    out : HxWxC float32, clipped to [0, 1].

    Notes
    -----
    Colour images are rotated by :data:`~tinydip.denoising.pilot_wiener.OPPONENT` (the noise stays
    white); patches are matched on the pilot's first (luminance) channel and the same
    groups are used for every channel. A group of :math:`n` patches (:math:`n` the largest
    power of two not above the number of matches) is transformed by :math:`T`, the
    orthonormal 3-D DCT; with :math:`y` and :math:`q` the transformed noisy and pilot
    groups and :math:`r` the calibration ratio of each coefficient's 2-D frequency,

    .. math::
        \hat x = T^{-1}(w \odot y), \qquad w_k = \frac{r_k q_k^2}{r_k q_k^2 + \sigma^2},

    and every patch estimate is added to the image with weight
    :math:`\kappa / \sum_k w_k^2` (:math:`\kappa` a Kaiser window, :math:`\beta = 2`), then
    divided by the summed weights. (Scaling the pilot's 2-D coefficients by
    :math:`\sqrt{r}` commutes with the transform across the stack, so the 2-D calibration
    carries over to 3-D exactly.) With ``sigma = 0`` every gain is 1 and the output is
    ``noisy`` (clipped).
    """
    y, q = checked_pair("grouped_wiener", noisy, pilot, sigma, patch)
    H, W, C = y.shape
    if step < 1 or radius < 0 or max_group < 1 or max_group & (max_group - 1) or chunk < 1:
        raise ValueError("grouped_wiener: need step >= 1, radius >= 0, chunk >= 1 and "
                         f"max_group a power of two, got {step}, {radius}, {chunk}, "
                         f"{max_group}")
    if not tau >= 0:  # tau may be inf (no limit), not NaN
        raise ValueError(f"grouped_wiener: tau must be >= 0, got {tau}")
    if C == 3:
        y, q = y @ OPPONENT.T, q @ OPPONENT.T  # (H, W, 3) in opponent colours
    ratio = np.stack([pilot_calibration(y[:, :, c], q[:, :, c], sigma, patch=patch)
                      if calibrate and sigma > 0 else np.ones((patch, patch))
                      for c in range(C)])  # (C, p, p)
    y = np.ascontiguousarray(y.transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)
    q = np.ascontiguousarray(q.transpose(2, 0, 1))  # (H, W, C) -> (C, H, W)
    rows = reference_corners(H, patch, step)
    cols = reference_corners(W, patch, step)
    refs = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)  # (R, 2)
    idx = np.zeros((len(refs), max_group, 2), dtype=np.int64)  # (R, max_group, 2) corners
    count = np.zeros(len(refs), dtype=np.int64)  # (R,)
    block_match(q[0], refs, patch, radius, max_group, float(tau), idx, count)
    size = 2 ** np.floor(np.log2(count)).astype(np.int64)  # (R,) group sizes, powers of two
    window = np.outer(np.kaiser(patch, BETA), np.kaiser(patch, BETA))  # (p, p)
    num = np.zeros_like(y)  # (C, H, W)
    den = np.zeros_like(y)
    for n in np.unique(size):
        members = np.flatnonzero(size == n)
        for s in range(0, len(members), chunk):
            corners = np.ascontiguousarray(idx[members[s:s + chunk], :n])  # (G, n, 2)
            _filter_groups(y, q, corners, float(sigma) ** 2, ratio, window, num, den)
    out = (num / den).transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if C == 3:
        out = out @ OPPONENT  # back to RGB (OPPONENT is orthogonal)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _filter_groups(y: np.ndarray, q: np.ndarray, corners: np.ndarray, var: float,
                   ratio: np.ndarray, window: np.ndarray, num: np.ndarray,
                   den: np.ndarray) -> None:
    """Filter G groups of n patches (corners (G, n, 2)) of every plane of y, q (C, H, W)
    with calibration ``ratio`` (C, p, p) and add the estimates to num, den (C, H, W)."""
    G, n = corners.shape[:2]
    C, p = y.shape[0], window.shape[0]
    gy = np.empty((G, n, C, p, p))
    gq = np.empty((G, n, C, p, p))
    gather(y, corners, p, gy)
    gather(q, corners, p, gq)
    ty, tq = dct3(gy), dct3(gq)  # (G, n, C, p, p)
    p2 = ratio * tq * tq  # ratio broadcasts over (G, n)
    gain = p2 / (p2 + var) if var > 0 else np.ones_like(p2)
    est = dct3(gain * ty, inverse=True)
    weight = 1.0 / np.maximum(np.sum(gain * gain, axis=(1, 3, 4)), 1e-12)  # (G, C)
    aggregate(num, den, est, corners, weight, window)


@cache
def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix D (n, n): ``D @ x`` is ``scipy.fft.dct(x, norm="ortho")``
    and ``D.T @ X`` its inverse. Read-only (cached)."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    d = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * i + 1) * k / (2 * n))  # (n, n)
    d[0] /= np.sqrt(2.0)
    d.flags.writeable = False
    return d


def dct3(groups: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Orthonormal 3-D DCT (or its inverse) of groups (G, n, C, p, p) over the axes (n, p, p),
    as matrix products: each patch by kron(D_p, D_p), then across the stack by D_n.

    Notes
    -----
    For a p x p patch X flattened row-major, vec(D X D^T) = (D kron D) vec(X); the
    transform across the stack multiplies the n patches of a group by D_n. The inverse
    uses the transposes, in reverse order (both matrices are orthogonal).
    """
    G, n, C, p, _ = groups.shape
    k2, dn = np.kron(dct_matrix(p), dct_matrix(p)), dct_matrix(n)  # (p*p, p*p), (n, n)
    if inverse:
        t = dn.T @ groups.reshape(G, n, C * p * p)  # across the stack: (G, n, C*p*p)
        t = t.reshape(G * n * C, p * p) @ k2  # every patch: (G*n*C, p*p)
    else:
        t = groups.reshape(G * n * C, p * p) @ k2.T  # every patch: (G*n*C, p*p)
        t = dn @ t.reshape(G, n, C * p * p)  # across the stack: (G, n, C*p*p)
    return t.reshape(G, n, C, p, p)
