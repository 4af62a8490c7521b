"""The command line: the main run, reports, and every bad-input path (exit 2, one line)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tinydip.cli.main import main
from tinydip.io.images import sample_image, save_image


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    img = sample_image(32)
    save_image(d / "img.png", img)
    save_image(d / "small.png", sample_image(16))
    save_image(d / "big.png", sample_image(64))
    save_image(d / "mask.png", np.ones((32, 32)))
    save_image(d / "mask_bad.png", np.ones((20, 20)))
    (d / "not_image.png").write_text("hello")
    data = (d / "img.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 2])
    Image.fromarray((np.random.default_rng(0).random((32, 32, 4)) * 255).astype(np.uint8),
                    "RGBA").save(d / "rgba.png")
    rgba = (np.asarray(sample_image(32)) * 255).astype(np.uint8)
    rgba = np.dstack([rgba, np.full((32, 32), 255, np.uint8)])
    rgba[10:20, 5:25, 3] = 0  # a transparent band: the pixels to fill
    Image.fromarray(rgba, "RGBA").save(d / "holes.png")
    marked = img.copy()
    marked[8:12, :] = 1.0  # a white stripe
    save_image(d / "white_stripe.png", marked)
    save_image(d / "all_white.png", np.ones((32, 32, 3)))
    return d


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


FAST = ("--iters", "2", "--quiet", "--stop", "none")


def test_denoise_builtin_image_writes_outputs(tmp_path, capsys):
    rep, out_png, fig = tmp_path / "r.json", tmp_path / "o.png", tmp_path / "f.png"
    code, out, err = run(capsys, "denoise", "--size", "32", *FAST, "--report", rep,
                         "--out", out_png, "--plot", fig)
    assert code == 0, err
    report = json.loads(rep.read_text())
    for key in ("task", "net", "iters", "seed", "seconds", "seconds_per_iter", "params",
                "height", "width", "psnr_input", "psnr_last", "psnr_best", "psnr_smoothed",
                "best_iter", "history", "output", "psnr_pilot", "postfilter"):
        assert key in report
    # --quality default: a width-32 U-Net (the paper's width 128 has 2,217,831 weights)
    assert report["height"] == 32 and report["params"] == 152_199
    with Image.open(out_png) as im:
        assert im.size == (32, 32)
    assert fig.stat().st_size > 0
    assert "PSNR input" in out


def test_rgba_warns_and_works(files, capsys):
    code, out, err = run(capsys, "denoise", files / "rgba.png", *FAST)
    assert code == 0 and "alpha" in err


def test_sr_with_downsample_reports_bicubic(files, tmp_path, capsys):
    rep = tmp_path / "r.json"
    code, out, err = run(capsys, "sr", files / "big.png", "--factor", "2", "--downsample",
                         *FAST, "--report", rep)
    assert code == 0, err
    report = json.loads(rep.read_text())
    assert report["height"] == 64 and "psnr_bicubic" in report


def test_deblur_with_blur_reports_wiener(files, tmp_path, capsys):
    rep = tmp_path / "r.json"
    code, out, err = run(capsys, "deblur", files / "img.png", "--kernel", "gaussian:1",
                         "--blur", "--add-noise", "5", *FAST, "--report", rep)
    assert code == 0, err
    report = json.loads(rep.read_text())
    assert report["task"] == "deblur" and "psnr_wiener" in report and "psnr_input" in report
    assert "wiener baseline PSNR" in out


def test_inpaint_with_mask_file(files, capsys):
    code, out, err = run(capsys, "inpaint", files / "img.png", "--mask", files / "mask.png",
                         *FAST)
    assert code == 0, err


def test_denoise_poisson_noise(tmp_path, capsys):
    rep = tmp_path / "r.json"
    code, out, err = run(capsys, "denoise", "--size", "32", "--noise", "poisson:30",
                         *FAST, "--report", rep)  # --loss auto = poisson
    assert code == 0, err
    report = json.loads(rep.read_text())
    assert report["noise"] == "poisson:30" and report["loss"] == "poisson"
    assert "Poisson noise, peak 30" in err
    assert report["rollbacks"] == [] and report["settings"].get("rollback") is None


def test_rollback_option_reaches_the_fit(tmp_path, capsys):
    rep = tmp_path / "r.json"
    code, out, err = run(capsys, "denoise", "--size", "32", "--rollback", *FAST, "--report", rep)
    assert code == 0, err
    report = json.loads(rep.read_text())
    assert report["settings"]["rollback"] is True and report["rollbacks"] == []


def test_inpaint_drop_reports_the_fills(files, tmp_path, capsys):
    rep = tmp_path / "r.json"
    code, out, err = run(capsys, "inpaint", files / "img.png", "--drop", "0.5", *FAST,
                         "--report", rep)
    assert code == 0, err
    report = json.loads(rep.read_text())
    assert report["drop"] == 0.5 and 0.4 < report["known_fraction"] < 0.6
    assert "psnr_biharmonic" in report and "biharmonic baseline PSNR" in out


@pytest.mark.parametrize("how,unknown", [(("--drop", "0.25"), (100, 400)),
                                         (("--mask-from", "white"), (128, 160)),
                                         (("--mask-from", "#ffffff,0.001"), (128, 132)),
                                         (("--mask-from", "alpha"), (200, 200))])
def test_preview_mask_writes_two_images_and_does_not_fit(files, tmp_path, capsys, how, unknown):
    image = files / ("holes.png" if how[1] == "alpha" else "white_stripe.png")
    prefix = tmp_path / "p"
    code, out, err = run(capsys, "inpaint", image, *how, "--preview-mask", prefix)
    assert code == 0, err
    assert "iterations" not in out and "fitting" not in err
    mask = np.asarray(Image.open(f"{prefix}_mask.png"))
    n = int((mask < 128).sum())
    assert unknown[0] <= n <= unknown[1], n
    masked = np.asarray(Image.open(f"{prefix}_masked.png"))
    assert masked.shape[:2] == (32, 32) and (masked[mask < 128] == 0).all()
    assert f"{n} unknown pixels" in out


def test_inpaint_mask_from_colour_fits(files, capsys):
    code, out, err = run(capsys, "inpaint", files / "white_stripe.png", "--mask-from", "white",
                         *FAST)
    assert code == 0, err


@pytest.mark.parametrize("argv,message", [
    (("denoise", "--noise", "poisson:-1"), "PEAK"),
    (("denoise", "--noise", "salt:3"), "unknown noise spec"),
    (("denoise", "--noise", "poisson:3", "--add-noise", "5"), "not allowed"),
    (("inpaint", "{d}/img.png", "--drop", "1.5"), "between 0 and 1"),
    (("inpaint", "{d}/img.png", "--drop", "0"), "between 0 and 1"),
    (("inpaint", "{d}/img.png", "--drop", "0.5", "--mask", "{d}/mask.png"), "not allowed"),
    (("inpaint", "{d}/img.png", "--mask-from", "ochre"), "cannot read the colour"),
    (("inpaint", "{d}/img.png", "--mask-from", "white,x"), "not a number"),
    (("inpaint", "{d}/img.png", "--mask-from", "threshold:2"), "threshold must be in"),
    (("inpaint", "{d}/img.png", "--mask-from", "alpha"), "no alpha channel"),
    (("inpaint", "{d}/all_white.png", "--mask-from", "white"), "no known pixel"),
    (("inpaint", "{d}/img.png", "--mask-from", "#00ff00,0.01"), "nothing to inpaint"),
    (("inpaint", "{d}/img.png", "--text", "--preview-mask", "{d}/nodir/p"), "preview-mask"),
])
def test_bad_inpaint_options_exit_2(files, capsys, argv, message):
    test_bad_input_exits_2_with_one_line(files, capsys, argv, message)


@pytest.mark.parametrize("argv,message", [
    (("denoise", "{d}/missing.png"), "not found"),
    (("denoise", "{d}/not_image.png"), "not_image.png"),
    (("denoise", "{d}/truncated.png"), "truncated"),
    (("denoise", "{d}/small.png"), "32"),
    (("denoise", "{d}/img.png", "--truth", "{d}/big.png"), "truth"),
    (("inpaint", "{d}/img.png", "--mask", "{d}/mask_bad.png"), "mask"),
    (("inpaint", "{d}/img.png", "--hole", "1.5"), "--hole"),
    (("inpaint", "{d}/img.png"), "required"),
    (("sr", "{d}/img.png", "--factor", "3"), "invalid choice"),
    (("sr", "{d}/img.png", "--factor", "2", "--truth", "{d}/img.png"), "truth"),
    (("denoise", "--iters", "0"), "positive"),
    (("denoise", "--lr", "abc"), "number"),
    (("frobnicate",), "invalid choice"),
    (("deblur", "{d}/img.png", "--kernel", "wobbly:3"), "unknown kernel spec"),
    (("deblur", "{d}/img.png", "--kernel", "{d}/missing_kernel.npy"), "kernel file not found"),
    (("deblur", "{d}/img.png", "--kernel", "box:40", "--blur"), "larger than the image"),
    (("deblur", "{d}/img.png"), "required"),
])
def test_bad_input_exits_2_with_one_line(files, capsys, argv, message):
    argv = [a.format(d=files) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors exit directly (status 2)
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("usage")]
    assert len(lines) == 1 and lines[0].startswith("tinydip: error:"), err
    assert message in lines[0]
    assert "Traceback" not in err


def test_gradcheck_command(capsys):
    code, out, err = run(capsys, "gradcheck")
    assert code == 0 and "all gradients agree" in out
    assert "tiny U-Net with skip fork" in out


def test_budget_end_under_a_rule_says_more_steps_may_help(tmp_path, capsys):
    """A rule watching, the budget ends the fit: one line says so, the report has the flag;
    without a rule (--stop none) neither."""
    rep = tmp_path / "r.json"
    code, out, err = run(capsys, "denoise", "--size", "32", "--iters", "110", "--quiet",
                         "--stop", "val", "--report", rep)  # past val's warm-up (100)
    assert code == 0, err
    assert "val rule had not stopped when the budget (--iters 110) ran out" in out
    assert json.loads(rep.read_text())["budget_limited"] is True
    code, out, err = run(capsys, "denoise", "--size", "32", *FAST, "--report", rep)
    assert code == 0, err
    assert "had not stopped" not in out and json.loads(rep.read_text())["budget_limited"] is False
