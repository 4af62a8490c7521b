"""Run a study's runs on Dask distributed (or in this process) and store every row.

* Default: a ``LocalCluster`` on loopback, worker *processes* (one run at a time each, since
  every run is single-threaded by default: ``threads``), as many as this process may use cores.
* ``scheduler="tcp://HOST:PORT"``: an existing Dask scheduler and its workers (which need
  tinydip installed, same version). Images travel with the runs as pixel arrays and results
  come back to this client, which writes every file: no shared filesystem.
* ``workers=0``: no Dask, the runs one after another in this process.

A worker that dies mid-run (killed, OOM-killed by the nanny, segfault) is restarted by its
nanny and the scheduler re-runs the task, up to ``retries`` times in all (distributed's
``allowed-failures``; on an external scheduler that is the scheduler's own config, e.g.
``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES``). Then the run is recorded as failed with
the reason. Runs are submitted one per worker thread at a time: normally no run waits in a
worker's queue (where that worker's death would count against it too), and the pixels of a
large study are not all in flight at once.

Dask is imported here only, lazily: the library and the other commands never need it.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .runner import Outcome, Payload, Row, run_one
from .spec import RunSpec, Study, expand
from .store import Store, dumps, write_atomic
from .summary import write_summary

MISSING_DASK = ("tinydip study needs Dask distributed: pip install 'tinydip[study]' "
                "(or: pip install 'dask[distributed]'), or run in-process with --workers 0")


class MissingDask(RuntimeError):
    pass


@dataclass
class StudyRun:
    """What :func:`run_study` did."""

    total: int
    skipped: int
    ok: int = 0
    failed: int = 0
    out: Path | None = None


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _payloads(study: Study, runs: list[RunSpec]) -> Iterator[tuple[RunSpec, Payload]]:
    """Payloads in run order; each image is decoded once (an unreadable one gives payloads
    carrying the error, which become failed rows)."""
    cache: dict[str, tuple] = {}
    for r in runs:
        if r.image.name not in cache:
            try:
                cache.clear()  # runs are image-major within a seed: keep one image decoded
                cache[r.image.name] = (r.image.load(study.resize), "")
            except (ValueError, OSError) as exc:
                cache[r.image.name] = (None, f"cannot read image: {exc}")
        pixels, err = cache[r.image.name]
        yield r, Payload(r.key, study.name, r.image.name, r.image.content_hash, pixels, r.task,
                         r.setting.name, dict(r.setting.options), r.seed, study.threads,
                         study.baseline, err)


def _failed(p: Payload, error: str) -> Outcome:
    """A failed row made on the client (the worker never returned)."""
    from datetime import datetime, timezone

    row = Row(p.key, p.study, p.image, p.image_hash, p.task.name, p.task.kind,
              dict(p.task.params), p.setting_name, dict(p.setting), p.seed, status="failed",
              error=error, threads=p.threads, max_iters=p.setting.get("iters"),
              finished=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return Outcome(row, report={"row": row.to_dict(), "error": error})


def _start_dask(workers: int | None, scheduler: str | None, threads: int, retries: int):
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise MissingDask(MISSING_DASK) from None
    # a run is re-run after its worker died until it has been on `retries` dying workers
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # 1.6-2.4x slower fits: see runner._tune_malloc
    dask.config.set({"distributed.scheduler.allowed-failures": max(0, retries - 1),
                     "distributed.scheduler.worker-saturation": 1.0,
                     "distributed.nanny.pre-spawn-environ": environ})
    if scheduler:
        client = Client(scheduler, timeout="20s")
        threads = sum(client.nthreads().values())
        where = f"the Dask scheduler {scheduler} ({len(client.nthreads())} workers, " \
            f"{threads} threads)"
        if not threads:
            where += "; no worker connected yet, runs wait for one"
        return client, None, where
    n = workers or default_workers()
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=":0",  # loopback, any free port
                           silence_logs=logging.CRITICAL,
                           env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)})
    client = Client(cluster)
    return client, cluster, f"a local Dask cluster ({n} worker process{'es' * (n > 1)} x " \
        f"1 run, {threads} thread{'s' * (threads > 1)} per run, loopback)"


def _killed_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (f"its worker died on every attempt (killed, out of memory or crashed): "
            f"{type(exc).__name__}: {text}")


def run_study(study: Study, out: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, retries: int = 3, progress: bool = True,
              run_fn: Callable[[Payload], Outcome] = run_one, client=None,
              log: Callable[[str], None] | None = None) -> StudyRun:
    """Run every run of ``study`` not yet finished in ``out``; rows are written as they come.

    ``workers``: local worker processes (default: the cores), 0 = in this process without
    Dask; ``scheduler``: address of an existing Dask scheduler (``workers`` is then ignored);
    ``retries``: attempts per run when its worker dies; ``client``: an existing
    ``distributed.Client`` to use (not closed; its scheduler's config decides the retries).
    """
    from tqdm.auto import tqdm

    log = log or (lambda s: print(s, file=sys.stderr))
    store = Store(out)
    runs = expand(study)
    done = store.finished_keys()
    todo = [r for r in runs if r.key not in done]
    result = StudyRun(total=len(runs), skipped=len(runs) - len(todo), out=store.dir)
    write_atomic(store.dir / "study.json", dumps(
        {"name": study.name, "images": [i.name for i in study.images],
         "tasks": [{"name": t.name, **t.identity()} for t in study.tasks],
         "settings": [{"name": s.name, **s.options} for s in study.settings],
         "seeds": study.seeds, "resize": study.resize, "threads": study.threads,
         "runs": [{"key": r.key, "image": r.image.name, "task": r.task.name,
                   "setting": r.setting.name, "seed": r.seed} for r in runs]}, indent=1))
    if not todo:
        log(f"study {study.name}: all {len(runs)} runs already finished in {store.dir}")
        write_summary(store, study)
        return result
    cluster, own_client = None, client is None
    if client is not None:
        where = f"the Dask cluster of {client.scheduler.address}"
    elif workers == 0 and not scheduler:
        where = "this process, one run after another"
    else:
        client, cluster, where = _start_dask(workers, scheduler, study.threads, retries)
    log(f"study {study.name}: {len(runs)} runs, {result.skipped} already finished, "
        f"{len(todo)} to run on {where}")
    bar = tqdm(total=len(todo), unit="run", desc="study", disable=not progress,
               dynamic_ncols=True)

    def record(outcome: Outcome) -> None:
        row = store.append(outcome)
        if row["status"] == "ok":
            result.ok += 1
        else:
            result.failed += 1
            bar.write(f"failed: {row['image']} | {row['task']} | {row['setting']} | seed "
                      f"{row['seed']}: {row['error']}")
        bar.set_postfix(ok=result.ok, failed=result.failed, refresh=False)
        bar.update(1)

    try:
        payloads = _payloads(study, todo)
        if client is None:
            for _, p in payloads:
                record(run_fn(p))
        else:
            _run_dask(client, payloads, run_fn, retries, record)
    finally:
        bar.close()
        if client is not None and own_client:
            client.close()
        if cluster is not None:
            cluster.close()
        write_summary(store, study)
    log(f"study {study.name}: {result.ok} ok, {result.failed} failed, {result.skipped} "
        f"skipped; results in {store.dir}")
    return result


def _run_dask(client, payloads: Iterator[tuple[RunSpec, Payload]], run_fn, retries: int,
              record: Callable[[Outcome], None]) -> None:
    from distributed import as_completed

    try:
        from distributed import KilledWorker
    except ImportError:  # pragma: no cover - older distributed
        from distributed.scheduler import KilledWorker

    pending: dict = {}
    ac = as_completed()

    def window() -> int:
        # one run per worker thread in flight: normally no run waits in a worker's queue,
        # where a death of that worker would count against it too (Dask's own queuing,
        # worker-saturation, does not apply to a handful of tasks). Runs the scheduler
        # re-places after a death can still queue up: hence several attempts by default.
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - scheduler busy: one at a time
            return 1

    def submit_more() -> None:
        limit = window()
        while len(pending) < limit:
            item = next(payloads, None)
            if item is None:
                return
            _, p = item
            if p.pixels is None:  # unreadable image: a failed row, no worker needed
                record(run_fn(p))
                continue
            # a fresh Dask key per submission: a rerun never meets the old task's state
            fut = client.submit(run_fn, p, key=f"tinydip-run-{p.key}-{uuid.uuid4().hex[:8]}",
                                pure=False, retries=retries - 1)
            pending[fut.key] = p
            ac.add(fut)

    submit_more()
    for fut in ac:
        p = pending.pop(fut.key)
        try:
            outcome = fut.result()
        except KilledWorker as exc:
            outcome = _failed(p, _killed_message(exc))
        except Exception as exc:  # noqa: BLE001 - anything else Dask reports: a failed row
            outcome = _failed(p, f"{type(exc).__name__}: {' '.join(str(exc).split())}")
        fut.release()
        record(outcome)
        submit_more()
