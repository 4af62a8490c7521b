"""The Dask side of a study, before and around the runs: connect (fast), start a local cluster
(dashboard on a fixed port), check every worker can run this tinydip, notice lost workers.

Everything here fails with :class:`ClusterError` (one line, the CLI exits 2) *before* the study
writes anything, except :func:`workers_gone`, which ends a study whose workers all left.
Dask is imported lazily, inside the functions.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from urllib.parse import urlsplit

from .. import __version__

MISSING_DASK = ("tinydip study needs Dask distributed: pip install 'tinydip[study]' "
                "(or: pip install 'dask[distributed]'), or run in-process with --workers 0")
CONNECT_TIMEOUT = 3.0  # seconds: a scheduler that does not answer by then is unreachable
WORKER_GRACE = 20.0  # seconds without any worker (none connected, or all lost) -> give up
DASHBOARD_PORT = 8787  # Dask's usual port; the next free one if taken
_QUIET_TRACKER = "ignore:resource_tracker:UserWarning"
_PROBE = "__import__('tinydip').__version__"  # eval'd on each worker: pickles as a builtin


class MissingDask(RuntimeError):
    pass


class ClusterError(RuntimeError):
    """The cluster cannot run this study (unreachable, no worker, a worker without tinydip)."""


def _dask():
    try:
        import dask
        import distributed
    except ImportError:
        raise MissingDask(MISSING_DASK) from None
    return dask, distributed


def configure(retries: int) -> None:
    """Dask settings of this client and of the local cluster it starts."""
    dask, _ = _dask()
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)  # 1.6-2.4x slower fits: see runner._tune_malloc
    # a run is re-run after its worker died until it has been on `retries` dying workers
    dask.config.set({"distributed.scheduler.allowed-failures": max(0, retries - 1),
                     "distributed.scheduler.worker-saturation": 1.0,
                     "distributed.nanny.pre-spawn-environ": environ,
                     "distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT:g}s"})


def connect(address: str, timeout: float = CONNECT_TIMEOUT):
    """A ``distributed.Client`` of the scheduler at ``address``, or :class:`ClusterError`
    within about ``timeout`` seconds (a refused TCP port is reported at once)."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme in ("tcp", "") and parts.hostname and parts.port:
        try:
            socket.create_connection((parts.hostname, parts.port), timeout=timeout).close()
        except OSError as exc:
            raise ClusterError(f"cannot reach the Dask scheduler {address}: "
                               f"{exc.strerror or exc}") from None
    _, distributed = _dask()  # after the probe: importing it takes a second or two
    try:
        return distributed.Client(address, timeout=f"{timeout:g}s")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler {address}: "
                           f"{' '.join(str(exc).split())}") from None


def free_port(start: int = DASHBOARD_PORT, tries: int = 50) -> int:
    """The first port from ``start`` on that nothing listens on (127.0.0.1)."""
    for port in range(start, start + tries):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return 0  # Dask picks any free one


def has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401 - Dask's dashboard needs it
    except ImportError:
        return False
    return True


def start_local(workers: int, threads: int, dashboard: bool):
    """A ``LocalCluster`` on loopback (worker processes of one single-run thread) and its
    client. Its workers ignore Ctrl-C (``worker_setup``): the client stops them cleanly."""
    _, distributed = _dask()
    # multiprocessing's tracker cleans up after workers stopped mid-way; its "leaked semaphore
    # objects" warning at a Ctrl-C is noise (it inherits these options when it starts)
    if _QUIET_TRACKER not in sys.warnoptions:
        sys.warnoptions.append(_QUIET_TRACKER)
    address = f"127.0.0.1:{free_port()}" if dashboard and has_bokeh() else None
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=address, silence_logs=logging.CRITICAL,
        preload=["tinydip.study.worker_setup"],
        env={"NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)})
    return distributed.Client(cluster), cluster


def dashboard_line(client, dashboard: bool) -> str | None:
    """``dashboard: http://...`` (or why there is none); None when turned off."""
    if not dashboard:
        return None
    if not has_bokeh():
        return "dashboard: off (Dask's dashboard needs bokeh: pip install 'tinydip[study]')"
    try:
        link = client.dashboard_link
    except Exception:  # noqa: BLE001 - a scheduler without a dashboard
        link = None
    return f"dashboard: {link}" if link else None


def check_workers(client, where: str, grace: float = WORKER_GRACE) -> None:
    """Wait up to ``grace`` s for a worker, then check that every worker imports the same
    tinydip version as this client; else :class:`ClusterError` naming the worker."""
    if not client.nthreads():
        try:
            client.wait_for_workers(1, timeout=grace)
        except TimeoutError:
            raise ClusterError(f"no Dask worker connected to {where} within {grace:g} s "
                               "(start some: dask worker ADDRESS --nthreads 1)") from None
    answers = client.run(eval, _PROBE, on_error="return")
    for worker, got in sorted(answers.items()):
        if isinstance(got, BaseException):
            text = " ".join(str(got).split())
            raise ClusterError(f"the Dask worker {worker} cannot import tinydip "
                               f"({type(got).__name__}: {text}): install tinydip "
                               f"{__version__} on it")
        if got != __version__:
            raise ClusterError(f"the Dask worker {worker} has tinydip {got}, this client "
                               f"{__version__}: install the same version on every worker")


class WorkersGone(ClusterError):
    """Every worker left mid-study (the CLI exits 1: what finished is kept)."""


class WorkerWatch:
    """Notices that a cluster has had no worker for ``grace`` seconds (all killed or gone;
    a nanny restarting one is quicker than that)."""

    def __init__(self, client, grace: float = WORKER_GRACE) -> None:
        self.client, self.grace, self.since = client, grace, None

    def check(self) -> None:
        try:
            alive = bool(self.client.nthreads())
        except Exception:  # noqa: BLE001 - the scheduler itself is gone
            alive = False
        if alive:
            self.since = None
            return
        now = time.monotonic()
        self.since = self.since or now
        if now - self.since >= self.grace:
            raise WorkersGone(f"every Dask worker left and none came back within "
                               f"{self.grace:g} s: the study stopped (finished runs are "
                               "kept; rerun to resume)")
