"""A real Dask LocalCluster (worker processes on loopback) runs tiny studies: every row is
present, a corrupt image is failed rows, a worker killed mid-run does not lose the run, resume
skips finished runs, and 1 worker and 2 workers give identical numbers."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import pytest

from tinydip.io.images import sample_image, save_image
from tinydip.study import cluster as cluster_mod
from tinydip.study.engine import ClusterError, WorkersGone, run_study
from tinydip.study.runner import run_one
from tinydip.study.spec import expand, parse_study
from tinydip.study.store import Store

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.usefixtures("hang_guard")  # they wait on Dask worker processes
import cloudpickle  # noqa: E402  (comes with distributed)

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need not import tests/

TINY = {"defaults": {"iters": 10, "stop": "none"},
        "settings": [{"name": "unet8", "net_options": {"channels": 8, "levels": 3}},
                     {"name": "dd16", "net": "decoder", "net_options": {"k": 16, "layers": 4}}]}


def tiny_study(tmp_path: Path, images: list[str], tasks=None):
    return parse_study({"name": "tiny", "images": images,
                        "tasks": tasks or [{"kind": "denoise", "sigma": 25}], **TINY}, tmp_path)


@pytest.fixture(scope="module")
def client():
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.scheduler.worker-saturation": 1.0}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=":0",
                                           env={"NUMBA_NUM_THREADS": "1"})
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture
def images(tmp_path):
    save_image(tmp_path / "a.png", sample_image(32))
    return ["a.png", "sample:mri@32"]


def _rows(out) -> dict[str, dict]:
    return Store(out).latest()


def test_tiny_study_every_row_and_bad_image(tmp_path, images, client):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    st = tiny_study(tmp_path, images + ["bad.png"])
    res = run_study(st, tmp_path / "out", client=client, progress=False, log=lambda s: None)
    rows = _rows(tmp_path / "out")
    assert set(rows) == {r.key for r in expand(st)} and len(rows) == 6
    assert (res.ok, res.failed) == (4, 2)
    for r in rows.values():
        if r["image"] == "bad.png":
            assert r["status"] == "failed" and "corrupt" in r["error"]
            continue
        assert r["status"] == "ok" and r["error"] == ""
        assert r["psnr"] > 0 and r["baseline_psnr"] > r["psnr_input"] and r["iters_run"] == 10
        d = tmp_path / "out" / "runs" / r["key"]
        assert (d / "output.png").exists() and json.loads((d / "report.json").read_text())
    workers = {r["worker"] for r in rows.values() if r["status"] == "ok"}
    assert len(workers) == 2  # both worker processes ran something
    csv_lines = (tmp_path / "out" / "runs.csv").read_text().splitlines()
    assert len(csv_lines) == 7 and csv_lines[0].startswith("key,study,image")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| denoise-s25 | unet8 | 2 |" in summary and "baseline: haar-ti-hard" in summary
    assert "## Failed or interrupted runs (2; redone on resume)" in summary

    # resume: nothing left to run, no new row
    again = run_study(st, tmp_path / "out", client=client, progress=False, log=lambda s: None)
    assert (again.skipped, again.ok) == (6 - 2, 0) and again.failed == 2  # only bad re-tried
    assert len(Store(tmp_path / "out").rows()) == 8


def _crash_once(marker: str, p):
    """Kill the worker process the first time the run a.png / unet8 starts."""
    if p.image == "a.png" and p.setting_name == "unet8" and not os.path.exists(marker):
        Path(marker).write_text(str(os.getpid()))
        os._exit(1)
    return run_one(p)


def _always_die(p):
    os._exit(1)


def test_worker_killed_mid_run_is_retried(tmp_path, images, client):
    st = tiny_study(tmp_path, images)
    marker = tmp_path / "crashed"
    res = run_study(st, tmp_path / "out", client=client, progress=False, log=lambda s: None,
                    run_fn=functools.partial(_crash_once, str(marker)))
    rows = _rows(tmp_path / "out")
    assert marker.exists()  # a worker really died
    assert len(rows) == 4 and (res.ok, res.failed) == (4, 0)
    retried = [r for r in rows.values() if r["image"] == "a.png" and r["setting"] == "unet8"]
    assert retried[0]["worker"].split(":")[1] != marker.read_text()  # in a new process


def test_worker_that_keeps_dying_gives_a_failed_row(tmp_path, client):
    # one run only: a worker's death counts against every run the scheduler had placed on it
    st = parse_study({"images": ["sample:mri@32"], "tasks": [{"kind": "denoise"}],
                      "defaults": {"iters": 5}}, tmp_path)
    res = run_study(st, tmp_path / "out", client=client, progress=False, log=lambda s: None,
                    run_fn=_always_die)
    (row,) = _rows(tmp_path / "out").values()
    assert (res.ok, res.failed) == (0, 1)
    assert row["status"] == "failed" and "worker died on every attempt" in row["error"]


def test_one_and_two_workers_give_identical_numbers(tmp_path, images, client):
    st = tiny_study(tmp_path, images, tasks=[{"kind": "sr", "factor": 2}])
    run_study(st, tmp_path / "two", scheduler=client.scheduler.address, progress=False,
              log=lambda s: None)  # as --scheduler tcp://HOST:PORT
    logged = []
    run_study(st, tmp_path / "one", workers=1, progress=False, log=logged.append)
    if cluster_mod.has_bokeh():  # the dashboard: a fixed port (8787 or the next free one)
        (line,) = [s for s in logged if s.startswith("dashboard: ")]
        assert line.startswith("dashboard: http://127.0.0.1:87")
    two, one = _rows(tmp_path / "two"), _rows(tmp_path / "one")
    assert len(two) == 4 and set(one) == set(two)
    for k in two:
        assert two[k]["status"] == one[k]["status"] == "ok"
        for col in ("psnr", "psnr_y", "ssim", "oracle_psnr", "baseline_psnr"):
            assert one[k][col] == two[k][col], (k, col)


@pytest.mark.parametrize("probe, says", [
    ("__import__('tinydip_not_here')", "cannot import tinydip (ModuleNotFoundError"),
    ("'0.0.0'", "has tinydip 0.0.0, this client"),
])
def test_a_worker_that_cannot_run_tinydip_is_named(tmp_path, client, monkeypatch, probe, says):
    monkeypatch.setattr(cluster_mod, "_PROBE", probe)
    st = parse_study({"images": ["sample:mri@32"], "tasks": [{"kind": "denoise"}]}, tmp_path)
    with pytest.raises(ClusterError, match="the Dask worker tcp://127.0.0.1:") as exc:
        run_study(st, tmp_path / "out", client=client, progress=False, log=lambda s: None)
    assert says in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists()  # refused before anything is written


class _NoWorkers:
    def nthreads(self):
        return {}


def test_worker_watch_gives_up_after_the_grace():
    import time

    watch = cluster_mod.WorkerWatch(_NoWorkers(), grace=0.2)
    watch.check()  # the first look starts the clock
    time.sleep(0.25)
    with pytest.raises(WorkersGone, match="every Dask worker left"):
        watch.check()


class _ResultGoneWithItsWorker:
    """A future the client saw finish whose worker died before the result was fetched: Dask
    recomputes it when a worker comes, so ``result()`` waits -- forever if none comes."""

    def result(self, timeout=None):
        if timeout is None:
            raise AssertionError("result() without a timeout: this study would hang")
        raise TimeoutError

    def done(self):
        return False


class _RunRaisedTimeout:
    def result(self, timeout=None):
        raise TimeoutError("the run's own error")

    def done(self):
        return True


def test_a_result_lost_with_every_worker_ends_the_study_within_the_grace():
    import time

    from tinydip.study import engine

    t = time.monotonic()
    with pytest.raises(WorkersGone, match="every Dask worker left"):
        engine._result(_ResultGoneWithItsWorker(), cluster_mod.WorkerWatch(_NoWorkers(), 0.2))
    assert time.monotonic() - t < 5
    with pytest.raises(TimeoutError, match="the run's own error"):  # not taken for a wait
        engine._result(_RunRaisedTimeout(), cluster_mod.WorkerWatch(_NoWorkers(), 0.2))


def test_dashboard_port_is_8787_or_the_next_free_one():
    import socket

    port = cluster_mod.free_port()
    assert port >= cluster_mod.DASHBOARD_PORT
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert cluster_mod.free_port(port) == port + 1
