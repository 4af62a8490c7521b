"""``tinydip exercise list | start | check``: files, progress, exit codes, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tinydip.cli.main import main
from tinydip.exercises import EXERCISES
from tinydip.exercises.progress import FILENAME

SOLUTIONS = Path(__file__).with_name("exercise_solutions")


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def run(*argv):
        code = main(["exercise", *map(str, argv)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def progress(folder: Path) -> dict:
    return json.loads((folder / FILENAME).read_text())["exercises"]


def test_list_shows_every_exercise_not_started(cli):
    code, out, err = cli("list")
    assert code == 0 and not err
    for e in EXERCISES:
        line = next(ln for ln in out.splitlines() if ln.startswith(e.name + " "))
        assert e.chapter in line and e.title in line and line.endswith("not started")


def test_start_check_fail_fix_pass_list(cli, tmp_path):
    code, out, _ = cli("start", "leaky_relu_backward")
    stub = tmp_path / "leaky_relu_backward.py"
    assert code == 0 and stub.is_file() and "exercise check leaky_relu_backward" in out
    assert progress(tmp_path)["leaky_relu_backward"]["status"] == "started"

    code, out, err = cli("check", "leaky_relu_backward")
    assert code == 1 and "Traceback" not in out + err
    lines = out.splitlines()
    assert lines[0].startswith("FAIL  ") and "not implemented yet: fill in the TODO in " \
        "leaky_relu_backward.py:" in lines[0]
    assert progress(tmp_path)["leaky_relu_backward"]["passed"] == 0

    shutil.copy(SOLUTIONS / "leaky_relu_backward.py", stub)
    code, out, _ = cli("check", "leaky_relu_backward")
    assert code == 0 and all(ln.startswith("PASS  ") for ln in out.splitlines()[:-1])
    rec = progress(tmp_path)["leaky_relu_backward"]
    assert rec["status"] == "passed" and rec["passed"] == rec["total"]

    code, out, _ = cli("list")
    assert "leaky_relu_backward" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("leaky_relu_backward "))
    assert row.endswith("passed")
    row = next(ln for ln in out.splitlines() if ln.startswith("sigmoid_backward "))
    assert row.endswith("not started")


def test_failed_check_shows_progress_counts_in_list(cli, tmp_path):
    src = (SOLUTIONS / "masked_mse.py").read_text().replace("(2 / K)", "(1 / K)")
    (tmp_path / "masked_mse.py").write_text(src)
    code, out, _ = cli("check", "masked_mse")
    assert code == 1
    fail = [ln for ln in out.splitlines() if ln.startswith("FAIL  ")]
    assert any("missing the factor 2" in ln for ln in fail), out
    _, out, _ = cli("list")
    row = next(ln for ln in out.splitlines() if ln.startswith("masked_mse "))
    assert "started (" in row and "checks pass)" in row


def test_start_refuses_to_overwrite_without_force(cli, tmp_path):
    mine = tmp_path / "im2col.py"
    mine.write_text("# my work\n")
    code, out, err = cli("start", "im2col")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--force" in err
    assert mine.read_text() == "# my work\n"
    code, _, _ = cli("start", "im2col", "--force")
    assert code == 0 and "TODO" in mine.read_text()


def test_start_into_another_folder(cli, tmp_path):
    (tmp_path / "ex").mkdir()
    code, out, _ = cli("start", "adam_step", "--dir", "ex")
    assert code == 0 and (tmp_path / "ex" / "adam_step.py").is_file()
    assert "--file" in out
    assert progress(tmp_path / "ex")["adam_step"]["status"] == "started"
    code, _, err = cli("start", "adam_step", "--dir", "missing")
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize("argv", [("start", "conv_backwards"), ("check", "nope")])
def test_unknown_exercise_is_one_line_exit_2(cli, argv):
    code, out, err = cli(*argv)
    assert code == 2 and not out and len(err.strip().splitlines()) == 1
    assert "unknown exercise" in err and "exercise list" in err


def test_check_missing_file_is_one_line_exit_2(cli, tmp_path):
    code, out, err = cli("check", "sigmoid_backward")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "exercise start" in err
    code, _, err = cli("check", "sigmoid_backward", "--file", tmp_path / "elsewhere.py")
    assert code == 2 and "not found" in err


def test_check_with_file_records_progress_next_to_it(cli, tmp_path):
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "mine.py"
    shutil.copy(SOLUTIONS / "sigmoid_backward.py", target)
    code, out, _ = cli("check", "sigmoid_backward", "--file", target)
    assert code == 0 and "all 3 checks pass" in out
    assert progress(tmp_path / "sub")["sigmoid_backward"]["status"] == "passed"


def test_corrupt_progress_file_is_ignored_and_rewritten(cli, tmp_path):
    (tmp_path / FILENAME).write_text("{not json")
    code, out, _ = cli("list")
    assert code == 0 and "not started" in out
    assert cli("start", "sigmoid_backward")[0] == 0
    assert progress(tmp_path)["sigmoid_backward"]["status"] == "started"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
