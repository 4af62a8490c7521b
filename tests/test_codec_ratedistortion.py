"""Tests for tinydip.codec.ratedistortion: equal-size baselines, curves, table, figure."""

import numpy as np
import pytest

from tinydip.codec.encoder import CodecConfig
from tinydip.codec.ratedistortion import (
    equal_size_baselines,
    haar_point,
    jpeg_curve,
    jpeg_point,
    markdown_table,
    plot_rate_distortion,
    rate_distortion,
    to_8bit,
)
from tinydip.io.images import sample_image

TINY = CodecConfig(k=4, layers=4, iters=10, qat_iters=2, progress=False)


@pytest.fixture(scope="module")
def image():
    return sample_image(32)


@pytest.fixture(scope="module")
def rd(image):
    return rate_distortion(image, [2, 4], TINY)


def test_jpeg_point_respects_budget(image):
    p = jpeg_point(image, 1500)
    assert p["bytes"] <= 1500 and not p["exceeds"]
    assert p["bits_per_pixel"] == pytest.approx(8 * p["bytes"] / (32 * 32))
    assert jpeg_point(image, p["bytes"])["quality"] == p["quality"]
    assert jpeg_point(image, 50)["exceeds"]


def test_jpeg_curve_grows_with_quality(image):
    c = jpeg_curve(image, (10, 50, 90))
    assert [p["quality"] for p in c] == [10, 50, 90]
    assert c[0]["bytes"] < c[1]["bytes"] < c[2]["bytes"]
    assert c[0]["psnr"] < c[2]["psnr"]


def test_haar_point(image):
    full = haar_point(image, 32 * 32 * 3)
    assert full["psnr"] == np.inf  # every coefficient kept: exact on the 8-bit grid
    assert haar_point(image, 50)["psnr"] < haar_point(image, 500)["psnr"]
    assert np.array_equal(to_8bit(full["image"]), full["image"])


def test_rate_distortion_points(rd):
    pts = rd["decoder"]
    assert [p["k"] for p in pts] == [2, 4]
    for p in pts:
        assert p["num_parameters"] == 4 * p["k"] ** 2 + 8 * p["k"] + 3 * p["k"]
        assert p["haar_equal_coefficients"]["keep"] == p["num_parameters"]
        j = p["jpeg_equal_size"]
        assert j["bytes"] <= p["file_bytes"] or j["exceeds"]
        assert "image" not in j
    assert set(rd["results"]) == {2, 4}
    assert equal_size_baselines(sample_image(32), rd["results"][2])["haar"]["keep"] == \
        pts[0]["num_parameters"]


def test_markdown_table(rd):
    lines = markdown_table(rd["decoder"]).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| image | k |")
    assert lines[2].startswith("| 32x32 | 2 |") and lines[3].count("|") == lines[0].count("|")


def test_plot(image, rd, tmp_path):
    out = plot_rate_distortion(image, rd, tmp_path / "rd.png", show_k=4)
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="no result"):
        plot_rate_distortion(image, rd, tmp_path / "x.png", show_k=99)
