"""A one-line notice while numba compiles tinydip's kernels.

The first run after installing (or changing) tinydip compiles its kernels: ~15-20 s on 2
cores, during which the first iteration looks stuck. Later runs load them from numba's
on-disk cache (``cache=True``) in well under a second and print nothing. numba reports every
real compilation (never a cache load) as a ``"numba:compile"`` event; we listen for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from numba.core import event

MESSAGE = "tinydip: compiling numba kernels for first use (once, then cached; ~20 s)..."


class _Notice(event.Listener):
    def __init__(self, write: Callable[[str], object]):
        self.write, self.shown = write, False

    def on_start(self, ev) -> None:
        if not self.shown:
            self.shown = True
            self.write(MESSAGE)

    def on_end(self, ev) -> None:
        pass


@contextmanager
def compile_notice(write: Callable[[str], object] | None) -> Iterator[None]:
    """Call ``write(MESSAGE)`` once if numba compiles anything inside the block.

    ``write=None`` does nothing (quiet runs).
    """
    if write is None:
        yield
        return
    with event.install_listener("numba:compile", _Notice(write)):
        yield
