"""``tinydip study``: dry run, one line per problem and exit 2, an in-process run, and the
library (and the study modules) importing without Dask."""

from __future__ import annotations

import subprocess
import sys

from tinydip.cli.main import main

STUDY = """
images = ["sample:hopper@32"]
[[tasks]]
kind = "denoise"
[defaults]
iters = 5
stop = "none"
net = "decoder"
net_options = { k = 8, layers = 4 }
[grid]
lr = [0.01, 0.02]
"""


def test_dry_run_lists_runs(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(STUDY)
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "= 2 runs (0 finished" in out and out.count(" todo") == 2
    assert "at most 10 iterations" in out
    assert not (tmp_path / "o").exists()


def test_paper_preset_dry_run(tmp_path, capsys):
    assert main(["study", "--preset", "paper", "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for needle in ("denoise-s25", "inpaint-random0.5", "sr-x4", "auto-stop", "fixed-budget",
                   "= 12 runs"):
        assert needle in out


def test_bad_study_exits_2_one_line_per_problem(tmp_path, capsys):
    (tmp_path / "s.toml").write_text('images = ["nope.png"]\n[[tasks]]\nkind = "blur"\n')
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("tinydip: error: ") for line in err)
    assert main(["study", "--out", str(tmp_path / "o")]) == 2  # neither file nor preset


def test_in_process_run_and_resume(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(STUDY)
    args = ["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"), "--workers", "0",
            "--quiet"]
    assert main(args) == 0
    assert "2 ok, 0 failed, 0 already done" in capsys.readouterr().out
    assert (tmp_path / "o" / "summary.md").exists()
    assert main(args) == 0
    assert "0 ok, 0 failed, 2 already done" in capsys.readouterr().out


def test_no_dask_import_outside_a_run():
    code = ("import sys, tinydip.cli.main, tinydip.tasks, tinydip.study.engine, "
            "tinydip.study.summary; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
