"""Tests for tinydip.codec.baselines: JPEG at a byte budget and Haar wavelet compression."""

import io

import numpy as np
import pytest
from PIL import Image

from tinydip.codec.baselines import haar_compress, haar_num_coefficients, jpeg_at_size
from tinydip.denoising.haar import haar_forward, haar_inverse


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((np.asarray(a, np.float64) - b) ** 2)
    return float(10 * np.log10(1.0 / max(mse, 1e-30)))


def sample_image(h: int = 64, w: int = 48, c: int = 3, seed: int = 0) -> np.ndarray:
    """Smooth gradients, a few flat rectangles (edges) and mild noise, in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.stack([0.5 + 0.3 * np.sin(3 * xx + 2 * k) * np.cos(2 * yy - k) for k in range(c)],
                   axis=-1)
    for _ in range(4):
        y0, x0 = rng.integers(0, h - 8), rng.integers(0, w - 8)
        img[y0:y0 + rng.integers(4, 16), x0:x0 + rng.integers(4, 16)] = rng.uniform(0, 1, c)
    return np.clip(img + 0.02 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------- JPEG


def jpeg_size(img: np.ndarray, quality: int) -> int:
    u8 = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8).save(
        buf, format="JPEG", quality=quality, optimize=True)
    return buf.tell()


@pytest.mark.parametrize("c", [1, 3])
def test_jpeg_fits_budget_and_is_largest(c):
    img = sample_image(c=c)
    budget = jpeg_size(img, 50) + 1
    res = jpeg_at_size(img, budget)
    assert not res["exceeds"] and res["bytes"] <= budget and len(res["data"]) == res["bytes"]
    assert 1 <= res["quality"] < 95
    assert jpeg_size(img, res["quality"] + 1) > budget  # the next quality does not fit
    assert res["image"].shape == img.shape and res["image"].dtype == np.float32
    assert 0 <= res["image"].min() and res["image"].max() <= 1
    assert psnr(res["image"], img) > 25


def test_jpeg_grayscale_2d_and_mode():
    img = sample_image(c=1)
    res = jpeg_at_size(img[..., 0], 2000)
    assert res["image"].shape == img.shape
    assert Image.open(io.BytesIO(res["data"])).mode == "L"


def test_jpeg_budget_extremes():
    img = sample_image()
    tiny = jpeg_at_size(img, 50)
    assert tiny["exceeds"] and tiny["quality"] == 1 and tiny["bytes"] > 50
    huge = jpeg_at_size(img, 10**7)
    assert huge["quality"] == 95 and not huge["exceeds"]


def test_jpeg_quality_grows_with_budget():
    img = sample_image()
    res = [jpeg_at_size(img, b) for b in (800, 1500, 3000)]
    assert [r["quality"] for r in res] == sorted(r["quality"] for r in res)
    assert psnr(res[0]["image"], img) < psnr(res[2]["image"], img)


def test_jpeg_subsampling_options():
    img = sample_image()
    default = jpeg_at_size(img, 1500)
    full = jpeg_at_size(img, 1500, subsampling=0)
    best = jpeg_at_size(img, 1500, subsampling="best")
    assert full["subsampling"] == 0 and best["subsampling"] in (0, 1, 2)
    assert best["bytes"] <= 1500
    u8 = np.rint(img * 255) / 255
    assert psnr(best["image"], u8) >= max(psnr(default["image"], u8),
                                           psnr(full["image"], u8)) - 1e-9


@pytest.mark.parametrize("img, budget, match", [
    (np.zeros((8, 8, 2)), 100, "C in"),
    (np.zeros(8), 100, "C in"),
    (np.full((8, 8, 3), np.nan), 100, "finite"),
    (np.zeros((8, 8, 3)), 0, "positive"),
    (np.zeros((8, 8, 3)), 10.5, "integer"),
])
def test_jpeg_bad_input(img, budget, match):
    with pytest.raises(ValueError, match=match):
        jpeg_at_size(img, budget)
    with pytest.raises(ValueError, match="subsampling"):
        jpeg_at_size(np.zeros((8, 8, 3)), 100, subsampling=3)


# ----------------------------------------------------------------------------- Haar


@pytest.mark.parametrize("shape", [(64, 48, 3), (37, 23, 1), (5, 1, 1), (1, 7), (2, 2), (33, 64)])
def test_haar_perfect_reconstruction(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    pyr = haar_forward(x)
    np.testing.assert_allclose(haar_inverse(pyr), x, atol=1e-12)
    assert haar_num_coefficients(shape) == pyr.to_vector().size >= x.size


@pytest.mark.parametrize("levels", [None, 0, 1, 3])
def test_haar_orthonormal(levels):
    x = np.random.default_rng(1).standard_normal((32, 16, 3))
    v = haar_forward(x, levels).to_vector()
    assert v.size == x.size
    assert np.sum(v**2) == pytest.approx(np.sum(x**2), rel=1e-12)
    # linear isometry: inner products are preserved too
    y = np.random.default_rng(2).standard_normal(x.shape)
    w = haar_forward(y, levels).to_vector()
    assert np.dot(v, w) == pytest.approx(np.sum(x * y), rel=1e-10)


def test_haar_layout_and_constant_image():
    pyr = haar_forward(np.full((16, 8), 0.25))
    assert len(pyr.details) == 3 and pyr.approx.shape == (2, 1)
    assert pyr.details[0][0].shape == (2, 1) and pyr.details[-1][0].shape == (8, 4)
    assert all(np.all(b == 0) for level in pyr.details for b in level)
    assert np.allclose(pyr.approx, 0.25 * 8)  # 3 levels: each multiplies the mean by 2
    v = pyr.to_vector()
    np.testing.assert_array_equal(pyr.from_vector(v).to_vector(), v)
    with pytest.raises(ValueError):
        pyr.from_vector(v[:-1])


def test_haar_compress_keep_all_and_none():
    img = sample_image(37, 23, 3)
    n = haar_num_coefficients(img.shape)
    np.testing.assert_allclose(haar_compress(img, n), img, atol=1e-6)
    np.testing.assert_allclose(haar_compress(img, 10 * n), img, atol=1e-6)
    assert np.all(haar_compress(img, 0) == 0)
    out = haar_compress(img, 1)
    assert out.dtype == np.float32 and out.shape == img.shape


def test_haar_psnr_increases_with_keep():
    img = sample_image(64, 64, 3)
    keeps = [50, 200, 800, 3200, 12288]
    scores = [psnr(haar_compress(img, k), img) for k in keeps]
    assert all(b > a for a, b in zip(scores, scores[1:], strict=False))
    assert scores[-1] > 100


def test_haar_keeps_exactly_keep_coefficients():
    # no clipping in play: the squared error equals the energy of the dropped coefficients
    img = 0.5 + 0.1 * np.random.default_rng(3).standard_normal((32, 32, 1))
    img = np.clip(img, 0.05, 0.95)
    v = haar_forward(img).to_vector()
    keep = 100
    out = haar_compress(img, keep)
    dropped = np.sort(np.abs(v))[: v.size - keep]
    assert np.sum((out.astype(np.float64) - img) ** 2) == pytest.approx(np.sum(dropped**2),
                                                                       rel=1e-4)


def test_haar_bad_input():
    with pytest.raises(ValueError, match="keep"):
        haar_compress(sample_image(), -1)
    with pytest.raises(ValueError, match="levels"):
        haar_forward(np.zeros((4, 4)), -1)
    with pytest.raises(ValueError):
        haar_forward(np.zeros(4))


# ------------------------------------------------------------ Pillow codecs, charged Haar

@pytest.mark.parametrize("codec", ["jpeg", "webp", "jpeg2000", "avif"])
def test_codec_at_size_fits_the_budget(codec):
    from tinydip.codec.pillow_codecs import available, codec_at_size

    if not available(codec):
        pytest.skip(f"this Pillow lacks {codec}")
    img = sample_image(64)
    small, large = codec_at_size(img, 700, codec), codec_at_size(img, 2500, codec)
    for r, budget in ((small, 700), (large, 2500)):
        assert r["bytes"] == len(r["data"])
        assert r["bytes"] <= budget or r["exceeds"]
        assert r["image"].shape == img.shape and r["image"].dtype == np.float32
    assert large["bytes"] > small["bytes"]
    assert np.mean((large["image"] - img) ** 2) < np.mean((small["image"] - img) ** 2)
    tiny = codec_at_size(img, 1, codec)
    assert tiny["exceeds"] and tiny["bytes"] > 1  # the smallest file it can make, said so


def test_haar_charged_pays_for_positions():
    from tinydip.codec.baselines import haar_at_size, haar_quantized

    img = sample_image(64)
    a, b = haar_at_size(img, 800), haar_at_size(img, 3000)
    assert a["bytes"] <= 800 and b["bytes"] <= 3000 and b["step"] < a["step"]
    err = [float(np.mean((r["image"] - img) ** 2)) for r in (a, b)]
    assert err[1] < err[0]
    rec, n = haar_quantized(img, 1e-4)  # a fine step: nearly lossless, and large
    assert np.abs(rec - np.clip(img, 0, 1)).max() < 1e-3 and n > 3000
