"""tinydip.tasks.parallel: restarts side by side give the sequential numbers, keep their
results on Ctrl-C / SIGTERM, and pass a member's error on."""

import json
import os
import queue
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest
from conftest import default_signals

from tinydip.degrade.noise import add_noise
from tinydip.fitting.memory import MemoryBudgetError
from tinydip.io.images import sample_image
from tinydip.tasks import denoise
from tinydip.tasks.parallel import MIN_ITERS, Member, side_by_side
from tinydip.tasks.registry import TASKS


@pytest.fixture(scope="module")
def noisy():
    img = sample_image(64)
    return img, add_noise(img, 25, np.random.default_rng(0))


def test_side_by_side_gives_the_sequential_numbers(noisy):
    img, obs = noisy
    one = denoise(obs, truth=img, quality="best", iters=40, workers=1, progress=False)
    two = denoise(obs, truth=img, quality="best", iters=40, workers=2, progress=False)
    for k in ("output", "pilot", "smoothed", "best", "last"):
        np.testing.assert_array_equal(one.images[k], two.images[k])
    assert one.psnr == two.psnr and one.baselines == two.baselines and one.baselines
    strip = [{k: v for k, v in m.items() if k != "seconds"}
             for m in one.extra["ensemble"]["members"]]
    assert strip == [{k: v for k, v in m.items() if k != "seconds"}
                     for m in two.extra["ensemble"]["members"]]
    assert one.fit.iters_run == two.fit.iters_run == 80


def test_how_many_side_by_side():
    t = TASKS["denoise"]
    assert side_by_side(t, 2, 1, 3000) == 1
    assert side_by_side(t, 2, 8, 3000) == 2  # never more than the restarts
    assert side_by_side(t, 2, None, MIN_ITERS - 1) == 1  # short fits: a worker's start costs more
    assert side_by_side(t, 2, None, 3000) == min(2, len(os.sched_getaffinity(0)))
    other = replace(t)  # a task object a worker could not look up by its name
    assert other is not t and side_by_side(other, 2, 2, 3000) == 1


def test_a_member_error_reaches_the_caller(noisy):
    img, obs = noisy
    with pytest.raises(MemoryBudgetError, match="each of the 2 fits side by side gets 1/2"):
        denoise(obs, quality="best", iters=40, workers=2, max_memory=1000, progress=False)


def _events(command):
    events = queue.Queue()
    Member(0, b"", events, command=[sys.executable, "-c", command])
    got = []
    while not got or got[-1][1] != "X":
        got.append(events.get(timeout=60))
    return got


def test_a_worker_that_dies_is_reported_never_waited_for():
    """A torn result (the worker died while writing it) and an exit without any result both
    end in an "X" event, so the parent never waits for a process that is gone."""
    torn = _events("import sys; sys.stdout.buffer.write(b'P 3\\nR 100\\nabc'); sys.exit(3)")
    assert [e[:2] for e in torn] == [(0, "P"), (0, "E"), (0, "X")]
    assert torn[0][2] == 3 and "unreadable" in str(torn[1][2]) and torn[2][2] == 3
    assert [e[1:] for e in _events("pass")] == [("X", 0)]


def _worker_cpu(parent: int) -> list[float]:
    """CPU seconds of each side-by-side worker of ``parent`` (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if b"tinydip.tasks.worker" not in f.read():
                    continue
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if int(fields[1]) == parent:  # ppid; utime + stime in clock ticks
            out.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return out


def _both_fitting(cpu: list[float]) -> bool:
    """Two workers, each past its start (~2-3 CPU seconds) and fitting."""
    return len(cpu) == 2 and min(cpu) >= 4.0


def _start(tmp_path):
    return subprocess.Popen(
        [sys.executable, "-m", "tinydip.cli.entry", "denoise", "--quality", "best", "--size",
         "64", "--iters", "1000000", "--stop", "none", "--out", "o.png", "--report", "r.json"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=default_signals)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="side by side needs 2 cores")
@pytest.mark.parametrize("sig, status, name", [(signal.SIGINT, 130, "SIGINT"),
                                               (signal.SIGTERM, 143, "SIGTERM")])
def test_a_signal_keeps_every_members_best(tmp_path, sig, status, name):
    proc = _start(tmp_path)
    t0 = time.monotonic()
    while "side by side" not in proc.stderr.readline():
        assert time.monotonic() - t0 < 120 and proc.poll() is None, "never started"
    while not _both_fitting(_worker_cpu(proc.pid)):
        assert time.monotonic() - t0 < 300 and proc.poll() is None, "workers never fitted"
        time.sleep(0.5)
    proc.send_signal(sig)  # to the parent alone, as `kill` does
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not stop within 120 s of the signal")
    assert proc.returncode == status, err
    rep = json.loads((tmp_path / "r.json").read_text())
    members = rep["ensemble"]["members"]
    assert rep["interrupted"] is True and f"interrupted ({name})" in out
    assert len(members) == 2 and all(m["iters"] >= 1 for m in members)
    assert (tmp_path / "o.png").exists()
    assert "Traceback" not in err
