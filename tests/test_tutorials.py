"""The tutorials (tutorials/*.py) run as scripts in quick mode and their closing asserts hold.

Each tutorial is executed in a fresh interpreter, exactly as a learner runs it
(``python tutorials/01_gradients.py``), with ``TINYDIP_QUICK=1`` (small images, few
iterations), figures redirected to a temporary directory (``TINYDIP_TUTORIAL_OUT``) and the
non-interactive Agg backend. Every tutorial ends with asserts on the numbers it promises, so
exit status 0 means the numbers are right, not just that the code ran.

Quick mode takes ~15-80 s per tutorial on two shared cores once numba's on-disk cache is
warm; the timeout leaves room for a cold cache (first run after a kernel changed: every kernel
compiles) and a busy machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS_DIR = Path(__file__).resolve().parents[1] / "tutorials"
TUTORIALS = sorted(p for p in TUTORIALS_DIR.glob("*.py") if not p.name.startswith("_"))
TIMEOUT = 360  # seconds per tutorial (quick mode: ~15-80 s warm on shared cores; chapter 6
# fits two U-Nets)
CHAPTERS = ("01_gradients", "02_convolution", "03_batchnorm", "04_denoising", "05_inpainting",
            "06_super_resolution", "07_deep_decoder_compression", "08_why_it_works", "09_adam",
            "10_knowing_when_to_stop", "11_watching_a_fit")


def _tail(text: str | bytes | None, lines: int) -> str:
    if text is None:
        return "(nothing)"
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"


def test_every_chapter_is_present():
    assert {p.stem for p in TUTORIALS} >= set(CHAPTERS)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_in_quick_mode(path: Path, tmp_path: Path):
    out_dir = tmp_path / "figures"
    env = {**os.environ, "TINYDIP_QUICK": "1", "TINYDIP_TUTORIAL_OUT": str(out_dir),
           "MPLBACKEND": "Agg"}
    try:
        proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{path.name} did not finish within {TIMEOUT} s in quick mode\n"
                    f"--- stdout (tail) ---\n{_tail(exc.stdout, 15)}\n"
                    f"--- stderr (tail) ---\n{_tail(exc.stderr, 30)}", pytrace=False)
    assert proc.returncode == 0, (
        f"{path.name} exited with status {proc.returncode} in quick mode\n"
        f"--- stderr (tail) ---\n{_tail(proc.stderr, 30)}\n"
        f"--- stdout (tail) ---\n{_tail(proc.stdout, 10)}")
    assert "checks passed" in proc.stdout, f"{path.name} did not reach its final asserts"
    figures = sorted(out_dir.glob("*.png"))
    assert figures, f"{path.name} saved no figure to TINYDIP_TUTORIAL_OUT"
    assert all(f.stat().st_size > 1000 for f in figures)
    assert list(tmp_path.iterdir()) == [out_dir], "a tutorial wrote outside its output folder"
