"""Signals that stop a run but keep its result: Ctrl-C (SIGINT) and SIGTERM.

Schedulers, ``timeout`` and ``kill`` send SIGTERM. Inside :func:`sigterm_as_interrupt` it
raises :class:`Terminated`, a ``KeyboardInterrupt``, so every loop that already keeps its
best result on Ctrl-C does the same on SIGTERM; :func:`exit_status` gives the shell's
conventional status (130 for SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Terminated", "sigterm_as_interrupt", "exit_status", "describe"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (raised by the handler of :func:`sigterm_as_interrupt`)."""


def _raise_terminated(signum, frame):  # noqa: ARG001 - the signal module's signature
    raise Terminated("SIGTERM")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (main thread only; elsewhere a
    no-op). The previous handler is restored afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_status(exc: BaseException | None) -> int:
    """143 for :class:`Terminated`, 130 for any other ``KeyboardInterrupt``, else 0."""
    if isinstance(exc, Terminated):
        return 143
    return 130 if isinstance(exc, KeyboardInterrupt) else 0


def describe(exc: BaseException) -> str:
    """``"SIGTERM"`` or ``"Ctrl-C"``: which signal stopped the run, for messages."""
    return "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
