"""Tests for tinydip.io.images: loading (modes, bad files), saving, sample image, layout helpers."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest
from PIL import Image, ImageFile

from tinydip.io import images
from tinydip.io.images import (
    ImageError,
    check_min_size,
    crop,
    load_image,
    pad_to_multiple,
    sample_image,
    save_image,
    to_image,
    to_tensor,
)

PNG_SIG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def rgb8() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)


def _load_quiet(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return load_image(path)


# ---------------------------------------------------------------- load: modes
def test_load_rgb_png_exact(tmp_path, rgb8):
    p = tmp_path / "a.png"
    Image.fromarray(rgb8).save(p)
    img = _load_quiet(p)
    assert img.shape == (20, 30, 3) and img.dtype == np.float32
    np.testing.assert_array_equal(img, rgb8.astype(np.float32) / 255.0)


def test_load_gray_keeps_one_channel(tmp_path, rgb8):
    p = tmp_path / "g.png"
    Image.fromarray(rgb8[:, :, 1]).save(p)
    img = _load_quiet(p)
    assert img.shape == (20, 30, 1)
    np.testing.assert_array_equal(img[:, :, 0], rgb8[:, :, 1] / np.float32(255.0))


@pytest.mark.parametrize(("mode", "fmt", "dt"), [
    ("I;16", "PNG", "<u2"), ("I;16B", "PNG", ">u2"), ("I;16B", "TIFF", ">u2"),
    ("I;16L", "TIFF", "<u2"), ("I", "TIFF", "<i4"),
])
def test_load_16bit_gray(tmp_path, mode, fmt, dt):
    vals = (np.arange(12 * 16).reshape(12, 16) * 341).astype(np.int64)  # up to 65131
    im = Image.frombytes(mode, (16, 12), vals.astype(dt).tobytes())
    p = tmp_path / ("x." + fmt.lower())
    im.save(p, format=fmt)
    img = _load_quiet(p)
    assert img.shape == (12, 16, 1) and img.dtype == np.float32
    np.testing.assert_allclose(img[:, :, 0], vals / 65535.0, rtol=0, atol=1e-7)
    assert img.max() > 0.99  # really divided by 65535, not 255 and clipped


def test_load_16bit_rgb_png(tmp_path):
    """Pillow decodes 48-bit RGB PNGs to 8 bits per channel: values within 1/255."""
    import struct
    import zlib

    h, w = 4, 5
    a = (np.arange(h * w * 3).reshape(h, w, 3) * 1000 + 7).astype(">u2")
    raw = b"".join(b"\x00" + a[i].tobytes() for i in range(h))

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    p = tmp_path / "rgb16.png"
    p.write_bytes(PNG_SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                  + chunk(b"IEND", b""))
    img = _load_quiet(p)
    assert img.shape == (4, 5, 3)
    assert np.abs(img - a / 65535.0).max() < 1 / 255


def test_load_rgba_drops_alpha_with_warning(tmp_path, rgb8):
    rgba = np.dstack([rgb8, np.full(rgb8.shape[:2], 7, np.uint8)])
    p = tmp_path / "a.png"
    Image.fromarray(rgba).save(p)
    with pytest.warns(UserWarning, match="alpha"):
        img = load_image(p)
    assert img.shape == (20, 30, 3)
    np.testing.assert_array_equal(img, rgb8 / np.float32(255.0))


def test_load_la_drops_alpha_keeps_gray(tmp_path, rgb8):
    la = Image.merge("LA", [Image.fromarray(rgb8[:, :, 0]), Image.fromarray(rgb8[:, :, 2])])
    p = tmp_path / "la.png"
    la.save(p)
    with pytest.warns(UserWarning, match="alpha"):
        img = load_image(p)
    assert img.shape == (20, 30, 1)
    np.testing.assert_array_equal(img[:, :, 0], rgb8[:, :, 0] / np.float32(255.0))


def test_load_palette(tmp_path, rgb8):
    pim = Image.fromarray(rgb8).quantize(colors=16)
    expect = np.asarray(pim.convert("RGB"), np.float32) / 255.0
    p = tmp_path / "p.png"
    pim.save(p)
    img = _load_quiet(p)
    assert img.shape == (20, 30, 3)
    np.testing.assert_array_equal(img, expect)
    # palette with a transparent entry -> RGBA -> alpha dropped with a warning
    p2 = tmp_path / "pt.png"
    pim.save(p2, transparency=0)
    with pytest.warns(UserWarning, match="alpha"):
        img2 = load_image(p2)
    np.testing.assert_array_equal(img2, expect)


def test_load_bilevel(tmp_path):
    bits = np.random.default_rng(1).random((9, 11)) > 0.5
    p = tmp_path / "b.png"
    Image.fromarray(bits).save(p)
    with Image.open(p) as im:
        assert im.mode == "1"
    img = _load_quiet(p)
    assert img.shape == (9, 11, 1)
    np.testing.assert_array_equal(img[:, :, 0], bits.astype(np.float32))


def test_load_jpeg(tmp_path):
    smooth = np.clip(sample_image(32) * 255, 0, 255).astype(np.uint8)
    p = tmp_path / "a.jpg"
    Image.fromarray(smooth).save(p, quality=95)
    img = _load_quiet(p)
    assert img.shape == (32, 32, 3) and img.dtype == np.float32
    with Image.open(p) as im:
        np.testing.assert_array_equal(img, np.asarray(im, np.float32) / 255.0)
    assert np.abs(img - smooth / 255.0).mean() < 0.04  # lossy, but close


def test_load_applies_exif_orientation(tmp_path, rgb8):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "o.jpg"
    Image.fromarray(rgb8).save(p, exif=exif)
    assert _load_quiet(p).shape == (30, 20, 3)


# ---------------------------------------------------------------- load: errors
def _png_bytes(rgb8) -> bytes:
    import io
    b = io.BytesIO()
    Image.fromarray(rgb8).save(b, format="PNG")
    return b.getvalue()


def _check_error(path, pattern):
    with pytest.raises(ImageError, match=pattern) as ei:
        load_image(path)
    msg = str(ei.value)
    assert isinstance(ei.value, ValueError)
    assert str(path) in msg and "\n" not in msg


def test_load_missing_and_directory(tmp_path):
    _check_error(tmp_path / "nope.png", "no such file")
    _check_error(tmp_path, "directory")


def test_load_not_an_image(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"definitely not a PNG file")
    _check_error(p, "not an image")
    p.write_bytes(b"")
    _check_error(p, "not an image")


@pytest.mark.parametrize("keep", [0.5, 0.9, -10, -1])
def test_load_truncated_png(tmp_path, rgb8, keep):
    data = _png_bytes(rgb8)
    cut = int(len(data) * keep) if keep > 0 else len(data) + keep
    p = tmp_path / "t.png"
    p.write_bytes(data[:cut])
    # -1 only loses the last CRC byte of IEND: Pillow cannot see that; all pixels are intact
    if keep == -1:
        assert _load_quiet(p).shape == (20, 30, 3)
    else:
        _check_error(p, "truncated|corrupt")


@pytest.mark.parametrize("drop", [2, 50, 500])
def test_load_truncated_jpeg(tmp_path, rgb8, drop):
    import io
    b = io.BytesIO()
    Image.fromarray(rgb8).save(b, format="JPEG")
    p = tmp_path / "t.jpg"
    p.write_bytes(b.getvalue()[:-drop])
    _check_error(p, "truncated|corrupt")


def test_load_corrupt_png_body(tmp_path, rgb8):
    data = bytearray(_png_bytes(rgb8))
    data[60:80] = b"\xff" * 20  # inside the IDAT stream
    p = tmp_path / "c.png"
    p.write_bytes(bytes(data))
    _check_error(p, "corrupt")


def test_truncated_detected_even_if_flag_set_globally(tmp_path, rgb8, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    p = tmp_path / "t.png"
    p.write_bytes(_png_bytes(rgb8)[:300])
    _check_error(p, "truncated|corrupt")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


# ---------------------------------------------------------------- save
def test_save_roundtrip_rgb_and_rounding(tmp_path):
    img = np.random.default_rng(2).random((8, 9, 3)).astype(np.float32)
    img[0, 0] = [-0.5, 1.7, 0.2]
    out = save_image(tmp_path / "o.png", img)
    assert out == tmp_path / "o.png"
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.format == "PNG"
        u8 = np.asarray(im)
    np.testing.assert_array_equal(u8[0, 0], [0, 255, 51])
    np.testing.assert_array_equal(u8, np.round(np.clip(img, 0, 1) * 255).astype(np.uint8))
    back = _load_quiet(out)
    assert np.abs(back - np.clip(img, 0, 1)).max() <= 0.5 / 255 + 1e-7


@pytest.mark.parametrize("shape", [(8, 9), (8, 9, 1)])
def test_save_gray(tmp_path, shape):
    img = np.linspace(0, 1, 72).reshape(shape)
    p = save_image(tmp_path / "g.png", img)
    with Image.open(p) as im:
        assert im.mode == "L"
    assert _load_quiet(p).shape == (8, 9, 1)


def test_save_without_suffix_is_png(tmp_path):
    p = save_image(tmp_path / "noext", np.zeros((4, 4, 3)))
    with Image.open(p) as im:
        assert im.format == "PNG"


@pytest.mark.parametrize("bad", [
    np.zeros((4, 4, 2)), np.zeros(5), np.zeros((4, 4, 3), np.uint8),
    np.full((4, 4), np.nan), np.zeros((0, 4)),
])
def test_save_bad_input(tmp_path, bad):
    with pytest.raises(ValueError):
        save_image(tmp_path / "x.png", bad)


def test_save_unwritable(tmp_path):
    with pytest.raises(ImageError, match="cannot write"):
        save_image(tmp_path / "missing_dir" / "x.png", np.zeros((4, 4)))


# ---------------------------------------------------------------- sample image
def test_sample_image_rgb_and_gray():
    rgb = sample_image(48)
    assert rgb.shape == (48, 48, 3) and rgb.dtype == np.float32
    assert 0.0 <= rgb.min() and rgb.max() <= 1.0 and rgb.std() > 0.15
    np.testing.assert_array_equal(rgb, sample_image(48))  # deterministic
    gray = sample_image(48, gray=True)
    assert gray.shape == (48, 48, 1)
    lum = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.abs(gray[:, :, 0] - lum).mean() < 0.01


def test_sample_image_rect_size_and_crop():
    img = sample_image((40, 80))
    assert img.shape == (40, 80, 3)
    # square crop of the 512x600 portrait: the flag (blue) is top-left, the face is centred
    sq = sample_image(64)
    assert sq[:10, :10, 2].mean() > sq[:10, :10, 0].mean()


@pytest.mark.parametrize("bad", [0, -3, (10,), (10, 0), "big"])
def test_sample_image_bad_size(bad):
    with pytest.raises(ValueError):
        sample_image(bad)


def test_sample_image_missing_file(monkeypatch, tmp_path):
    import matplotlib
    import matplotlib.cbook

    def boom(*a, **k):
        raise OSError("gone")

    monkeypatch.setattr(matplotlib.cbook, "get_sample_data", boom)
    monkeypatch.setattr(matplotlib, "get_data_path", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="grace_hopper"):
        images._sample_path()


# ---------------------------------------------------------------- layout helpers
def test_to_tensor_to_image_roundtrip():
    img = np.random.default_rng(3).random((5, 7, 3))
    t = to_tensor(img)
    assert t.shape == (1, 3, 5, 7) and t.dtype == np.float32 and t.flags.c_contiguous
    np.testing.assert_array_equal(t[0, 2], img[:, :, 2].astype(np.float32))
    back = to_image(t)
    assert back.shape == (5, 7, 3) and back.dtype == np.float32
    np.testing.assert_array_equal(back, img.astype(np.float32))
    assert to_tensor(img[:, :, 0]).shape == (1, 1, 5, 7)
    assert to_image(t[0]).shape == (5, 7, 3)
    assert to_tensor(img, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((1, 2, 3, 4))])
def test_to_tensor_bad(bad):
    with pytest.raises(ValueError):
        to_tensor(bad)


@pytest.mark.parametrize("bad", [np.zeros((2, 3, 4, 4)), np.zeros((4, 4))])
def test_to_image_bad(bad):
    with pytest.raises(ValueError):
        to_image(bad)


@pytest.mark.parametrize(
    ("h", "w", "m"), [(5, 7, 4), (3, 2, 32), (1, 6, 4), (8, 8, 8), (33, 31, 32)]
)
def test_pad_to_multiple_roundtrip(h, w, m):
    x = np.random.default_rng(4).random((2, 3, h, w)).astype(np.float32)
    p, size = pad_to_multiple(x, m)
    assert size == (h, w)
    assert p.shape[:2] == (2, 3) and p.shape[2] % m == 0 and p.shape[3] % m == 0
    assert p.shape[2] - h < m and p.shape[3] - w < m and p.dtype == np.float32
    np.testing.assert_array_equal(p[..., :h, :w], x)
    np.testing.assert_array_equal(crop(p, size), x)


def test_pad_reflects():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    p, _ = pad_to_multiple(x, 8)
    assert p.shape == (1, 1, 8, 8)
    # rows: 0 1 2 1 0 1 2 1 (reflect without repeating the edge, repeated when pad >= H)
    np.testing.assert_array_equal(p[0, 0, :, 0], x[0, 0, [0, 1, 2, 1, 0, 1, 2, 1], 0])
    np.testing.assert_array_equal(p[0, 0, 0, 4:], x[0, 0, 0, [2, 1, 0, 1]])


def test_pad_no_op_returns_copy():
    x = np.ones((1, 1, 8, 8))
    p, size = pad_to_multiple(x, 4)
    assert size == (8, 8) and p.shape == x.shape and p is not x


@pytest.mark.parametrize("m", [0, -2, 2.5, True])
def test_pad_bad_multiple(m):
    with pytest.raises(ValueError):
        pad_to_multiple(np.zeros((1, 1, 4, 4)), m)


def test_pad_and_crop_bad_shapes():
    with pytest.raises(ValueError):
        pad_to_multiple(np.zeros(5), 4)
    with pytest.raises(ValueError):
        crop(np.zeros((1, 1, 4, 4)), (5, 4))


def test_check_min_size():
    check_min_size(32, 40)
    check_min_size(8, 8, minimum=8)
    with pytest.raises(ValueError, match="20x40.*32x32"):
        check_min_size(20, 40)


# ---------------------------------------------------------------- load: pipes, non-finite
def test_load_from_a_pipe(tmp_path, rgb8):
    p = tmp_path / "a.png"
    Image.fromarray(rgb8).save(p)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    import threading

    feeder = threading.Thread(target=lambda: fifo.write_bytes(p.read_bytes()))
    feeder.start()
    img = _load_quiet(fifo)
    feeder.join()
    np.testing.assert_array_equal(np.round(img * 255).astype(np.uint8), rgb8)


def test_load_empty_pipe_says_so(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    import threading

    feeder = threading.Thread(target=lambda: fifo.write_bytes(b""))
    feeder.start()
    with pytest.raises(ImageError, match="empty input"):
        load_image(fifo)
    feeder.join()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_load_float_tiff_with_non_finite_pixels_is_refused(tmp_path, bad):
    a = np.full((6, 5), 0.5, np.float32)
    a[2, 3] = bad
    p = tmp_path / "f.tif"
    Image.fromarray(a, "F").save(p)
    with pytest.raises(ImageError, match=r"f\.tif: 1 pixel value\(s\) are NaN or infinite"):
        load_image(p)


def test_save_is_atomic_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "out.png"
    save_image(p, np.zeros((4, 4, 3), np.float32))
    before = p.read_bytes()

    def crash(self, fp, format=None, **kw):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(Image.Image, "save", crash)
    with pytest.raises(ImageError, match="out.png: cannot write image"):
        save_image(p, np.ones((4, 4, 3), np.float32))
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.png"]
