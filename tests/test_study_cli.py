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
    assert "2 ok, 0 failed, 0 interrupted, 0 already done" in capsys.readouterr().out
    assert (tmp_path / "o" / "summary.md").exists()
    assert main(args) == 0
    assert "0 ok, 0 failed, 0 interrupted, 2 already done" in capsys.readouterr().out


def test_no_dask_import_outside_a_run():
    code = ("import sys, tinydip.cli.main, tinydip.tasks, tinydip.study.engine, "
            "tinydip.study.summary; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


CUT = """
name = "cut"
images = ["sample:hopper@32"]
baseline = false
[[tasks]]
kind = "denoise"
[defaults]
stop = "none"
net = "decoder"
net_options = { k = 8, layers = 4 }
[[settings]]
name = "short"
iters = 5
[[settings]]
name = "long"
iters = 6000
"""


def _study(tmp_path, args, **kw):
    import os

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    from conftest import default_signals

    return subprocess.Popen([sys.executable, "-m", "tinydip", "study", *args], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_signals, **kw)


def test_cut_run_is_not_finished_and_is_redone(tmp_path):
    """A real SIGTERM one second after the first row (the issue's sequence): exit 143, the cut
    run stored as interrupted (never ok), and the next invocation redoes exactly that run."""
    import signal
    import time

    from tinydip.study.store import Store

    (tmp_path / "s.toml").write_text(CUT)
    args = ["s.toml", "--out", "o", "--workers", "0", "--quiet"]
    proc = _study(tmp_path, args)
    log = tmp_path / "o" / "runs.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "tinydip: interrupted (SIGTERM)" in err and "interrupted: " in err
    rows = {r["setting"]: r for r in Store(tmp_path / "o").latest().values()}
    assert rows["short"]["status"] == "ok"
    cut = rows["long"]
    assert cut["status"] == "interrupted" and cut["iters_run"] < 6000
    assert "interrupted (SIGTERM) after" in cut["error"]
    assert Store(tmp_path / "o").finished_keys() == {rows["short"]["key"]}
    assert "Failed or interrupted runs (1" in (tmp_path / "o" / "summary.md").read_text()

    again = _study(tmp_path, args)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "1 ok, 0 failed, 0 interrupted, 1 already done" in out
    latest = Store(tmp_path / "o").latest()
    assert latest[cut["key"]]["status"] == "ok" and latest[cut["key"]]["iters_run"] == 6000


def test_sigint_in_process_stops_the_study_130(tmp_path):
    import signal
    import time

    from tinydip.study.store import Store

    (tmp_path / "s.toml").write_text(CUT.replace('name = "long"', 'name = "long"\nlr = 0.02')
                                     + '[[settings]]\nname = "third"\niters = 5\nlr = 0.03\n')
    proc = _study(tmp_path, ["s.toml", "--out", "o", "--workers", "0", "--quiet"])
    log = tmp_path / "o" / "runs.jsonl"
    deadline = time.monotonic() + 120
    while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    statuses = [r["status"] for r in Store(tmp_path / "o").rows()]
    assert statuses == ["ok", "interrupted"]  # stopped at once: the third run never started


def test_out_naming_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "s.toml").write_text(STUDY)
    (tmp_path / "afile").write_text("x")
    for extra in ([], ["--dry-run"]):
        assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "afile"),
                     "--workers", "0", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is a file, not a folder" in err[0]
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "afile" / "sub"),
                 "--workers", "0"]) == 2
    assert "afile is a file" in capsys.readouterr().err
    assert (tmp_path / "afile").read_text() == "x"


def test_unreachable_scheduler_fails_fast_and_writes_nothing(tmp_path, capsys):
    import time

    (tmp_path / "s.toml").write_text(STUDY)
    t0 = time.monotonic()
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert time.monotonic() - t0 < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tinydip: error: cannot reach the Dask scheduler tcp://127.0.0.1:9: "
                   "Connection refused"]
    assert not (tmp_path / "o").exists()


def test_second_concurrent_run_is_refused(tmp_path, capsys):
    import fcntl
    import os

    (tmp_path / "s.toml").write_text(STUDY)
    out = tmp_path / "o"
    out.mkdir()
    with open(out / ".lock", "w") as held:  # another study holding the folder
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242\n")
        held.flush()
        assert main(["study", str(tmp_path / "s.toml"), "--out", str(out), "--workers",
                     "0", "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "in use by another tinydip study (pid 4242)" in err[0]
        assert not (out / "runs.jsonl").exists()
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(out), "--workers", "0",
                 "--quiet"]) == 0  # released: runs
    assert (out / ".lock").read_text().strip() == str(os.getpid())


def test_plurals_and_failed_lines_on_stderr(tmp_path, capsys):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    one = STUDY.replace('["sample:hopper@32"]', '["bad.png"]').replace(
        "[grid]\nlr = [0.01, 0.02]\n", "")
    (tmp_path / "s.toml").write_text(one)
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                 "--dry-run"]) == 0
    assert "1 image x 1 task x 1 setting x 1 seed = 1 run (" in capsys.readouterr().out
    assert main(["study", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                 "--workers", "0", "--quiet"]) == 1
    cap = capsys.readouterr()
    assert "failed: bad.png" in cap.err and "failed: bad.png" not in cap.out
    assert "study s: 1 run, 0 already finished" in cap.err
