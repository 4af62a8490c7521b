"""Classical baselines reported beside every study row (no learning, no ground truth).

* denoising: translation-invariant Haar wavelet hard thresholding at 3 sigma (Coifman &
  Donoho's cycle spinning: average of the thresholded estimates over 4x4 circular shifts);
* inpainting: harmonic fill (the missing pixels solve Laplace's equation with the known
  pixels as boundary values, one sparse solve per channel);
* super-resolution: bicubic upsampling (``tinydip.degrade.bicubic_upsample``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from ..codec.baselines import haar_forward, haar_inverse


def haar_denoise(noisy: np.ndarray, sigma: float, levels: int = 3, shifts: int = 4,
                 k: float = 3.0) -> np.ndarray:
    """Cycle-spun Haar hard thresholding of an HxWxC image with noise ``sigma`` (0-255 scale).

    Detail coefficients below ``k * sigma / 255`` in magnitude are zeroed (the transform is
    orthonormal, so the noise keeps its sigma); the approximation band is kept.
    """
    x = np.asarray(noisy, dtype=np.float64)
    t = k * float(sigma) / 255.0
    acc = np.zeros_like(x)
    for dy in range(shifts):
        for dx in range(shifts):
            pyr = haar_forward(np.roll(x, (dy, dx), axis=(0, 1)), levels)
            pyr.details = [tuple(np.where(np.abs(b) >= t, b, 0.0) for b in lvl)
                           for lvl in pyr.details]
            acc += np.roll(haar_inverse(pyr), (-dy, -dx), axis=(0, 1))
    return np.clip(acc / shifts**2, 0, 1).astype(np.float32)


def harmonic_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill pixels where ``mask`` is False by harmonic interpolation (4-neighbour Laplacian,
    Neumann border); known pixels are kept."""
    img = np.asarray(image, dtype=np.float64)
    known = np.asarray(mask, dtype=bool)
    h, w = known.shape
    n = h * w
    idx = np.arange(n).reshape(h, w)
    rows, cols = [], []
    for a, b in ((idx[:, :-1], idx[:, 1:]), (idx[:-1, :], idx[1:, :])):
        rows += [a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel()]
    r, c = np.concatenate(rows), np.concatenate(cols)
    adj = sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))
    lap = sp.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj  # graph Laplacian
    unknown = ~known.ravel()
    out = img.reshape(n, -1).copy()
    if not unknown.any():
        return np.asarray(image, dtype=np.float32).copy()
    if known.any():
        a_uu = lap[unknown][:, unknown].tocsc()
        a_uk = lap[unknown][:, ~unknown]
        rhs = -(a_uk @ out[~unknown])
        sol = spsolve(a_uu, rhs)
        out[unknown] = sol.reshape(int(unknown.sum()), -1)
    else:
        out[:] = 0.5
    return np.clip(out.reshape(img.shape), 0, 1).astype(np.float32)
