"""End to end against a real Dask deployment: a ``dask scheduler`` and ``dask worker``
processes started here on 127.0.0.1 (free ports), as a user would on several machines. A
worker killed mid-study loses no run and duplicates none; a worker that cannot import tinydip
is named before anything is written; a study whose workers all die ends with one line.
Every process started is stopped by its PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tinydip.study.cluster import ClusterError, WorkersGone, WorkerWatch
from tinydip.study.engine import _result, run_study
from tinydip.study.spec import expand, parse_study
from tinydip.study.store import Store

distributed = pytest.importorskip("distributed")
DASK = shutil.which("dask")
pytestmark = [pytest.mark.skipif(DASK is None, reason="the dask command is not installed"),
              pytest.mark.usefixtures("hang_guard")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dask_deployment(tmp_path: Path, workers: list[list[str]]):
    """A scheduler and one worker process per entry of ``workers`` (its extra arguments);
    yields (address, worker Popens); stops all of them, by PID, whatever happens."""
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3",
           "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    procs: list[subprocess.Popen] = []
    logs = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed in finally
    try:
        port = _free_port()
        procs.append(subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                       str(port), "--no-dashboard"], env=env,
                                      stdout=logs, stderr=logs))
        address = f"tcp://127.0.0.1:{port}"
        for i, extra in enumerate(workers):
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--no-nanny", "--nthreads", "1", "--host",
                 "127.0.0.1", "--no-dashboard", "--name", f"w{i}", *extra],
                env=env, stdout=logs, stderr=logs))
        with distributed.Client(address, timeout="30s") as c:
            c.wait_for_workers(len(workers), timeout=60)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        logs.close()


def _study(tmp_path, iters: int, images=("sample:hopper@32", "sample:mri@32")):
    return parse_study({"name": "e2e", "images": list(images), "seeds": [0, 1],
                        "baseline": False, "tasks": [{"kind": "denoise"}],
                        "defaults": {"iters": iters, "stop": "none", "net": "decoder",
                                     "net_options": {"k": 8, "layers": 4}}}, tmp_path)


def _after_first_row(out: Path, action) -> threading.Thread:
    def watch():
        log = out / "runs.jsonl"
        deadline = time.monotonic() + 120
        while not (log.exists() and log.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        action(Store(out).rows()[0])

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def test_a_worker_killed_mid_study_every_row_once(tmp_path):
    st = _study(tmp_path, iters=800)
    out = tmp_path / "out"
    with dask_deployment(tmp_path, [[], []]) as (address, workers):
        killed = []

        def kill_the_busy_one(first):  # the worker that has not returned yet is mid-run
            pid = int(first["worker"].split(":")[1])
            (victim,) = [w for w in workers if w.pid != pid]
            victim.kill()
            killed.append(victim)

        watcher = _after_first_row(out, kill_the_busy_one)
        res = run_study(st, out, scheduler=address, progress=False, log=lambda s: None)
        watcher.join(timeout=5)
        assert killed and killed[0].wait(timeout=10) == -signal.SIGKILL
    keys = [r["key"] for r in Store(out).rows()]
    assert sorted(keys) == sorted(r.key for r in expand(st))  # every run, exactly once
    assert (res.ok, res.failed, res.interrupted) == (4, 0, 0)


def test_a_worker_without_tinydip_is_named_before_anything_is_written(tmp_path):
    hide = tmp_path / "hide_tinydip.py"
    hide.write_text("import sys\nsys.modules['tinydip'] = None  # as if not installed\n")
    with dask_deployment(tmp_path, [[], ["--preload", str(hide)]]) as (address, _):
        with pytest.raises(ClusterError, match="cannot import tinydip") as exc:
            run_study(_study(tmp_path, 5), tmp_path / "out", scheduler=address,
                      progress=False, log=lambda s: None)
    assert "the Dask worker tcp://127.0.0.1:" in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_all_workers_killed_one_line_within_the_grace(tmp_path):
    out = tmp_path / "out"
    with dask_deployment(tmp_path, [[], []]) as (address, workers):
        when = []

        def kill_all(_first):
            for w in workers:
                w.kill()
            when.append(time.monotonic())

        _after_first_row(out, kill_all)
        with pytest.raises(WorkersGone, match="every Dask worker left") as exc:
            run_study(_study(tmp_path, 1500), out, scheduler=address, progress=False,
                      log=lambda s: None, worker_grace=3)
        assert time.monotonic() - when[0] < 3 + 10
    assert "\n" not in str(exc.value)
    assert len(Store(out).rows()) >= 1  # what finished is kept


def test_a_result_lost_with_its_worker_ends_within_the_grace(tmp_path):
    """The race CI met: the client saw a run finish, its worker died before the result was
    fetched; Dask then waits for a worker to recompute it, so a plain ``result()`` never
    returns. ``_result`` gives up with the workers."""
    with dask_deployment(tmp_path, [[]]) as (address, (worker,)):
        with distributed.Client(address, timeout="30s") as c:
            fut = c.submit(sum, [1, 2], pure=False)
            distributed.wait(fut, timeout=60)
            assert fut.status == "finished"
            worker.kill()
            worker.wait(timeout=10)
            t = time.monotonic()
            with pytest.raises(WorkersGone, match="every Dask worker left"):
                _result(fut, WorkerWatch(c, grace=2))
            assert time.monotonic() - t < 2 + 10
