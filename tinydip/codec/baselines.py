"""Classical baselines for the Deep Decoder codec: JPEG at a byte budget, Haar wavelets.

Images are HxWxC float arrays in [0, 1] (C = 1 or 3); a 2-D HxW array is taken as
grayscale. Results are float32 HxWxC.
"""

from __future__ import annotations

import io
import lzma
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from ..denoising.haar import haar_forward, haar_inverse


def _as_hwc(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3) or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"expected an HxWxC image with C in (1, 3), got shape {arr.shape}")
    if arr.dtype.kind not in "fiu" or not np.all(np.isfinite(arr)):
        raise ValueError("image must be real-valued and finite")
    return arr.astype(np.float32)


# ----------------------------------------------------------------------------- JPEG


def _jpeg_bytes(pil: Image.Image, quality: int, subsampling: int | None, optimize: bool) -> bytes:
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {"quality": quality, "optimize": optimize}
    if subsampling is not None and pil.mode != "L":
        kwargs["subsampling"] = subsampling
    pil.save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def _jpeg_search(
    pil: Image.Image, max_bytes: int, subsampling: int | None, optimize: bool
) -> tuple[int, bytes, bool]:
    """Binary search for the largest quality in 1..95 with size <= max_bytes.

    Invariant: quality ``lo`` fits (or lo = 1), quality ``hi`` does not (or hi = 96).
    The returned quality therefore fits and quality + 1 (if <= 95) does not, even where
    JPEG size is not monotone in quality.
    """
    cache: dict[int, bytes] = {}

    def size(q: int) -> int:
        if q not in cache:
            cache[q] = _jpeg_bytes(pil, q, subsampling, optimize)
        return len(cache[q])

    q, exceeds = largest_quality_within(size, 1, 95, max_bytes)
    return q, cache[q], exceeds


def largest_quality_within(size: Callable[[int], int], lowest: int, highest: int,
                           max_bytes: int) -> tuple[int, bool]:
    """The largest integer quality in ``lowest..highest`` whose ``size`` is <= ``max_bytes``,
    by bisection, and whether even ``lowest`` exceeds it (then ``lowest`` is returned).

    Invariant: quality ``lo`` fits, quality ``hi`` does not (or hi = highest + 1), so the
    result fits and the next quality up does not, even where size is not monotone.
    """
    if size(lowest) > max_bytes:
        return lowest, True
    lo, hi = lowest, highest + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if size(mid) <= max_bytes:
            lo = mid
        else:
            hi = mid
    return lo, False


def jpeg_at_size(
    img: np.ndarray,
    max_bytes: int,
    *,
    subsampling: int | str | None = None,
    optimize: bool = True,
) -> dict[str, Any]:
    """Best-quality JPEG (Pillow) whose file is at most ``max_bytes`` bytes.

    Parameters
    ----------
    img:
        HxWxC image in [0, 1] (values outside are clipped), C = 1 saved as mode ``L``.
    max_bytes:
        Byte budget, e.g. the size of a ``.tdd`` file.
    subsampling:
        Chroma subsampling for RGB: ``None`` = Pillow's default (4:2:0), 0 = 4:4:4,
        1 = 4:2:2, 2 = 4:2:0, or ``"best"`` to try 0, 1 and 2 and keep the result with
        the lowest squared error among those that fit the budget.
    optimize:
        Optimised Huffman tables (smaller files at equal quality; fair to JPEG).

    Returns
    -------
    dict with ``quality`` (1..95), ``bytes`` (file size), ``image`` (decoded float32
    HxWxC), ``exceeds`` (True if even quality 1 is larger than ``max_bytes``),
    ``subsampling`` (as passed to Pillow) and ``data`` (the JPEG file).

    Notes
    -----
    Quality is found by bisection on [1, 95] (at most 8 encodes), keeping the invariant
    size(lo) <= max_bytes < size(hi).
    """
    arr = _as_hwc(img)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)):
        raise ValueError(f"max_bytes must be an integer, got {max_bytes!r}")
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    u8 = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
    pil = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)
    if subsampling == "best":
        options: tuple[int | None, ...] = (0, 1, 2) if u8.shape[2] == 3 else (None,)
    elif subsampling in (None, 0, 1, 2):
        options = (subsampling,)  # type: ignore[assignment]
    else:
        raise ValueError(f"subsampling must be None, 0, 1, 2 or 'best', got {subsampling!r}")

    best: dict[str, Any] | None = None
    for sub in options:
        quality, data, exceeds = _jpeg_search(pil, int(max_bytes), sub, optimize)
        dec = np.asarray(Image.open(io.BytesIO(data)).convert(pil.mode), dtype=np.float32)
        dec = dec.reshape(arr.shape) / 255.0
        err = float(np.sum((dec - u8 / 255.0) ** 2))
        cand = {"quality": quality, "bytes": len(data), "image": dec, "exceeds": exceeds,
                "subsampling": sub, "data": data, "_key": (exceeds, err, len(data))}
        if best is None or cand["_key"] < best["_key"]:
            best = cand
    assert best is not None
    del best["_key"]
    return best


# ----------------------------------------------------------------------------- Haar


def haar_compress(img: np.ndarray, keep: int, levels: int | None = None) -> np.ndarray:
    """Keep the ``keep`` largest-magnitude Haar coefficients of an image, zero the rest.

    Parameters
    ----------
    img:
        HxWxC image in [0, 1]; all channels share one coefficient budget.
    keep:
        Number of coefficients kept (>= the total count keeps everything).
    levels:
        Decomposition depth, default as deep as possible (see :func:`haar_forward`).

    Returns
    -------
    float32 HxWxC reconstruction clipped to [0, 1].

    Notes
    -----
    With orthonormal bands, zeroing the smallest coefficients is the best ``keep``-term
    approximation in squared error (before clipping): error = sum of dropped c_i^2.
    Ties at the threshold are broken by position, so exactly ``keep`` survive.
    """
    arr = _as_hwc(img)
    if isinstance(keep, bool) or not isinstance(keep, (int, np.integer)) or keep < 0:
        raise ValueError(f"keep must be a non-negative integer, got {keep!r}")
    pyr = haar_forward(arr, levels)
    coeffs = pyr.to_vector()
    if keep == 0:
        coeffs[:] = 0.0
    elif keep < coeffs.size:
        drop = np.argpartition(np.abs(coeffs), coeffs.size - keep)[: coeffs.size - keep]
        coeffs[drop] = 0.0
    out = haar_inverse(pyr.from_vector(coeffs))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def haar_num_coefficients(shape: tuple[int, ...], levels: int | None = None) -> int:
    """Number of coefficients :func:`haar_forward` produces for an array of ``shape``."""
    return haar_forward(np.zeros(shape, np.float32), levels).to_vector().size


# ----------------------------------------------------------------- Haar, storage charged

_HAAR_LZMA = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
HAAR_HEADER_BYTES = 8  # the step (float32) and the image size (2 x uint16)


def haar_quantized(img: np.ndarray, step: float) -> tuple[np.ndarray, int]:
    """Haar coefficients rounded to multiples of ``step``: (reconstruction, stored bytes).

    Notes
    -----
    Every coefficient c of :func:`haar_forward` becomes ``q = rint(c / step)``; the int32
    array of all q (mostly zeros: the zero run-lengths ARE the positions) is compressed with
    raw LZMA2 (preset 9e), plus :data:`HAAR_HEADER_BYTES`. This charges the wavelet codec
    for its coefficients' values and positions, unlike the count-only :func:`haar_compress`.
    """
    arr = _as_hwc(img)
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be positive, got {step!r}")
    pyr = haar_forward(arr)
    q = np.rint(pyr.to_vector() / step)  # (n,) float64 integers
    data = lzma.compress(q.astype(np.int32).tobytes(), format=lzma.FORMAT_RAW,
                         filters=_HAAR_LZMA)
    rec = haar_inverse(pyr.from_vector(q * step))
    return np.clip(rec, 0.0, 1.0).astype(np.float32), len(data) + HAAR_HEADER_BYTES


def haar_at_size(img: np.ndarray, max_bytes: int) -> dict[str, Any]:
    """The finest step whose :func:`haar_quantized` file fits ``max_bytes`` (bisection on
    log2(step) in [-12, 4], 16 rounds): ``step``, ``bytes``, ``image``, ``exceeds``."""
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) \
            or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    lo, hi = -12.0, 4.0  # log2(step): lo = fine (large file), hi = coarse
    rec, n = haar_quantized(img, 2.0 ** hi)
    best = (hi, rec, n)
    exceeds = n > max_bytes
    if not exceeds:
        for _ in range(16):
            mid = (lo + hi) / 2
            rec, n = haar_quantized(img, 2.0 ** mid)
            if n <= max_bytes:
                hi, best = mid, (mid, rec, n)
            else:
                lo = mid
    return {"step": 2.0 ** best[0], "bytes": best[2], "image": best[1], "exceeds": exceeds}
