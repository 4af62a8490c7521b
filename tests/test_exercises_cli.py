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
    assert progress(tmp_path)["adam_step"]["status"] == "started"  # where `list` looks
    assert not (tmp_path / "ex" / FILENAME).exists()
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


def test_check_with_file_records_progress_where_list_looks(cli, tmp_path):
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "mine.py"
    shutil.copy(SOLUTIONS / "sigmoid_backward.py", target)
    code, out, _ = cli("check", "sigmoid_backward", "--file", target)
    assert code == 0 and "all 3 checks pass" in out
    assert progress(tmp_path)["sigmoid_backward"]["status"] == "passed"  # the working folder
    assert not (tmp_path / "sub" / FILENAME).exists()
    _, out, _ = cli("list")
    assert next(ln for ln in out.splitlines() if ln.startswith("sigmoid_backward ")
                ).endswith("passed")


def test_corrupt_progress_file_is_ignored_and_rewritten(cli, tmp_path):
    (tmp_path / FILENAME).write_text("{not json")
    code, out, _ = cli("list")
    assert code == 0 and "not started" in out
    assert cli("start", "sigmoid_backward")[0] == 0
    assert progress(tmp_path)["sigmoid_backward"]["status"] == "started"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("record", [
    {"status": "started", "passed": 1},  # "total" missing: was a KeyError traceback
    {"status": "started", "total": "x", "passed": None},
    {"status": 3},
    {"passed": [1], "total": {}},
])
def test_hand_edited_progress_file_is_shown_not_a_traceback(cli, tmp_path, record):
    (tmp_path / FILENAME).write_text(json.dumps({"version": 1,
                                                 "exercises": {"masked_mse": record}}))
    code, out, err = cli("list")
    assert code == 0 and not err
    row = next(ln for ln in out.splitlines() if ln.startswith("masked_mse "))
    assert row.endswith("started")


# ---- issue 27: the learner's code runs in a child process; it cannot forge a pass --------

SIGMOID_OK = (SOLUTIONS / "sigmoid_backward.py").read_text()


def _solution_then(tail: str) -> str:
    """The correct solution, whose sigmoid_backward runs ``tail`` first."""
    head = "def sigmoid_backward(dout, cache):"
    assert head in SIGMOID_OK
    return SIGMOID_OK.replace(head, f"{head}\n    {tail}")


@pytest.mark.parametrize("source, message", [
    ("import sys\nsys.exit(0)\n", "called sys.exit(0) while being imported"),
    ("import os\nos._exit(0)\n", "ended the checker during importing your file"),
    (_solution_then("import sys; sys.exit(0)"), "called sys.exit(0) inside the check"),
    (_solution_then("import os; os._exit(0)"), "ended the checker during this check"),
    (_solution_then("raise SystemExit"), "called sys.exit(None)"),
    (_solution_then("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"),
     "ended the checker"),
])
def test_exiting_cannot_pass_a_check(cli, tmp_path, source, message):
    (tmp_path / "sigmoid_backward.py").write_text(source)
    code, out, err = cli("check", "sigmoid_backward")
    assert code == 1 and "Traceback" not in out + err
    assert "FAIL  " in out and message in out and "checks pass:" not in out
    assert progress(tmp_path)["sigmoid_backward"]["status"] == "started"


def test_printing_a_pass_is_not_a_pass(cli, tmp_path):
    fake = "print('PASS  everything'); print('all 3 checks pass: sigmoid_backward done')"
    (tmp_path / "sigmoid_backward.py").write_text(_solution_then(fake + "; return None"))
    code, out, err = cli("check", "sigmoid_backward")
    assert code == 1 and "all 3 checks pass" not in out  # the learner's text goes to stderr
    assert "PASS  everything" in err and "what your code printed" in err


def test_an_endless_loop_is_a_fail_line_after_the_time_limit(cli, tmp_path):
    (tmp_path / "sigmoid_backward.py").write_text(_solution_then("while True: pass"))
    code, out, err = cli("check", "sigmoid_backward", "--time-limit", "1")
    assert code == 1 and "Traceback" not in out + err
    lines = out.splitlines()
    assert lines[0].startswith("FAIL  ") and "stopped after 1 s" in lines[0]
    assert all(ln.startswith("FAIL  ") and ln.endswith("not run") for ln in lines[1:3])


def test_ctrl_c_stops_the_checker_and_its_child(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "sigmoid_backward.py").write_text(_solution_then("while True: pass"))
    from conftest import default_signals

    proc = subprocess.Popen([sys.executable, "-m", "tinydip", "exercise", "check",
                             "sigmoid_backward", "--time-limit", "300"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)
    time.sleep(8)  # the child imports tinydip, then loops
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err
    assert "PASS" not in out
