"""Dask worker preload of a study's local cluster (``LocalCluster(preload=[...])``).

The workers ignore SIGINT: a Ctrl-C in the terminal reaches the whole process group, and the
client (which gets it too) shuts the cluster down cleanly, with no worker traceback and no
"leaked semaphore objects" warning from workers killed half-way.
"""

from __future__ import annotations

import signal
import threading


def dask_setup(worker=None) -> None:  # noqa: ARG001 - Dask's preload signature
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
