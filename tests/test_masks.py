"""Masks without an image editor: random pixels, a colour, a threshold, the alpha channel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tinydip.degrade.masks import (
    mask_from_alpha,
    mask_from_color,
    mask_from_spec,
    mask_from_threshold,
    parse_color,
    random_mask,
)


def test_random_mask_drops_the_fraction_and_is_seeded():
    m = random_mask(64, 64, 0.5, np.random.default_rng(0))
    assert m.shape == (64, 64) and m.dtype == bool
    assert abs(m.mean() - 0.5) < 0.03
    assert np.array_equal(m, random_mask(64, 64, 0.5, np.random.default_rng(0)))
    assert not np.array_equal(m, random_mask(64, 64, 0.5, np.random.default_rng(1)))
    assert random_mask(64, 64, 0.9, np.random.default_rng(0)).mean() < 0.15
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="between 0 and 1"):
            random_mask(8, 8, bad, np.random.default_rng(0))


@pytest.mark.parametrize("text,rgb", [("white", (1, 1, 1)), ("Red", (1, 0, 0)),
                                      ("#ff8000", (1, 128 / 255, 0)), ("#0f0", (0, 1, 0))])
def test_parse_color(text, rgb):
    assert parse_color(text) == pytest.approx(rgb)


@pytest.mark.parametrize("text", ["whiteish", "#12345", "#gggggg", "", "12,3"])
def test_parse_color_rejects(text):
    with pytest.raises(ValueError, match="cannot read the colour"):
        parse_color(text)


def test_mask_from_color_marks_pixels_within_tolerance():
    img = np.full((4, 5, 3), 0.3, np.float32)
    img[1, 2] = 1.0  # pure white
    img[2, 3] = (0.97, 0.97, 0.97)  # within 0.05
    img[3, 4] = (1.0, 1.0, 0.8)  # one channel too far
    known = mask_from_color(img, "white")
    assert not known[1, 2] and not known[2, 3] and known[3, 4] and known.sum() == 18
    assert mask_from_color(img, "white", 0.0).sum() == 19
    assert mask_from_color(img, (1.0, 1.0, 0.8), 0.0)[3, 4] == np.False_
    gray = img[:, :, :1]
    assert not mask_from_color(gray, "white")[1, 2]


def test_mask_from_threshold_brighter_is_unknown():
    img = np.zeros((3, 3, 1), np.float32)
    img[0, 0], img[1, 1] = 0.95, 0.9
    known = mask_from_threshold(img, 0.9)
    assert not known[0, 0] and known[1, 1] and known.sum() == 8
    with pytest.raises(ValueError, match="threshold"):
        mask_from_threshold(img, 1.0)


def test_mask_from_alpha(tmp_path):
    rgba = np.zeros((6, 7, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[2:4, 1:3, 3] = 0  # transparent: unknown
    rgba[5, 6, 3] = 127  # mostly transparent: unknown
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    known = mask_from_alpha(tmp_path / "a.png")
    assert known.shape == (6, 7) and (~known).sum() == 5 and not known[5, 6]
    Image.fromarray(rgba[..., :3], "RGB").save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="no alpha channel"):
        mask_from_alpha(tmp_path / "rgb.png")


def test_mask_from_spec(tmp_path):
    img = np.full((4, 4, 3), 0.2, np.float32)
    img[0, 0] = (1.0, 0.0, 0.0)
    img[1, 1] = (0.95, 0.1, 0.0)
    assert (~mask_from_spec("red", img)).sum() == 1
    assert (~mask_from_spec("#ff0000,0.1", img)).sum() == 2
    assert (~mask_from_spec("threshold:0.1", img)).sum() == 16
    with pytest.raises(ValueError, match="not a number"):
        mask_from_spec("red,abc", img)
    with pytest.raises(ValueError, match="threshold:T needs a number"):
        mask_from_spec("threshold:x", img)
    with pytest.raises(ValueError, match="tolerance must be in"):
        mask_from_spec("red,2", img)
