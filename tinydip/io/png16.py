"""16-bit grey+alpha PNG files, which Pillow mis-reads.

Pillow opens a PNG of colour type 4 (grey + alpha) at bit depth 16 as 8-bit ``RGBA`` built
from the *low* bytes of each sample, so the grey values come out scrambled. This module
decodes exactly that case with the standard library (zlib) and NumPy: chunks with CRCs
checked, the five PNG row filters undone, no interlacing. Every other PNG goes to Pillow.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

__all__ = ["is_gray_alpha16", "read_gray_alpha16"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _head(src: Path | io.BytesIO, n: int) -> bytes:
    if isinstance(src, io.BytesIO):
        return src.getvalue()[:n]
    with open(src, "rb") as f:
        return f.read(n)


def is_gray_alpha16(src: Path | io.BytesIO) -> bool:
    """True if ``src`` starts like a PNG whose IHDR says bit depth 16, colour type 4."""
    head = _head(src, 33)
    return (len(head) == 33 and head[:8] == _SIGNATURE and head[12:16] == b"IHDR"
            and head[24] == 16 and head[25] == 4)


def _chunks(data: bytes, name: str):
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError(f"{name}: corrupt or truncated image file (chunk {kind!r} cut short)")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"{name}: corrupt or truncated image file (bad CRC in {kind!r})")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ValueError(f"{name}: corrupt or truncated image file (no IEND chunk)")


def _unfilter(raw: np.ndarray, h: int, stride: int, bpp: int, name: str) -> np.ndarray:
    """Undo the per-row PNG filters (None, Sub, Up, Average, Paeth) -> (h, stride) uint8."""
    if raw.size != h * (stride + 1):
        raise ValueError(f"{name}: corrupt or truncated image file (pixel data size)")
    rows = raw.reshape(h, stride + 1)  # (h, 1 + stride): filter byte, then the row
    out = np.zeros((h, stride), np.int32)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind in (1, 3, 4):
            cur = np.zeros(stride, np.int32)
            for x in range(stride):  # depends on the decoded left neighbour: sequential
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) >> 1
                else:
                    c = prev[x - bpp] if x >= bpp else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + pred) & 0xFF
        else:
            raise ValueError(f"{name}: corrupt or truncated image file (filter type {kind})")
        out[y] = prev = cur
    return out.astype(np.uint8)


def read_gray_alpha16(src: Path | io.BytesIO, name: str) -> np.ndarray:
    """Decode a 16-bit grey+alpha PNG -> ``(H, W, 1)`` float32 grey in [0, 1] (alpha dropped,
    with the same warning as for other images with alpha)."""
    data = src.getvalue() if isinstance(src, io.BytesIO) else Path(src).read_bytes()
    idat: list[bytes] = []
    w = h = 0
    for kind, body in _chunks(data, name):
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if interlace:
                raise ValueError(f"{name}: interlaced 16-bit grey+alpha PNG is not supported; "
                                 "save it without interlacing")
        elif kind == b"IDAT":
            idat.append(body)
    if not idat or not w or not h:
        raise ValueError(f"{name}: corrupt or truncated image file (no pixel data)")
    try:
        raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8)
    except zlib.error as exc:
        raise ValueError(f"{name}: corrupt or truncated image file ({exc})") from None
    rows = _unfilter(raw, h, 4 * w, 4, name)  # 4 bytes per pixel: grey hi, lo, alpha hi, lo
    grey = rows.reshape(h, w, 4)[:, :, :2].astype(np.uint16)  # (h, w, 2) big-endian bytes
    values = (grey[:, :, 0] << 8) | grey[:, :, 1]  # (h, w)
    warnings.warn(f"{name}: image has an alpha channel (16-bit grey+alpha); dropping it",
                  UserWarning, stacklevel=3)
    return (values.astype(np.float64) / 65535.0).astype(np.float32)[:, :, None]
