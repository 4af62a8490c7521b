"""Nothing lost, nothing misleading: the sweep of bad and unusual inputs, outputs and signals.

Every case ends in one line on stderr and a documented exit status: 2 for bad input (found
before any fitting starts), 130 for Ctrl-C, 143 for SIGTERM (both still write the best
result), 1 for a fit that diverged (its finite result is kept).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import default_signals
from PIL import Image

from tinydip.cli.main import main
from tinydip.io.images import sample_image, save_image

FAST = ("--iters", "2", "--quiet", "--stop", "none")


def run(capsys, *argv):
    try:
        code = main(list(map(str, argv)))
    except SystemExit as exc:  # argparse's own errors (bad option values): status 2
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The one error line (notes such as 'built-in sample image ...' may come before it)."""
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("tinydip: error")]
    assert len(lines) == 1, f"expected one error line on stderr, got:\n{err}"
    assert "Traceback" not in err and err.strip().endswith(lines[0])
    return lines[0]


def strict_load(path: Path):
    def refuse(const):
        raise ValueError(f"not strict JSON: {const}")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def img(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("sweep") / "img.png"
    save_image(p, sample_image(64))
    return p


# --------------------------------------------------------- outputs, checked before the fit
@pytest.mark.parametrize("option, path, message", [
    ("--report", "nodir/r.json", "--report nodir/r.json: folder nodir does not exist"),
    ("--out", ".", "--out .: is a folder"),
    ("--plot", "fig.xyz", "--plot fig.xyz: unsupported extension '.xyz'"),
    ("--out", "out.txt", "--out out.txt: unsupported extension '.txt'"),
    ("--report", "r.txt", "--report r.txt: unsupported extension '.txt'"),
])
def test_bad_output_paths_fail_before_any_work(capsys, tmp_path, monkeypatch, option, path,
                                               message):
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    code, _, err = run(capsys, "denoise", "--size", "64", "--iters", "100000", option, path)
    assert time.perf_counter() - t0 < 5  # not after a 100000-iteration fit
    assert code == 2 and message in one_line(err)


def test_two_outputs_on_one_path_and_overwriting_the_input(capsys, tmp_path, img):
    code, _, err = run(capsys, "denoise", "--size", "64", "--out", tmp_path / "a.png",
                       "--plot", tmp_path / "a.png")
    assert code == 2 and "same file as --out" in one_line(err)
    code, _, err = run(capsys, "denoise", img, "--out", img)
    assert code == 2 and "same file as IMAGE" in one_line(err)


def test_plot_pdf_report_strict_json_with_memory_estimate(capsys, tmp_path):
    rep, fig = tmp_path / "r.json", tmp_path / "fig.pdf"
    code, _, _ = run(capsys, "denoise", "--size", "64", *FAST, "--report", rep, "--plot", fig,
                     "--out", tmp_path / "o.png")
    assert code == 0
    assert fig.read_bytes().startswith(b"%PDF")
    r = strict_load(rep)
    assert r["memory_estimate"]["peak_mb"] > 0 and r["peak_rss_mb"] > 0
    assert r["interrupted"] is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.pdf", "o.png", "r.json"]


# ----------------------------------------------------------------- values that cannot work
@pytest.mark.parametrize("args, message", [
    (("--lr", "inf"), "positive finite"), (("--lr", "nan"), "positive finite"),
    (("--lr", "1e30"), "too high"), (("--lr", "0"), "positive finite"),
    (("--add-noise", "-5"), "finite number >= 0"), (("--add-noise", "nan"), ">= 0"),
    (("--max-memory", "lots"), "memory size"),
])
def test_values_that_cannot_work_are_refused(capsys, args, message):
    code, _, err = run(capsys, "denoise", "--size", "64", *args)
    assert code == 2 and message in one_line(err)


def test_memory_budget_is_one_line_with_the_estimate(capsys):
    code, _, err = run(capsys, "denoise", "--size", "256", *FAST, "--max-memory", "1M")
    line = one_line(err)
    assert code == 2 and "needs about" in line and "over the budget of 1.0 MB" in line
    assert "--max-memory" in line and "--size" in line


def test_memory_error_anywhere_is_one_line(capsys, monkeypatch):
    from tinydip import tasks

    def boom(*a, **k):
        raise MemoryError
    monkeypatch.setattr(tasks, "run", boom)
    code, _, err = run(capsys, "denoise", "--size", "64", *FAST)
    assert code == 2 and "out of memory" in one_line(err)


def test_decompress_refuses_over_budget(capsys, tmp_path):
    tdd = tmp_path / "a.tdd"
    assert main(["compress", "--size", "32", "-o", str(tdd), "--k", "8", "--layers", "4",
                 "--iters", "3", "--finetune-iters", "1", "--quiet"]) == 0
    capsys.readouterr()
    code, _, err = run(capsys, "decompress", tdd, "-o", tmp_path / "x.png", "--max-memory",
                       "1K")
    assert code == 2 and "over the budget of 1 KB" in one_line(err)
    assert not (tmp_path / "x.png").exists()


# -------------------------------------------------------------------------------- inputs
def test_nan_tiff_refused_before_fitting(capsys, tmp_path):
    a = np.full((64, 64), 0.5, np.float32)
    a[3, 4] = np.nan
    Image.fromarray(a, "F").save(tmp_path / "nan.tif")
    code, _, err = run(capsys, "denoise", tmp_path / "nan.tif", *FAST)
    assert code == 2 and "nan.tif: 1 pixel value(s) are NaN or infinite" in one_line(err)


def test_image_from_a_pipe(tmp_path, img):
    """``tinydip denoise /dev/stdin < img.png`` works (read whole, then decoded)."""
    with open(img, "rb") as f:
        proc = subprocess.run([sys.executable, "-m", "tinydip.cli.entry", "denoise",
                               "/dev/stdin", *FAST, "--out", str(tmp_path / "o.png")],
                              stdin=f, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.png").exists()



@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_reader_leaving_a_pipe_loses_nothing(tmp_path, closed):
    """``tinydip denoise ... | head``: the reader leaves before the summary is printed; the run
    still writes --out and --report and exits 0, with no traceback (was: exit 0, no files)."""
    log = tmp_path / "other.txt"
    with open(log, "w") as other:
        pipes = {"stdout": subprocess.PIPE, "stderr": other} if closed == "stdout" else \
            {"stdout": other, "stderr": subprocess.PIPE}
        proc = subprocess.Popen([sys.executable, "-m", "tinydip.cli.entry", "denoise",
                                 "--size", "32", "--iters", "3", "--stop", "none",
                                 "--out", "o.png", "--report", "r.json"], cwd=tmp_path,
                                **pipes)
        getattr(proc, closed).close()  # the reader left at once
        assert proc.wait(timeout=300) == 0, log.read_text()
    assert "Traceback" not in log.read_text() and "Exception" not in log.read_text()
    assert strict_load(tmp_path / "r.json")["iters"] == 3
    assert Image.open(tmp_path / "o.png").size == (32, 32)

# ------------------------------------------------------------------------------- signals
def _start(tmp_path: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tinydip.cli.entry", *argv],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            preexec_fn=default_signals)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    """(stdout, stderr) once the run has exited; a run still going after ``timeout`` s is
    killed (no orphan keeps fitting) and the test fails."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the run did not stop within {timeout} s of the signal")


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 240) -> None:
    """Read stderr until ``marker`` appears (the run has reached its fit)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = proc.stderr.readline()
        if marker in line:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"the run never printed {marker!r}")


@pytest.mark.parametrize("sig, status, name", [(signal.SIGTERM, 143, "SIGTERM"),
                                               (signal.SIGINT, 130, "SIGINT")])
def test_signal_during_a_fit_keeps_the_result(tmp_path, sig, status, name):
    proc = _start(tmp_path, "denoise", "--size", "64", "--iters", "1000000", "--stop", "none",
                  "--out", "o.png", "--report", "r.json", "--quiet")
    _wait_for(proc, "fitting")
    time.sleep(2.0)  # some iterations
    proc.send_signal(sig)
    out, err = _finish(proc)
    assert proc.returncode == status, err
    assert f"interrupted ({name})" in out
    rep = strict_load(tmp_path / "r.json")
    assert rep["interrupted"] is True and rep["iters"] >= 1
    assert Image.open(tmp_path / "o.png").size == (64, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png", "r.json"]  # no temp files


def test_compress_interrupted_writes_a_valid_file_and_exits_130(tmp_path):
    proc = _start(tmp_path, "compress", "--size", "64", "-o", "a.tdd", "--k", "8",
                  "--iters", "1000000", "--quiet")
    _wait_for(proc, "compress:")
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    _, err = _finish(proc)
    assert proc.returncode == 130, err
    assert "the file holds the best weights so far" in err
    from tinydip.codec.encoder import decompress

    assert decompress(tmp_path / "a.tdd").shape == (64, 64, 3)
