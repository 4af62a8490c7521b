"""Degradations for the Deep Image Prior tasks: noise, inpainting masks, classical baselines
(bicubic upsampling, harmonic / biharmonic fill).

The linear operators (``Downsampler``, ``Mask``, ...) live in :mod:`tinydip.operators`;
``Downsampler`` is re-exported here for compatibility.

Masks are ``(H, W)`` bool arrays with ``True`` = known (observed) pixel.
"""

from __future__ import annotations

import string

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .operators import Downsampler  # re-exported: the operator now lives in operators.py

__all__ = [
    "add_noise",
    "add_poisson_noise",
    "parse_noise",
    "hole_mask",
    "text_mask",
    "apply_mask",
    "Downsampler",
    "bicubic_upsample",
    "smooth_fill",
    "harmonic_fill",
    "biharmonic_fill",
]

_Resampling = getattr(Image, "Resampling", Image)  # Pillow < 9.1 has no Image.Resampling


def _check_rng(rng: np.random.Generator) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")


def _check_hw(h: int, w: int) -> tuple[int, int]:
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"mask size must be positive integers, got {h}x{w}")
    return int(h), int(w)


def add_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise with ``sigma`` on the 0-255 scale, clipped to [0, 1].

    Parameters
    ----------
    img : float array in [0, 1], any shape (typically ``(H, W, C)``).
    sigma : noise standard deviation in 0-255 units (DIP denoising uses 25).
    rng : source of randomness.

    Returns
    -------
    noisy : same shape and dtype as ``img``.

    Notes
    -----
    ``noisy = clip(img + (sigma / 255) * n, 0, 1)``, ``n ~ N(0, 1)`` i.i.d., drawn in float64
    so that a given ``rng`` state gives the same noise for float32 and float64 images.
    """
    _check_rng(rng)
    a = np.asarray(img)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"add_noise expects a float image in [0, 1], got dtype {a.dtype}")
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a finite non-negative number, got {sigma!r}")
    noise = rng.standard_normal(a.shape) * (float(sigma) / 255.0)
    return np.clip(a + noise, 0.0, 1.0).astype(a.dtype)


def add_poisson_noise(img: np.ndarray, peak: float, rng: np.random.Generator) -> np.ndarray:
    """Shot noise: ``k ~ Poisson(peak * img)`` photon counts, returned as ``k / peak``.

    ``peak`` (> 0) is the count of a pixel of value 1: the lower, the noisier (the noise
    standard deviation at value x is ``sqrt(x / peak)``; peak 30 at x = 0.5: ~33/255). NOT
    clipped: a bright pixel may read above 1 (clipping would bias the counts the Poisson
    likelihood is about). Same shape and dtype as ``img``.
    """
    _check_rng(rng)
    a = np.asarray(img)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"add_poisson_noise expects a float image in [0, 1], got {a.dtype}")
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError(f"peak must be a finite positive number, got {peak!r}")
    counts = rng.poisson(np.clip(a.astype(np.float64), 0, None) * float(peak))
    return (counts / float(peak)).astype(a.dtype)


def parse_noise(spec: str) -> tuple[str, float]:
    """``gaussian:SIGMA`` (0-255 scale) or ``poisson:PEAK`` -> ``(kind, value)``."""
    kind, _, value = str(spec).strip().lower().partition(":")
    if kind not in ("gaussian", "poisson") or not value:
        raise ValueError(f"unknown noise spec {spec!r}: give gaussian:SIGMA or poisson:PEAK")
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"noise spec {spec!r}: {value!r} is not a number") from None
    if not np.isfinite(v) or v < 0 or (kind == "poisson" and v == 0):
        need = "PEAK must be > 0" if kind == "poisson" else "SIGMA must be >= 0"
        raise ValueError(f"noise spec {spec!r}: {need} and finite")
    return kind, v


def hole_mask(h: int, w: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    """One rectangular hole at a random position fully inside the image.

    Parameters
    ----------
    h, w : image size.
    frac : hole side as a fraction of the image side, ``0 <= frac < 1``.
    rng : picks the position.

    Returns
    -------
    mask : ``(h, w)`` bool, ``False`` inside the hole.

    Notes
    -----
    The hole is ``hh x hw`` with ``hh = round(frac * h)``, ``hw = round(frac * w)`` (so it
    covers about ``frac**2`` of the pixels; at least 1 x 1 if ``frac > 0``). Its top-left
    corner ``(r, c)`` is uniform on ``0 <= r <= h - hh``, ``0 <= c <= w - hw``.
    """
    _check_rng(rng)
    h, w = _check_hw(h, w)
    if not 0.0 <= frac < 1.0:
        raise ValueError(f"frac must be in [0, 1), got {frac!r}")
    mask = np.ones((h, w), dtype=bool)
    if frac == 0:
        return mask
    hh, hw = max(1, round(frac * h)), max(1, round(frac * w))
    r = int(rng.integers(0, h - hh + 1))
    c = int(rng.integers(0, w - hw + 1))
    mask[r:r + hh, c:c + hw] = False
    return mask


def _random_words(rng: np.random.Generator, n: int) -> str:
    letters = string.ascii_letters
    words = ["".join(letters[i] for i in rng.integers(0, len(letters), rng.integers(2, 8)))
             for _ in range(n)]
    return " ".join(words)


def _load_font(size: int) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, int, int]:
    """(font, integer upscale, font px at canvas resolution) for Pillow's default font.

    ``load_default(size=...)`` (Pillow >= 10.1 with FreeType) gives ``(font, 1, size)``;
    otherwise the ~11 px bitmap font is drawn small and upscaled: ``(font, ~size/11, 11)``.
    """
    try:
        font = ImageFont.load_default(size=size)
        if isinstance(font, ImageFont.FreeTypeFont):
            return font, 1, size
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or no FreeType
        pass
    return ImageFont.load_default(), max(1, round(size / 11)), 11


def text_mask(
    h: int,
    w: int,
    rng: np.random.Generator,
    text: str | None = None,
    font_size: int | None = None,
) -> np.ndarray:
    """Inpainting mask of overlaid text lines (``False`` where text covers the image).

    Parameters
    ----------
    h, w : image size.
    rng : picks words, line offsets and horizontal shifts (deterministic for a given seed
        and Pillow version).
    text : text to repeat along every line; default random "words" of 2-7 letters.
    font_size : pixel size; default ``max(8, round(min(h, w) / 8))``.

    Returns
    -------
    mask : ``(h, w)`` bool, True = known.

    Notes
    -----
    Lines are ``round(1.5 * font_size)`` apart (first line offset random), each shifted
    left by a random amount, drawn with Pillow's default font (``load_default(size=...)`` on
    Pillow >= 10.1, else the bitmap font upscaled by an integer factor). Pixels at least
    half covered by the anti-aliased text are unknown: about 15 % of them at 128 x 128.
    """
    _check_rng(rng)
    h, w = _check_hw(h, w)
    size = max(8, round(min(h, w) / 8)) if font_size is None else int(font_size)
    if size < 1:
        raise ValueError(f"font_size must be positive, got {font_size!r}")
    if text is not None and not text.strip():
        raise ValueError("text must contain at least one non-space character")
    font, scale, fs = _load_font(size)
    ch, cw = -(-h // scale), -(-w // scale)  # canvas at font resolution
    step = max(2, round(1.5 * fs))
    canvas = Image.new("L", (cw, ch), 0)
    draw = ImageDraw.Draw(canvas)
    y = -int(rng.integers(0, step))
    n_words = max(4, int(cw / fs))  # more than enough letters to cross the canvas
    while y < ch:
        line = _random_words(rng, n_words) if text is None else (text.strip() + " ") * n_words
        x = -int(rng.integers(0, max(1, round(3 * fs))))
        draw.text((x, y), line, fill=255, font=font)
        y += step
    ink = np.asarray(canvas) >= 128
    if scale > 1:
        ink = np.repeat(np.repeat(ink, scale, axis=0), scale, axis=1)[:h, :w]
    return ~ink


def apply_mask(img: np.ndarray, mask: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Set unknown pixels (``mask == False``) of an ``(H, W)`` or ``(H, W, C)`` image to ``fill``.

    ``mask`` is ``(H, W)``, bool or 0/1 numbers. Returns a new array of ``img``'s dtype.
    """
    a = np.asarray(img)
    m = _as_bool_mask(mask)
    if a.ndim not in (2, 3) or a.shape[:2] != m.shape:
        raise ValueError(f"image of shape {a.shape} does not match mask of shape {m.shape}")
    mm = m if a.ndim == 2 else m[:, :, None]
    return np.where(mm, a, np.asarray(fill, dtype=a.dtype)).astype(a.dtype, copy=False)


def _as_bool_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    if m.dtype != bool:
        if not np.all((m == 0) | (m == 1)):
            raise ValueError("mask must be boolean or contain only 0 and 1")
        m = m.astype(bool)
    return m


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
