"""The image codecs a user would pick instead, from Pillow, at a byte budget.

``codec_at_size(img, max_bytes, codec)`` returns the best-quality file of that codec not
larger than ``max_bytes`` (bisection on its quality knob), decoded:

* ``"jpeg"``: quality 1..95, optimised Huffman tables, 4:2:0 (Pillow's default);
* ``"webp"``: lossy quality 0..100, ``method=6`` (the slowest, smallest);
* ``"avif"``: quality 0..100 (libavif via Pillow, default speed);
* ``"jpeg2000"``: OpenJPEG, irreversible 9/7 wavelet, one quality layer at a compression
  ratio (bisection on the ratio).

A codec this Pillow lacks raises ``ValueError`` naming it (:func:`available`).
"""

from __future__ import annotations

import io
import math
import time
from typing import Any

import numpy as np
from PIL import Image, features

from .baselines import largest_quality_within

CODECS = ("jpeg", "webp", "jpeg2000", "avif")
_FEATURE = {"jpeg": "jpg", "webp": "webp", "jpeg2000": "jpg_2000", "avif": "avif"}


def available(codec: str) -> bool:
    """Whether this Pillow can write and read ``codec``."""
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    return bool(features.check(_FEATURE[codec]))


def _pil(img: np.ndarray) -> Image.Image:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"expected an HxWxC image with C in (1, 3), got shape {arr.shape}")
    u8 = np.clip(np.rint(np.asarray(arr, np.float64) * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)


def encode(pil: Image.Image, codec: str, q: float) -> bytes:
    """One file of ``codec`` at quality knob ``q`` (for jpeg2000: log2 of the ratio)."""
    buf = io.BytesIO()
    if codec == "jpeg":
        pil.save(buf, format="JPEG", quality=int(q), optimize=True)
    elif codec == "webp":
        pil.save(buf, format="WEBP", quality=int(q), method=6)
    elif codec == "avif":
        pil.save(buf, format="AVIF", quality=int(q))
    elif codec == "jpeg2000":
        pil.save(buf, format="JPEG2000", quality_mode="rates",
                 quality_layers=[float(2.0 ** q)], irreversible=True)
    else:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    return buf.getvalue()


def decode(data: bytes, mode: str, shape: tuple[int, ...]) -> np.ndarray:
    """float32 HxWxC in [0, 1]."""
    arr = np.asarray(Image.open(io.BytesIO(data)).convert(mode), np.float32) / 255.0
    return arr.reshape(shape)


def codec_at_size(img: np.ndarray, max_bytes: int, codec: str) -> dict[str, Any]:
    """Best file of ``codec`` with at most ``max_bytes`` bytes.

    Returns ``codec``, ``quality`` (the knob; jpeg2000: the compression ratio), ``bytes``,
    ``image`` (decoded float32 HxWxC), ``exceeds`` (True when even the lowest quality is
    larger: that file is returned), ``encode_seconds`` and ``decode_seconds`` (one encode /
    decode of the returned file) and ``data``.

    Notes
    -----
    Integer knobs (jpeg 1..95, webp/avif 0..100) by bisection with the invariant
    size(lo) <= max_bytes < size(hi); jpeg2000 by 14 halvings of log2(ratio) in [0, 12].
    Sizes are assumed to grow with quality (true of these encoders up to a few bytes).
    """
    if not available(codec):
        raise ValueError(f"this Pillow cannot write {codec}")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) \
            or max_bytes < 1:
        raise ValueError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    pil = _pil(img)
    shape = np.asarray(img).shape if np.asarray(img).ndim == 3 else (*np.shape(img), 1)
    cache: dict[float, bytes] = {}

    def size(q: float) -> int:
        if q not in cache:
            cache[q] = encode(pil, codec, q)
        return len(cache[q])

    if codec == "jpeg2000":  # knob: log2 of the compression ratio, larger = smaller file
        worst, best = 12.0, 0.0
        exceeds = size(worst) > max_bytes
        q = worst
        if not exceeds:
            lo, hi = best, worst  # size(hi) fits
            for _ in range(14):
                mid = (lo + hi) / 2
                if size(mid) <= max_bytes:
                    hi = mid
                else:
                    lo = mid
            q = hi
        quality: float = 2.0 ** q
    else:
        lowest, highest = (1, 95) if codec == "jpeg" else (0, 100)
        q, exceeds = largest_quality_within(size, lowest, highest, max_bytes)
        quality = q
    data = cache[q]
    t0 = time.perf_counter()
    encode(pil, codec, q)
    t1 = time.perf_counter()
    image = decode(data, pil.mode, shape)
    t2 = time.perf_counter()
    return {"codec": codec, "quality": quality, "bytes": len(data), "image": image,
            "exceeds": bool(exceeds), "encode_seconds": t1 - t0, "decode_seconds": t2 - t1,
            "data": data}


def codec_curve(img: np.ndarray, codec: str, sizes: list[int]) -> list[dict[str, Any]]:
    """:func:`codec_at_size` at every budget of ``sizes`` (images dropped), for curves."""
    out = []
    for n in sizes:
        r = codec_at_size(img, int(n), codec)
        out.append({k: v for k, v in r.items() if k not in ("image", "data")} |
                   {"mse": float(np.mean((r["image"].astype(np.float64)
                                          - _u8(img)) ** 2))})
    return out


def _u8(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img, np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.round(np.clip(arr, 0, 1) * 255) / 255


def psnr_of(mse: float) -> float:
    return math.inf if mse <= 0 else -10.0 * math.log10(mse)
