"""Tests for tinydip.tasks.plotting: PNGs are written with the expected layout; inputs checked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tinydip.io.images import sample_image, to_tensor
from tinydip.tasks.plotting import plot_grid, plot_training

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return sample_image(32)


def _history(n: int = 60, psnr_every: int = 5) -> list[dict]:
    hist = []
    for i in range(n):
        h = {"iter": 10 * i, "loss": 0.05 * np.exp(-i / 20) + 1e-3}
        if i % psnr_every == 0:
            h["psnr"] = 20 + 8 * (1 - np.exp(-i / 10))
            h["psnr_smoothed"] = h["psnr"] - 0.1
        hist.append(h)
    return hist


def _read_png(path) -> np.ndarray:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    with Image.open(path) as im:
        im.load()
        return np.asarray(im.convert("RGB"))


def test_plot_training_writes_png(tmp_path, img):
    gray = sample_image(32, gray=True)
    out = plot_training(
        _history(), {"input": img, "ground truth": img, "last": to_tensor(img), "gray": gray},
        tmp_path / "t.png", title="DIP", marks={"auto stop": 200, "oracle best": 350})
    assert out == tmp_path / "t.png"
    px = _read_png(out)
    # figure size (max(9, 2.8 * 4) x (3.4 + 2.9)) inches at 100 dpi
    assert px.shape == (630, 1120, 3)
    assert px.std() > 20  # not blank
    # the marks are drawn in red (tab:red) and green (tab:green) in the top panel
    top = px[:330].astype(int)
    red = (top[..., 0] > 180) & (top[..., 1] < 80) & (top[..., 2] < 80)
    green = (top[..., 1] > 130) & (top[..., 0] < 80) & (top[..., 2] < 80)
    assert red.sum() > 200 and green.sum() > 200



def test_plot_training_draws_the_stopping_statistic_on_its_own_axis(tmp_path, img):
    """Entries with a ``stat`` get a cyan (tab:cyan) curve, a colour no mark uses."""
    marks = {"auto stop": 500, "selected": 300, "oracle best": 250}

    def cyan_pixels(hist, name):
        top = _read_png(plot_training(hist, {"a": img}, tmp_path / name, marks=marks))
        top = top[:330].astype(int)
        return ((np.abs(top[..., 0] - 23) < 30) & (np.abs(top[..., 1] - 190) < 30)
                & (np.abs(top[..., 2] - 207) < 30)).sum()

    hist = _history()
    assert cyan_pixels(hist, "plain.png") == 0
    for i, h in enumerate(hist[10:]):  # statistics exist after a warm-up, ~1e-6 scale
        h["stat"] = 1e-6 * (1 + np.exp(-i / 8))
    assert cyan_pixels(hist, "stat.png") > 100


def test_plot_training_without_psnr_and_nonpositive_loss(tmp_path, img):
    hist = [{"iter": i, "loss": 1.0 - 0.1 * i} for i in range(15)]  # reaches <= 0: linear axis
    out = plot_training(hist, {"x": img[:, :, 0]}, tmp_path / "n.png")
    assert _read_png(out).shape == (630, 900, 3)


def test_plot_training_tolerates_missing_and_infinite_psnr(tmp_path, img):
    hist = _history(10, psnr_every=3)
    hist[3]["psnr"] = float("inf")
    hist[6]["psnr"] = None
    assert _read_png(plot_training(hist, {"a": img}, tmp_path / "m.png")).size > 0


@pytest.mark.parametrize(("history", "images", "match"), [
    ([], {"a": np.zeros((4, 4))}, "history"),
    ([{"iter": 0}], {"a": np.zeros((4, 4))}, "loss"),
    ([{"iter": 0, "loss": 1.0}], {}, "images"),
    ([{"iter": 0, "loss": 1.0}], {"a": np.zeros((4, 4, 2))}, "'a'"),
])
def test_plot_training_bad_input(tmp_path, history, images, match):
    with pytest.raises(ValueError, match=match):
        plot_training(history, images, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_grid_layout(tmp_path, img):
    out = plot_grid({"a": img, "b": img[:16, :16], "c": img[:, :, 0]}, tmp_path / "g.png", ncols=2)
    assert out == tmp_path / "g.png"
    assert _read_png(out).shape == (620, 600, 3)  # 2 rows x 2 cols of 3.0 x 3.1 in
    one_row = _read_png(plot_grid({"a": img, "b": img}, tmp_path / "h.png", title="before/after"))
    assert one_row.shape == (350, 600, 3)


def test_plot_grid_bad_input(tmp_path, img):
    with pytest.raises(ValueError):
        plot_grid({}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        plot_grid({"a": img}, tmp_path / "x.png", ncols=0)
    with pytest.raises(ValueError, match="cannot write"):
        plot_grid({"a": img}, tmp_path / "no_dir" / "x.png")


def test_plotting_leaves_pyplot_alone(tmp_path, img):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plot_grid({"a": img}, tmp_path / "p.png")
    plot_training(_history(5), {"a": img}, tmp_path / "q.png")
    assert plt.get_fignums() == before


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF"), (".svg", b"<?xml"),
                                           (".png", b"\x89PNG"), (".jpg", b"\xff\xd8")])
def test_figure_format_follows_the_suffix(tmp_path, img, suffix, magic):
    hist = [{"iter": i, "loss": 1.0 / (i + 1)} for i in range(50)]
    out = plot_training(hist, {"a": img}, tmp_path / f"fig{suffix}")
    assert out.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"fig{suffix}"]  # no temporary file left


def test_figure_unsupported_suffix_is_one_line(tmp_path, img):
    hist = [{"iter": 0, "loss": 1.0}]
    with pytest.raises(ValueError, match=r"fig\.xyz: cannot write figure \(unsupported format"):
        plot_training(hist, {"a": img}, tmp_path / "fig.xyz")
