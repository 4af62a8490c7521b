"""One member of :func:`~tinydip.tasks.parallel.run_side_by_side`: ``python -m
tinydip.tasks.worker`` reads ``(task name, problem, seed, options)`` pickled on stdin, fits
on one thread, writes ``P it`` progress lines and then ``R n`` / ``E n`` + n bytes (the
pickled result / exception) on stdout. Not imported by the package: only run as a module."""

from __future__ import annotations

import os
import pickle
import sys

from .parallel import PROGRESS_EVERY
from .registry import TASKS


def _worker() -> None:
    """A member's process: read the job on stdin, fit on one thread, write the result."""
    import numba

    from ..fitting.threads import use_threads
    from ..runtime.interrupt import sigterm_as_interrupt
    from .runner import run

    out = os.fdopen(os.dup(1), "wb")  # the protocol's channel; stray prints go to stderr
    os.dup2(2, 1)
    numba.set_num_threads(1)
    use_threads(1)
    name, problem, seed, options = pickle.loads(sys.stdin.buffer.read())
    parent = os.getppid()

    def report(it: int, info: dict) -> None:  # noqa: ARG001 - fit's callback signature
        if os.getppid() != parent:  # orphaned (the parent was killed): nobody to report to
            os._exit(1)
        out.write(b"P %d\n" % it)
        out.flush()

    try:
        with sigterm_as_interrupt():  # SIGTERM from the parent: the fit keeps its best
            res, kind = run(TASKS[name], problem, seed=seed, callback=report,
                            callback_every=PROGRESS_EVERY, **{**options, "progress": False}), b"R"
    except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the parent
        res, kind = exc, b"E"
    data = pickle.dumps(res)
    out.write(b"%s %d\n" % (kind, len(data)) + data)
    out.flush()


if __name__ == "__main__":
    _worker()
