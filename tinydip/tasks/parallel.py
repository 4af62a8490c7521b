"""Restarts side by side: the fits that ``--quality best`` averages, one worker process each.

Why: one small fit uses two cores poorly. A width-32 U-Net step at 128x128 took 45.7 ms on
both cores and 55 ms on one, and two one-core fits running together 56 ms each (2026-12-04,
quiet machine; benchmarks/README.md, "Restarts side by side"): two restarts side by side take
~0.6x the time of one after the other. Each member runs on one thread, so its numbers are the
very numbers it gives alone (the thread count never changes a fit: fitting/threads.py), and
the average is bit-identical to the sequential one (tests/test_tasks_parallel.py).

How: each member is a fresh ``python -m tinydip.tasks.worker`` (not ``multiprocessing``:
forking is unsafe once OpenMP runs, and spawning re-runs the caller's script, which breaks
any script without a ``__main__`` guard). It reads the problem without its baselines
(closures; the caller scores them once) pickled on stdin, runs
:func:`~tinydip.tasks.runner.run` for one seed on one thread, reports its progress on stdout
(``P it`` lines) and ends with its pickled result (``R n`` + n bytes; ``E n`` + n bytes: an
exception). The parent draws one bar for all.

Nothing is lost: the workers run in their own session, so Ctrl-C reaches the parent only;
on Ctrl-C or SIGTERM (under :func:`~tinydip.runtime.interrupt.sigterm_as_interrupt`) it sends
each worker SIGTERM, and each keeps its best so far, as a fit alone does. A worker whose
parent is gone stops at its next progress report. Nothing is lost: Ctrl-C reaches every worker (one
process group) and each keeps its best so far, as a fit alone does; SIGTERM to the parent
(under :func:`~tinydip.runtime.interrupt.sigterm_as_interrupt`) is passed on to the workers.
The memory budget is split between the members.
"""

from __future__ import annotations

import os
import pickle
import queue as queue_mod
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from ..fitting.memory import MemoryBudgetError, default_budget, format_bytes
from ..runtime.interrupt import Terminated, describe
from .registry import TASKS, Problem, Task
from .result import TaskResult

PROGRESS_EVERY = 10  # iterations between a worker's progress reports


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


MIN_ITERS = 300  # workers=None: side by side from this iteration budget on (a worker's
# start -- interpreter, imports, numba's cache, the memory probe -- takes 2-3 s)


def side_by_side(task: Task, restarts: int, workers: int | None, iters: int) -> int:
    """How many members to run at once: ``workers``, at most ``restarts``; None: one per
    usable core if the budget is at least ``MIN_ITERS`` iterations, else 1 (one after the
    other). Always 1 for a task a worker cannot look up by name (registered at run time)."""
    if TASKS.get(task.name) is not task:
        return 1
    if workers is None:
        workers = usable_cores() if iters >= MIN_ITERS else 1
    return max(1, min(workers, restarts))


class Member:
    """One worker process fitting one seed; a thread turns its stdout into events on
    ``events``: ``(seed, "P", it)``, then ``(seed, "R", result)`` or ``(seed, "E", exc)``."""

    COMMAND = [sys.executable, "-m", "tinydip.tasks.worker"]

    def __init__(self, seed: int, job: bytes, events: queue_mod.Queue,
                 command: list[str] | None = None) -> None:
        here = str(Path(__file__).resolve().parents[2])  # this tinydip, installed or not
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "NUMBA_NUM_THREADS": "1", "PYTHONPATH": path}
        self.seed, self.events = seed, events
        self.proc = subprocess.Popen(command or self.COMMAND,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     start_new_session=True)  # Ctrl-C: the parent decides
        self.proc.stdin.write(job)
        self.proc.stdin.close()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        try:
            while line := out.readline():
                kind, value = line.split()
                if kind == b"P":
                    self.events.put((self.seed, "P", int(value)))
                else:  # R / E: a pickled result or exception of that many bytes
                    data = pickle.loads(out.read(int(value)))
                    self.events.put((self.seed, kind.decode(), data))
                    break
        except Exception as exc:  # noqa: BLE001 - a torn message: the worker died writing it
            self.events.put((self.seed, "E", RuntimeError(
                f"the fit of seed {self.seed} sent an unreadable result ({exc})")))
        finally:  # always said, so the parent never waits for a process that is gone
            out.close()
            self.proc.wait()
            self.events.put((self.seed, "X", self.proc.returncode))

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)


def run_side_by_side(task: Task, problem: Problem, seeds: list[int], workers: int, *,
                     max_memory: int | None, bar_iters: int,
                     log: Callable[[str], None] | None, **options
                     ) -> tuple[list[TaskResult], KeyboardInterrupt | None]:
    """One member per seed, ``workers`` at a time: their results in seed order (a member
    that Ctrl-C/SIGTERM stopped returns what it kept, like a fit alone) and the interrupt
    that reached this process, if any. A member stopped before its fit began is left out;
    if that leaves none, the interrupt is raised."""
    member = replace(problem, baselines={}, restarts=1)
    budget = (max_memory if max_memory is not None else default_budget()) // workers
    opts = {**options, "max_memory": budget}
    if log is not None:
        log(f"{task.name}: {len(seeds)} fits side by side (seeds {', '.join(map(str, seeds))}; "
            f"{workers} processes, one core each); the output is their average")
    bar = tqdm(total=bar_iters * len(seeds), disable=log is None, unit="it", leave=False,
               dynamic_ncols=True)
    events: queue_mod.Queue = queue_mod.Queue()
    waiting, running, outcome = list(seeds), {}, {}
    done, interrupt = dict.fromkeys(seeds, 0), None
    try:
        while waiting or running:
            while waiting and len(running) < workers and interrupt is None:
                s = waiting.pop(0)
                running[s] = Member(s, pickle.dumps((task.name, member, s, opts)), events)
            try:
                seed, kind, value = events.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: each member keeps its best
                if interrupt is not None:  # a second one: stop waiting
                    raise
                interrupt, waiting = exc, []
                for m in running.values():
                    m.terminate()
                continue
            if kind == "P":
                bar.update(value + 1 - done[seed])
                done[seed] = value + 1
            elif kind in ("R", "E"):
                outcome[seed] = (kind, value)
            else:  # "X": the process ended
                running.pop(seed)
                outcome.setdefault(seed, ("E", interrupt or RuntimeError(
                    f"{task.name}: the fit of seed {seed} ended without a result "
                    f"(exit status {value})")))
    finally:
        bar.close()
        for m in running.values():
            m.terminate()
    members = []
    for s in seeds:
        kind, value = outcome.get(s, ("E", interrupt))
        if kind == "R":
            members.append(value)
        elif isinstance(value, KeyboardInterrupt):
            interrupt = interrupt or value
        elif isinstance(value, MemoryBudgetError):  # say where the member's budget came from
            raise MemoryBudgetError(f"{value} (each of the {workers} fits side by side gets "
                                    f"1/{workers} of {format_bytes(budget * workers)})")
        else:
            raise value
    if not members:
        raise interrupt
    if interrupt is not None:  # the members saw SIGTERM from here: name the user's signal
        by = "SIGTERM" if isinstance(interrupt, Terminated) else "SIGINT"
        reason = f"interrupted ({describe(interrupt)})"
        members = [replace(m, fit=replace(m.fit, interrupted_by=by, stop_reason=reason))
                   if m.fit.interrupted else m for m in members]
    return members, interrupt
