"""Classical baselines the DIP outputs are compared with: bicubic upsampling
(super-resolution) and harmonic / biharmonic fill (inpainting; sparse solves)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from .masks import _as_bool_mask

_Resampling = getattr(Image, "Resampling", Image)  # Pillow < 9.1 has no Image.Resampling


def bicubic_upsample(img_lr: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic baseline: ``(h, w[, C])`` float image -> ``(f h, f w[, C])`` float32 in [0, 1].

    Each channel is resized as a 32-bit float Pillow image with ``BICUBIC`` (Keys, a = -0.5),
    then clipped to [0, 1].
    """
    a = np.asarray(img_lr)
    if a.ndim not in (2, 3):
        raise ValueError(f"bicubic_upsample expects HxW or HxWxC, got shape {a.shape}")
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    f = int(factor)
    planes = a[:, :, None] if a.ndim == 2 else a
    h, w = planes.shape[:2]
    out = np.empty((h * f, w * f, planes.shape[2]), dtype=np.float32)
    for c in range(planes.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32))
        out[:, :, c] = np.asarray(im.resize((w * f, h * f), _Resampling.BICUBIC))
    out = np.clip(out, 0.0, 1.0)
    return out[:, :, 0] if a.ndim == 2 else out


def _grid_laplacian(h: int, w: int):
    """Graph Laplacian ``L = D - A`` of the 4-connected h x w pixel grid (CSR, float64):
    (L x)_p = sum over the neighbours q of p of (x_p - x_q) -- the 5-point Laplacian (negated)
    with Neumann (reflecting) boundary: a pixel on the edge has only its in-image neighbours."""
    import scipy.sparse as sp

    idx = np.arange(h * w).reshape(h, w)
    rows = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    cols = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    ones = np.ones(rows.size)
    adj = sp.coo_matrix((ones, (rows, cols)), shape=(h * w, h * w))
    adj = (adj + adj.T).tocsr()
    return (sp.diags(np.asarray(adj.sum(axis=1)).ravel()) - adj).tocsr()


def smooth_fill(img: np.ndarray, mask: np.ndarray, order: int = 1) -> np.ndarray:
    """Fill the unknown pixels (``mask == False``) of an ``(H, W[, C])`` image smoothly.

    ``order=1``: the **harmonic** fill -- Laplace's equation ``L x = 0`` on the unknown pixels
    with the known pixels as Dirichlet data (minimises ``x^T L x``, the sum of squared
    differences between neighbours). ``order=2``: the **biharmonic** fill -- minimises
    ``|L x|^2`` (the squared Laplacian ``L^T L`` on the unknown pixels): smoother, it
    continues gradients across gaps instead of flattening them. ``L`` is the 4-neighbour
    graph Laplacian with reflecting (Neumann) image border (:func:`_grid_laplacian`). One
    sparse LU factorisation solves every channel. Known pixels are kept exactly; the result
    is float32 clipped to [0, 1]. At least one pixel must be known (then the systems are
    positive definite: the grid is connected).
    """
    import scipy.sparse.linalg as spla

    a = np.asarray(img)
    m = _as_bool_mask(mask)
    planes = a[:, :, None] if a.ndim == 2 else a
    if planes.ndim != 3 or planes.shape[:2] != m.shape:
        raise ValueError(f"image of shape {a.shape} does not match mask of shape {m.shape}")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 (harmonic) or 2 (biharmonic), got {order!r}")
    if not m.any():
        raise ValueError("the mask has no known pixel: nothing to fill from")
    h, w, c = planes.shape
    out = planes.astype(np.float64).reshape(h * w, c)
    unknown = ~m.ravel()
    if unknown.any():
        lap = _grid_laplacian(h, w)
        q = lap if order == 1 else (lap.T @ lap).tocsr()
        q_uu = q[unknown][:, unknown].tocsc()
        q_uk = q[unknown][:, ~unknown]
        out[unknown] = spla.splu(q_uu).solve(np.asarray(-(q_uk @ out[~unknown])))
    out = np.clip(out, 0.0, 1.0).astype(np.float32).reshape(h, w, c)
    return out[:, :, 0] if a.ndim == 2 else out


def harmonic_fill(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:func:`smooth_fill` of order 1 (Laplace's equation on the unknown pixels)."""
    return smooth_fill(img, mask, 1)


def biharmonic_fill(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """:func:`smooth_fill` of order 2 (the squared Laplacian on the unknown pixels)."""
    return smooth_fill(img, mask, 2)
