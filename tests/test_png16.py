"""16-bit grey+alpha PNGs: decoded exactly (Pillow scrambles them), every row filter, bad files."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from tinydip.io.images import ImageError, load_image
from tinydip.io.png16 import is_gray_alpha16


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)  # the PNG specification's own form
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_row(kind: int, line: list[int], prev: list[int], bpp: int) -> bytes:
    out = []
    for x, v in enumerate(line):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
        out.append((v - pred) & 0xFF)
    return bytes([kind] + out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_ga16(path, grey: np.ndarray, alpha: np.ndarray, filters=(0, 1, 2, 3, 4)) -> bytes:
    """A 16-bit grey+alpha PNG written by the specification (big-endian samples)."""
    h, w = grey.shape
    rows, prev = [], [0] * (4 * w)
    for y in range(h):
        line = []
        for x in range(w):
            g, a = int(grey[y, x]), int(alpha[y, x])
            line += [g >> 8, g & 0xFF, a >> 8, a & 0xFF]
        rows.append(_filter_row(filters[y % len(filters)], line, prev, 4))
        prev = line
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 4, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(b"".join(rows))) + _chunk(b"IEND", b""))
    path.write_bytes(data)
    return data


@pytest.fixture
def ga16(tmp_path):
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 65536, (7, 9))
    alpha = rng.integers(0, 65536, (7, 9))
    path = tmp_path / "ga16.png"
    data = write_ga16(path, grey, alpha)
    return path, grey, data


def test_grey_alpha16_stays_grey_and_exact(ga16):
    path, grey, _ = ga16
    assert is_gray_alpha16(path)
    with pytest.warns(UserWarning, match="alpha"):
        img = load_image(path)
    assert img.shape == (7, 9, 1) and img.dtype == np.float32
    np.testing.assert_allclose(img[:, :, 0] * 65535.0, grey, atol=0.01)


def test_pillow_alone_would_lose_it(ga16):
    """Why the module exists: Pillow opens it as 8-bit RGBA (3 channels, 8 bits of 16)."""
    path, grey, _ = ga16
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        pil = np.asarray(im, dtype=np.float64)[:, :, 0] * 257.0
    assert np.abs(pil - grey).max() > 50  # 8-bit precision at best


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_each_row_filter(tmp_path, kind):
    grey = np.arange(30).reshape(5, 6) * 2017 % 65536
    write_ga16(tmp_path / "f.png", grey, grey, filters=(kind,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = load_image(tmp_path / "f.png")
    np.testing.assert_allclose(img[:, :, 0] * 65535.0, grey, atol=0.01)


def test_a_planted_filter_bug_is_caught(tmp_path, monkeypatch):
    """The exactness test above fails if the Paeth predictor is wrong (checker catches bugs)."""
    grey = np.arange(30).reshape(5, 6) * 2017 % 65536
    write_ga16(tmp_path / "f.png", grey, grey, filters=(4,))
    import tinydip.io.png16 as png16

    real = png16._unfilter

    def broken(raw, h, stride, bpp, name):
        out = real(raw, h, stride, bpp, name)
        out[1:, 5] ^= 1  # one byte per row decoded wrongly
        return out

    monkeypatch.setattr(png16, "_unfilter", broken)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        img = load_image(tmp_path / "f.png")
    assert np.abs(img[:, :, 0] * 65535.0 - grey).max() > 0.5


@pytest.mark.parametrize("cut", [10, 30, 60])
def test_truncated_or_corrupt_is_refused(ga16, tmp_path, cut):
    _, _, data = ga16
    bad = tmp_path / "bad.png"
    bad.write_bytes(data[:-cut])
    with pytest.raises(ImageError, match="bad.png: corrupt or truncated"):
        load_image(bad)


def test_bad_crc_is_refused(ga16, tmp_path):
    _, _, data = ga16
    flipped = bytearray(data)
    flipped[40] ^= 0xFF  # inside IDAT
    (tmp_path / "crc.png").write_bytes(bytes(flipped))
    with pytest.raises(ImageError, match="corrupt"):
        load_image(tmp_path / "crc.png")
