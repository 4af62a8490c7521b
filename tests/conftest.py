"""Shared test helpers.

- ``record_error(kind, errors)``: tests that run :func:`tinydip.gradcheck.check_module` /
  ``check_vjp`` log their errors; the worst value per kind is printed as a table at the end of
  the run (only if something was recorded).
- ``numba_one_thread``: run the numba kernels on one thread for the duration of a test.
  Finite differences call the kernels thousands of times on tiny arrays; on shared cores a
  2-thread parallel launch waits for a descheduled worker and costs 30x-1000x more than the
  work itself (observed: a 0.5 s gradient check taking 70 s under load). Kernel tests keep the
  default thread count so the parallel code paths are still exercised.
- ``hang_guard``: a test that waits on other processes (Dask schedulers and workers) fails
  after ``HANG_SECONDS`` with every thread's stack, instead of holding CI until its timeout.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

_WORST: dict[str, tuple[float, str]] = {}
HANG_SECONDS = 300  # these tests take 2-80 s on 2 busy cores


def _record(kind: str, errors, test_id: str) -> float:
    worst = max(errors.values()) if isinstance(errors, dict) else float(errors)
    if worst >= _WORST.get(kind, (-1.0, ""))[0]:
        _WORST[kind] = (worst, test_id)
    return worst


@pytest.fixture
def numba_one_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


@pytest.fixture
def kernel_runs():
    """``kernel_runs(jitted, build) -> (jit, plain, one_thread)``: the array arguments after
    running the jitted kernel, its plain twin (``jitted.py_func``) and the jitted kernel on one
    numba thread, each on fresh arguments from ``build()`` (outputs are written in place)."""
    def run(jitted, build):
        a, b, c = build(), build(), build()
        jitted(*a)
        jitted.py_func(*b)
        before = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            jitted(*c)
        finally:
            numba.set_num_threads(before)
        return [[x for x in args if isinstance(x, np.ndarray)] for args in (a, b, c)]

    return run


@pytest.fixture
def record_error(request):
    """``record_error(kind, errors_dict_or_float) -> worst``: log the worst error of a check."""
    return lambda kind, errors: _record(kind, errors, request.node.name)


def pytest_terminal_summary(terminalreporter):
    if not _WORST:
        return
    tr = terminalreporter
    tr.section("worst gradient-check relative error per layer type")
    tr.write_line(f"{'layer / check':<38} {'worst rel. error':>16}  test")
    for kind in sorted(_WORST):
        err, test_id = _WORST[kind]
        tr.write_line(f"{kind:<38} {err:>16.3e}  {test_id}")


def default_signals() -> None:
    """``preexec_fn`` of a child a test will signal: SIGINT and SIGTERM back to their default
    dispositions. A shell without job control starts background commands (``pytest ... &``,
    a CI runner) with SIGINT ignored; the child would inherit that and Python would then
    never raise KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def hang_guard():
    """SIGALRM after ``HANG_SECONDS``: dump every thread's stack and fail the test (the
    blocking call is interrupted in the main thread; the test's cleanup still runs)."""
    import faulthandler
    import signal
    import sys

    def fire(signum, frame):
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        pytest.fail(f"still waiting after {HANG_SECONDS} s: a hang (the stacks are above)")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
