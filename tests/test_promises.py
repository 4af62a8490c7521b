"""What tinydip promises (docs/promises.md), issue 27: bad input is one line and exit 2 with
nothing written, outputs that are devices/pipes/symlinks are written through (never
replaced), targets are refused or reported, learner code cannot forge a pass."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tinydip.cli.main import main
from tinydip.io.images import sample_image, save_image

FAST = ("--iters", "2", "--quiet", "--stop", "none")


def run(capsys, *argv):
    try:
        code = main(list(map(str, argv)))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("tinydip: error")]
    assert len(lines) == 1, f"expected one error line on stderr, got:\n{err}"
    assert "Traceback" not in err and err.strip().endswith(lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def img(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("promises") / "img.png"
    save_image(p, sample_image(32))
    return p


@pytest.fixture(scope="module")
def tdd(tmp_path_factory) -> Path:
    from tinydip.codec import CodecConfig, compress

    p = tmp_path_factory.mktemp("promises") / "small.tdd"
    cfg = CodecConfig(k=8, layers=4, iters=5, qat_iters=0, incremental_iters=0, progress=False)
    p.write_bytes(compress(sample_image(32), cfg).data)
    return p


# ---- outputs that are not regular files: written through, never replaced -----------------

def test_out_fifo_is_written_through(capsys, tmp_path, img):
    fifo = tmp_path / "FIFO"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, err = run(capsys, "denoise", img, "--add-noise", "25", *FAST, "--out", fifo)
    reader.join(30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the pipe
    assert got and got[0].startswith(b"\x89PNG")  # the reader got the PNG


def test_decompress_to_dev_full_is_enospc_one_line(capsys, tdd):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    code, out, err = run(capsys, "decompress", tdd, "-o", "/dev/full")
    assert code == 2 and "No space left on device" in one_line(err)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_decompress_to_dev_null_and_through_a_symlink(capsys, tmp_path, tdd):
    code, _, err = run(capsys, "decompress", tdd, "-o", "/dev/null")
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    code, _, err = run(capsys, "decompress", tdd, "-o", link)
    assert code == 0, err
    assert link.is_symlink() and real.read_bytes().startswith(b"\x89PNG")


# ---- an input path that is a symlink loop ------------------------------------------------

@pytest.mark.parametrize("cmd", ["denoise", "compress"])
def test_symlink_loop_input_is_one_line(capsys, tmp_path, cmd):
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    out = tmp_path / ("o.png" if cmd == "denoise" else "o.tdd")
    argv = [cmd, loop, *(FAST if cmd == "denoise" else ("--iters", "2")),
            *(("--out", out) if cmd == "denoise" else ("-o", out))]
    code, _, err = run(capsys, *argv)
    assert code == 2 and "symlink loop" in one_line(err) and not out.exists()


def test_symlink_loop_output_is_one_line(capsys, tmp_path, img):
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    code, _, err = run(capsys, "denoise", img, *FAST, "--out", loop)
    assert code == 2 and "symlink loop" in one_line(err)
    assert loop.is_symlink()


def test_symlink_loop_anywhere_is_one_line(capsys, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code, _, err = run(capsys, "study", "--preset", "paper", "--images", loop, "--out",
                       tmp_path / "st", "--dry-run")
    assert code == 2 and "Symlink loop" in one_line(err)


# ---- numbers and files that used to end in a traceback, or be wrongly refused/accepted ----

@pytest.mark.parametrize("spec, message", [
    ("motion:5,nan", "motion angle must be a finite"),
    ("motion:5,inf", "motion angle must be a finite"),
    ("EMPTY", "cannot read kernel file"),
    ("COMPLEX", "must hold real numbers"),
])
def test_deblur_bad_kernels_are_one_line(capsys, tmp_path, img, spec, message):
    import numpy as np

    if spec == "EMPTY":
        spec = tmp_path / "K.npy"
        spec.write_bytes(b"")
    elif spec == "COMPLEX":
        spec = tmp_path / "K.npy"
        np.save(spec, np.ones((3, 3), np.complex64))
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "deblur", img, "--kernel", spec, "--blur", *FAST, "--out", out)
    assert code == 2 and message in one_line(err) and not out.exists()


@pytest.mark.parametrize("shape", [(1, 9), (1, 1), (32, 1), (32, 4)])
def test_deblur_accepts_thin_and_image_tall_kernels(capsys, tmp_path, img, shape):
    import numpy as np

    k = tmp_path / "K.npy"
    np.save(k, np.ones(shape))
    code, _, err = run(capsys, "deblur", img, "--kernel", k, "--blur", *FAST,
                       "--out", tmp_path / "o.png")
    assert code == 0, err


# ---- an input is never overwritten --------------------------------------------------------

def test_preview_mask_refuses_to_overwrite_the_input(capsys, tmp_path, img):
    import shutil

    image = tmp_path / "p_mask.png"
    shutil.copy(img, image)
    before = image.read_bytes()
    code, out, err = run(capsys, "inpaint", image, "--drop", "0.5", "--preview-mask",
                         tmp_path / "p")
    assert code == 2 and "same file as IMAGE" in one_line(err)
    assert image.read_bytes() == before and not (tmp_path / "p_masked.png").exists()


# ---- resource limits ----------------------------------------------------------------------

ONE_RUN = """
images = ["sample:hopper@32"]
[[tasks]]
kind = "denoise"
[defaults]
iters = 2
stop = "none"
"""


def test_study_workers_capped_at_runs_and_cores(capsys, tmp_path, monkeypatch):
    import tinydip.study.engine as engine

    seen = {}

    def fake_run_study(study, out, *, workers=None, **kw):
        seen["workers"] = workers
        raise engine.MissingDask("stopped here by the test")

    monkeypatch.setattr(engine, "run_study", fake_run_study)
    (tmp_path / "s.toml").write_text(ONE_RUN)
    code, _, err = run(capsys, "study", tmp_path / "s.toml", "--out", tmp_path / "o",
                       "--workers", "1000", "--quiet")
    assert seen["workers"] == 1 and "--workers 1000 capped at 1" in err
    run(capsys, "study", tmp_path / "s.toml", "--out", tmp_path / "o", "--workers", "0")
    assert seen["workers"] == 0  # 0 = in this process: unchanged


def _crafted(tdd: Path, **changes) -> bytes:
    """``tdd``'s tensors behind a header with other keys (a hostile file)."""
    from tinydip.codec import decode_tdd, encode_tdd3, step_quantize
    from tinydip.codec.decoding import layout

    header, tensors = decode_tdd(tdd.read_bytes())
    steps = {t["name"]: t["step"] for t in header["tensors"]}
    user = {k: header[k] for k in ("model", "height", "width", "channels", "architecture",
                                   "seed")}
    q = {n: step_quantize(v, steps[n]) for n, v in tensors.items()}
    return encode_tdd3({**user, **changes}, q, layout=layout)


def test_tiny_file_declaring_a_huge_image_needs_max_memory(capsys, tmp_path, tdd):
    from tinydip.codec.decoding import check_fields

    bomb = tmp_path / "bomb.tdd"
    bomb.write_bytes(_crafted(tdd, height=8192, width=8192))
    assert bomb.stat().st_size < 1024
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "decompress", bomb, "-o", out)
    line = one_line(err)
    assert code == 2 and "-byte file may ask for" in line and "--max-memory" in line
    assert not out.exists()
    from tinydip.codec import decode_tdd

    header, _ = decode_tdd(bomb.read_bytes())
    check_fields(header, max_memory=2**40, file_bytes=191)  # explicitly trusted: allowed
    code, _, err = run(capsys, "decompress", tdd, "-o", out)  # an ordinary file: decoded
    assert code == 0, err


# ---- targets: impossible ones refused before the fit, missed ones exit 3 ----------------

TARGET = ("--layers", "4", "--iters", "20", "--finetune-iters", "2", "--incremental-iters",
          "0", "--quiet")


@pytest.mark.parametrize("target, message", [
    (("--target-bytes", "10"), "target 10 bytes is impossible"),
    (("--target-psnr", "200"), "target 200 dB is impossible"),
])
def test_impossible_targets_are_refused_before_the_fit(capsys, tmp_path, img, target,
                                                       message):
    out = tmp_path / "o.tdd"
    code, _, err = run(capsys, "compress", img, "-o", out, *TARGET, *target)
    assert code == 2 and message in one_line(err) and not out.exists()
    assert "fitting" not in err


def test_a_missed_target_exits_3_and_says_so_in_the_report(capsys, tmp_path, img):
    import json

    from tinydip.codec import CodecConfig
    from tinydip.codec.targets import min_file_bytes

    least = min_file_bytes(CodecConfig(k=6, layers=4), (32, 32, 3))
    out, rep = tmp_path / "o.tdd", tmp_path / "r.json"
    code, _, err = run(capsys, "compress", img, "-o", out, "--report", rep, *TARGET, "--k", "6",
                       "--target-bytes", least + 4)
    assert code == 3 and "NOT met" in err and "exit status 3" in err
    r = json.loads(rep.read_text())
    assert r["target_met"] is False and r["search"]["met"] is False
    assert out.stat().st_size == r["file_bytes"] > least + 4  # the closest file, written
