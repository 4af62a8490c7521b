"""Run a study's runs on Dask distributed (or in this process) and store every row.

* Default: a ``LocalCluster`` on loopback, worker *processes* (one run at a time each, since
  every run is single-threaded by default: ``threads``), as many as this process may use cores;
  its dashboard on port 8787 (or the next free one), the link printed.
* ``scheduler="tcp://HOST:PORT"``: an existing Dask scheduler and its workers (which need
  tinydip installed, same version: checked before any run). Images travel with the runs as
  pixel arrays and results come back to this client, which writes every file: no shared
  filesystem.
* ``workers=0``: no Dask, the runs one after another in this process; a Ctrl-C or SIGTERM
  records the cut run as ``interrupted`` and stops the study (the signal is raised again).

Before anything is written: ``out`` must be a folder or creatable, the scheduler reachable
(``cluster.connect``: a few seconds), and ``OUT/.lock`` free (another study running there is
refused). A worker that dies mid-run (killed, OOM-killed by the nanny, segfault) is restarted
by its nanny and the scheduler re-runs the task, up to ``retries`` times in all (distributed's
``allowed-failures``; on an external scheduler that is the scheduler's own config, e.g.
``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES``). Then the run is recorded as failed with
the reason. If every worker is gone for ``worker_grace`` seconds the study stops
(``WorkersGone``). Runs are submitted one per worker thread at a time: normally no run waits
in a worker's queue (where that worker's death would count against it too), and the pixels of
a large study are not all in flight at once.

Dask is imported in ``cluster.py`` only, lazily: the library and the other commands never
need it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..runtime.interrupt import Terminated
from . import cluster as dk
from .cluster import MISSING_DASK, ClusterError, MissingDask, WorkersGone  # noqa: F401
from .runner import Outcome, Payload, Row, run_one
from .spec import RunSpec, Study, expand
from .store import Store, dumps, write_atomic
from .summary import write_summary
from .table import write_results

POLL_SECONDS = 1.0  # how often a study with runs in flight looks for its workers


@dataclass
class StudyRun:
    """What :func:`run_study` did."""

    total: int
    skipped: int
    ok: int = 0
    failed: int = 0
    interrupted: int = 0
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


def _plural(n: int, word: str, suffix: str = "s") -> str:
    return f"{n} {word}{suffix if n != 1 else ''}"


def _start_dask(workers: int | None, threads: int, dashboard: bool):
    n = workers or default_workers()
    client, cluster = dk.start_local(n, threads, dashboard)
    return client, cluster, f"a local Dask cluster ({_plural(n, 'worker process', 'es')} x " \
        f"1 run, {_plural(threads, 'thread')} per run, loopback)"


def _study_json(study: Study, runs: list[RunSpec]) -> str:
    return dumps({"name": study.name, "images": [i.name for i in study.images],
                  "tasks": [{"name": t.name, **t.identity()} for t in study.tasks],
                  "settings": [{"name": s.name, **s.options} for s in study.settings],
                  "seeds": study.seeds, "resize": study.resize, "threads": study.threads,
                  "runs": [{"key": r.key, "image": r.image.name, "task": r.task.name,
                            "setting": r.setting.name, "seed": r.seed} for r in runs]},
                 indent=1)


def _killed_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (f"its worker died on every attempt (killed, out of memory or crashed): "
            f"{type(exc).__name__}: {text}")


def run_study(study: Study, out: str | Path, *, workers: int | None = None,
              scheduler: str | None = None, retries: int = 3, progress: bool = True,
              run_fn: Callable[[Payload], Outcome] = run_one, client=None,
              log: Callable[[str], None] | None = None, dashboard: bool = True,
              worker_grace: float = dk.WORKER_GRACE) -> StudyRun:
    """Run every run of ``study`` not yet finished in ``out``; rows are written as they come.

    ``workers``: local worker processes (default: the cores), 0 = in this process without
    Dask; ``scheduler``: address of an existing Dask scheduler (``workers`` is then ignored);
    ``retries``: attempts per run when its worker dies; ``client``: an existing
    ``distributed.Client`` to use (not closed; its scheduler's config decides the retries);
    ``dashboard``: the local cluster's dashboard (port 8787 or the next free one);
    ``worker_grace``: seconds without any worker before the study gives up.
    Raises ``ValueError`` (``out`` is a file; ``store.Locked``: another study runs there),
    :class:`ClusterError` (unreachable scheduler, a worker without this tinydip: nothing
    written), :class:`WorkersGone`, and re-raises a Ctrl-C/SIGTERM that cut an in-process run.
    """
    log = log or (lambda s: print(s, file=sys.stderr))
    store = Store(out)  # ValueError if --out is a file; nothing created yet
    runs = expand(study)
    own, cluster, where = client is None, None, "this process, one run after another"
    if client is None and scheduler:
        dk.configure(retries)
        client = dk.connect(scheduler)  # before anything is written
    try:
        if client is not None:  # every worker runs this tinydip, before anything is written
            where = _check(client, scheduler or client.scheduler.address, worker_grace)
        with store.lock():
            done = store.finished_keys()
            todo = [r for r in runs if r.key not in done]
            result = StudyRun(total=len(runs), skipped=len(runs) - len(todo), out=store.dir)
            write_atomic(store.dir / "study.json", _study_json(study, runs))
            if not todo:
                log(f"study {study.name}: all {_plural(len(runs), 'run')} already finished "
                    f"in {store.dir}")
                _finish(store, study)
                return result
            if client is None and workers != 0:
                dk.configure(retries)
                client, cluster, where = _start_dask(workers, study.threads, dashboard)
            log(f"study {study.name}: {_plural(len(runs), 'run')}, {result.skipped} already "
                f"finished, {len(todo)} to run on {where}")
            board = dk.dashboard_line(client, dashboard and cluster is not None) \
                if client is not None else None
            if board:
                log(board)
            _execute(store, study, todo, result, client, run_fn, retries, progress,
                     worker_grace)
    finally:
        if client is not None and own:
            client.close()
        if cluster is not None:
            cluster.close()
    log(f"study {study.name}: {result.ok} ok, {result.failed} failed, "
        f"{result.interrupted} interrupted, {result.skipped} skipped; results in {store.dir}")
    return result


def _check(client, address: str, grace: float) -> str:
    dk.check_workers(client, address, grace)
    n = client.nthreads()
    return f"the Dask scheduler {address} ({_plural(len(n), 'worker')}, " \
        f"{_plural(sum(n.values()), 'thread')})"


def _finish(store: Store, study: Study) -> None:
    write_summary(store, study)
    write_results(store.dir)


def _interrupt(by: str) -> KeyboardInterrupt:
    """The signal that cut an in-process run, raised again to stop the study."""
    return Terminated("SIGTERM") if by == "SIGTERM" else KeyboardInterrupt()


def _execute(store: Store, study: Study, todo: list[RunSpec], result: StudyRun, client,
             run_fn, retries: int, progress: bool, worker_grace: float) -> None:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), unit="run", desc="study", disable=not progress,
               dynamic_ncols=True, file=sys.stderr)

    def record(outcome: Outcome) -> None:
        row = store.append(outcome)
        if row["status"] == "ok":
            result.ok += 1
        else:
            if row["status"] == "interrupted":
                result.interrupted += 1
            else:
                result.failed += 1
            bar.write(f"{row['status']}: {row['image']} | {row['task']} | {row['setting']} | "
                      f"seed {row['seed']}: {row['error']}", file=sys.stderr)
        bar.set_postfix(ok=result.ok, failed=result.failed, refresh=False)
        bar.update(1)

    try:
        payloads = _payloads(study, todo)
        if client is None:
            for _, p in payloads:
                outcome = run_fn(p)
                record(outcome)
                if outcome.interrupted_by:  # stop here: the signal was for the study
                    raise _interrupt(outcome.interrupted_by)
        else:
            _run_dask(client, payloads, run_fn, retries, record,
                      dk.WorkerWatch(client, worker_grace))
    finally:
        bar.close()
        _finish(store, study)


def _killed_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (f"its worker died on every attempt (killed, out of memory or crashed): "
            f"{type(exc).__name__}: {text}")


def _result(fut, watch: dk.WorkerWatch):
    """``fut.result()``, but never forever: a finished run whose worker dies before its result
    is fetched goes back to the scheduler to be recomputed, which waits for a worker -- the
    study waits too, while ``watch`` sees workers (else :class:`WorkersGone`)."""
    while True:
        try:
            return fut.result(timeout=POLL_SECONDS)
        except TimeoutError:
            if fut.done():  # the run itself raised a TimeoutError: that is its result
                raise
            watch.check()


def _run_dask(client, payloads: Iterator[tuple[RunSpec, Payload]], run_fn, retries: int,
              record: Callable[[Outcome], None], watch: dk.WorkerWatch) -> None:
    from distributed import wait

    try:
        from distributed import KilledWorker
    except ImportError:  # pragma: no cover - older distributed
        from distributed.scheduler import KilledWorker

    pending: dict = {}  # future -> payload

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
            pending[fut] = p

    submit_more()
    while pending:
        try:
            done, _ = wait(list(pending), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
        except TimeoutError:
            done = ()
        if not done:  # nothing finished for a while: are there workers at all?
            watch.check()
            continue
        watch.since = None
        for fut in done:
            p = pending.pop(fut)
            try:
                outcome = _result(fut, watch)
            except KilledWorker as exc:
                outcome = _failed(p, _killed_message(exc))
            except Exception as exc:  # noqa: BLE001 - anything else Dask reports: a failed row
                outcome = _failed(p, f"{type(exc).__name__}: {' '.join(str(exc).split())}")
            fut.release()
            record(outcome)
        submit_more()
