"""Tests for tinydip.cli.codec_cmd: `tinydip compress` / `tinydip decompress` and error paths."""

import json
import struct

import numpy as np
import pytest

from tinydip.cli.main import main
from tinydip.codec.container import MAGIC, encode_tdd
from tinydip.codec.encoder import decompress, default_k
from tinydip.io.images import load_image, sample_image, save_image

FAST = ["--k", "8", "--layers", "4", "--iters", "30", "--finetune-iters", "5", "--quiet"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 32x32 PNG and its .tdd (+ report), made once through the CLI."""
    d = tmp_path_factory.mktemp("codec_cli")
    png = d / "in.png"
    save_image(png, sample_image(32))
    tdd, rep = d / "in.tdd", d / "r.json"
    assert main(["compress", str(png), "-o", str(tdd), "--report", str(rep), *FAST]) == 0
    return {"dir": d, "png": png, "tdd": tdd, "report": rep}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("tinydip: error: ") and err.endswith("\n")
    assert err.count("\n") == 1, err
    return err


def test_compress_report(files, capsys):
    rep = json.loads(files["report"].read_text())
    k, c = 8, 3
    assert rep["num_parameters"] == 4 * k * k + 8 * k + k * c == rep["stored_values"]
    assert rep["file_bytes"] == files["tdd"].stat().st_size
    assert rep["raw_bytes"] == 32 * 32 * 3
    assert rep["compression_ratio"] == pytest.approx(rep["raw_bytes"] / rep["file_bytes"])
    assert rep["bits_per_pixel"] == pytest.approx(8 * rep["file_bytes"] / (32 * 32))
    for key in ("psnr", "encode_seconds", "decode_seconds", "psnr_float"):
        assert np.isfinite(rep[key])
    assert rep["jpeg_equal_size"]["bytes"] <= rep["file_bytes"] or \
        rep["jpeg_equal_size"]["exceeds"]
    assert rep["haar_equal_coefficients"]["keep"] == rep["num_parameters"]
    assert np.isfinite(rep["haar_equal_coefficients"]["psnr"])


def test_compress_stdout(tmp_path, capsys):
    out = tmp_path / "s.tdd"
    assert main(["compress", "-o", str(out), "--size", "32", *FAST]) == 0
    text = capsys.readouterr().out
    assert "bpp" in text and "JPEG" in text and "Haar" in text and "PSNR" in text
    assert "not stored" in text


def test_decompress_cli(files, capsys):
    out = files["dir"] / "out.png"
    assert main(["decompress", str(files["tdd"]), "-o", str(out)]) == 0
    assert "32x32x3" in capsys.readouterr().out
    u8 = np.round(np.clip(decompress(files["tdd"]).astype(np.float64), 0, 1) * 255) / 255
    got = load_image(out)
    assert np.array_equal(got, u8.astype(np.float32))
    out2 = files["dir"] / "out2.png"
    assert main(["decompress", str(files["tdd"]), "-o", str(out2)]) == 0
    assert np.array_equal(load_image(out2), got)


def test_bits_option_cli(files, tmp_path):
    sizes = {}
    for bits in ("4", "16"):
        out = tmp_path / f"b{bits}.tdd"
        assert main(["compress", str(files["png"]), "-o", str(out), "--bits", bits, *FAST]) == 0
        sizes[bits] = out.stat().st_size
        assert decompress(out).shape == (32, 32, 3)
    assert sizes["4"] < files["tdd"].stat().st_size < sizes["16"]


def corruptions(data: bytes) -> dict[str, bytes]:
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    future = bytearray(data)
    future[8:10] = struct.pack("<H", 99)
    return {"corrupt": bytes(flipped), "truncated": data[: len(data) - 20],
            "truncated_tiny": data[:5], "empty": b"", "future": bytes(future)}


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "truncated_tiny", "empty", "future"])
def test_decompress_bad_file_exits_2(files, tmp_path, capsys, kind):
    bad = tmp_path / "bad.tdd"
    bad.write_bytes(corruptions(files["tdd"].read_bytes())[kind])
    capsys.readouterr()
    assert main(["decompress", str(bad), "-o", str(tmp_path / "x.png")]) == 2
    err = one_error_line(capsys)
    expected = {"corrupt": "corrupt", "truncated": "truncated", "truncated_tiny": "",
                "empty": "truncated", "future": "newer"}[kind]
    assert expected in err
    assert not (tmp_path / "x.png").exists()


def test_decompress_foreign_file_exits_2(files, tmp_path, capsys):
    capsys.readouterr()
    assert main(["decompress", str(files["png"]), "-o", str(tmp_path / "x.png")]) == 2
    assert "not a tinydip .tdd file" in one_error_line(capsys)
    other = tmp_path / "other.tdd"  # a valid container that does not hold a Deep Decoder
    other.write_bytes(encode_tdd({"height": 4, "width": 4, "channels": 1, "seed": 0,
                                  "architecture": {}}, {"x": np.zeros(3)}, 8))
    assert main(["decompress", str(other), "-o", str(tmp_path / "x.png")]) == 2
    assert "not a Deep Decoder file" in one_error_line(capsys)
    assert MAGIC == other.read_bytes()[:8]


def test_missing_files_exit_2(tmp_path, capsys):
    assert main(["decompress", str(tmp_path / "nope.tdd"), "-o", str(tmp_path / "x.png")]) == 2
    assert "not found" in one_error_line(capsys)
    assert main(["compress", str(tmp_path / "nope.png"), "-o", str(tmp_path / "x.tdd"),
                 *FAST]) == 2
    assert "not found" in one_error_line(capsys)
    assert main(["compress", "-o", str(tmp_path / "no" / "dir" / "x.tdd"), "--size", "32",
                 *FAST]) == 2
    assert "does not exist" in one_error_line(capsys)


def test_compress_image_too_small_exits_2(tmp_path, capsys):
    png = tmp_path / "small.png"
    save_image(png, sample_image(16))
    assert main(["compress", str(png), "-o", str(tmp_path / "x.tdd"), "--layers", "6"]) == 2
    assert "at least 64x64" in one_error_line(capsys)  # a 2x2 input at least
    png32 = tmp_path / "s32.png"
    save_image(png32, sample_image(32))
    assert main(["compress", str(png32), "-o", str(tmp_path / "x.tdd"), "--layers", "6"]) == 2
    assert "use --layers 5 or fewer" in one_error_line(capsys)


def test_small_images_get_fewer_layers_by_default(tmp_path, capsys):
    """32x32 with 6 layers would start from a 1x1 input (the fit stalled at 11 dB): the
    default is the most layers whose input is at least 2x2."""
    from tinydip.codec.encoder import fitting_layers

    assert [fitting_layers(s, s) for s in (2, 16, 32, 63, 64, 512)] == [1, 4, 5, 5, 6, 6]
    assert fitting_layers(512, 40) == 5
    rep = tmp_path / "r.json"
    fast = [a for a in FAST if a not in ("--layers", "4", "--k", "8")]
    assert main(["compress", "--size", "32", "-o", str(tmp_path / "x.tdd"), *fast,
                 "--report", str(rep)]) == 0
    r = json.loads(rep.read_text())
    assert r["layers"] == 5 and r["k"] == default_k(32, 32) == 8


def test_default_k_keeps_the_rate_low_at_every_size():
    """16 channels per 256 pixels of side: ~0.2-0.25 bpp, the rates where the codec beats
    JPEG, instead of a fixed k = 64 (2.8 bpp at 256x256, 8.6 dB below JPEG)."""
    assert [default_k(s, s) for s in (32, 128, 256, 384, 512, 1024)] == [8, 8, 16, 24, 32, 64]
    assert default_k(256, 1024) == 32


@pytest.mark.parametrize("args", [["--bits", "1"], ["--bits", "x"], ["--k", "0"],
                                  ["--incremental-iters", "-1"]])
def test_bad_options_exit_2(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exc:
        main(["compress", "-o", str(tmp_path / "x.tdd"), *args])
    assert exc.value.code == 2
    one_error_line(capsys)


def test_plot(files, tmp_path, capsys):
    fig = tmp_path / "rd.png"
    rep = tmp_path / "r.json"
    assert main(["compress", str(files["png"]), "-o", str(tmp_path / "p.tdd"), "--plot",
                 str(fig), "--plot-ks", "4", "--report", str(rep), *FAST]) == 0
    assert fig.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "| 32x32 | 4 |" in out and "| 32x32 | 8 |" in out
    rd = json.loads(rep.read_text())["rate_distortion"]
    assert [p["k"] for p in rd["decoder"]] == [4, 8]
    assert len(rd["jpeg_curve"]) >= 5


def test_help_mentions_z_not_stored(capsys):
    with pytest.raises(SystemExit):
        main(["compress", "--help"])
    text = capsys.readouterr().out
    assert "NOT stored" in text and "seed" in text


def test_missing_constriction_one_line_exit_2(files, capsys, monkeypatch):
    """A file entropy-coded with ANS needs the optional package: one line, exit 2."""
    import sys

    from tinydip.codec.container import describe_tdd

    pytest.importorskip("constriction")
    ans = files["dir"] / "ans.tdd"
    assert main(["compress", str(files["png"]), "-o", str(ans), *FAST, "--iters", "3",
                 "--coder", "ans"]) == 0
    assert describe_tdd(ans)["coder"] == "ans"
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "constriction", None)
    assert main(["decompress", str(ans), "-o", str(files["dir"] / "x.png")]) == 2
    err = one_error_line(capsys)
    assert "pip install 'tinydip[codec]'" in err
    # compressing without it still works (lzma/zlib); asking for ANS is refused
    out = files["dir"] / "noans.tdd"
    assert main(["compress", str(files["png"]), "-o", str(out), *FAST, "--iters", "3"]) == 0
    assert describe_tdd(out)["coder"] in ("lzma", "zlib", "none")
    capsys.readouterr()
    assert main(["compress", str(files["png"]), "-o", str(out), *FAST, "--coder", "ans"]) == 2
    assert "constriction" in one_error_line(capsys)


def test_target_bytes(files, capsys):
    out, rep = files["dir"] / "t.tdd", files["dir"] / "t.json"
    args = ["compress", str(files["png"]), "-o", str(out), "--report", str(rep), "--layers",
            "4", "--iters", "20", "--finetune-iters", "2", "--quiet"]
    assert main([*args, "--target-bytes", "400"]) == 0
    r = json.loads(rep.read_text())
    assert out.stat().st_size == r["file_bytes"] <= 400
    assert r["search"]["met"] and r["search"]["fits"] == 1
    assert r["search"]["k"] == r["k"] and len(r["search"]["candidates"]) >= 2
    assert "chose k=" in capsys.readouterr().err
    capsys.readouterr()
    # 0.5 bpp of 32x32 is 64 B, less than any file's header: refused before the fit (issue 27)
    assert main([*args, "--target-bpp", "0.5", "--k", "6"]) == 2
    assert "impossible" in one_error_line(capsys)
    assert main([*args, "--target-bytes", "400", "--bits", "16"]) == 2
    assert "--bits 2..15" in one_error_line(capsys)
    with pytest.raises(SystemExit) as exc:  # one target at a time
        main([*args, "--target-bytes", "400", "--target-psnr", "20"])
    assert exc.value.code == 2


def test_incremental_iters_option(tmp_path, capsys):
    png, rep = tmp_path / "in.png", tmp_path / "r.json"
    save_image(png, sample_image(32))
    assert main(["compress", str(png), "-o", str(tmp_path / "a.tdd"), "--report", str(rep),
                 *FAST, "--incremental-iters", "0"]) == 0
    assert json.loads(rep.read_text())["config"]["incremental_iters"] == 0
    assert "0 after each rounded layer" in capsys.readouterr().err


def test_interrupt_while_rounding_writes_the_file_and_says_so(tmp_path, capsys, monkeypatch):
    from tinydip.codec import incremental

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(incremental, "_settle", stop)
    png, out = tmp_path / "in.png", tmp_path / "a.tdd"
    save_image(png, sample_image(32))
    assert main(["compress", str(png), "-o", str(out), *FAST]) == 130
    err = capsys.readouterr().err
    assert "interrupted (SIGINT) after the fit, while rounding or fine-tuning" in err
    assert decompress(out).shape == (32, 32, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tdd", "in.png"]  # no temp file
