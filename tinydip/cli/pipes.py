"""``tinydip ... | head``: when the reader of stdout or stderr leaves, the run goes on.

A fit's files (``--out``, ``--report``, ``--plot``) are written after its summary is printed;
a ``BrokenPipeError`` from that print used to end the run with exit status 0 and none of them
written. :func:`reader_may_leave` wraps both streams for one command: the first write or
flush that finds the pipe closed points the stream's descriptor at ``/dev/null`` (Python's
own advice for SIGPIPE), and everything after it -- the files included -- happens as if
nobody had left.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


class ReaderMayLeave:
    """A text stream that turns a closed pipe into ``/dev/null`` instead of an exception."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._leave()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._leave()

    def _leave(self) -> None:
        """The reader left: the descriptor now writes to /dev/null (so does Python's flush at
        exit); what is still buffered goes there too."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        except (OSError, ValueError):  # no descriptor (a test's capture): drop the text
            self._stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the stream
        finally:
            os.close(devnull)

    def __getattr__(self, name: str):  # encoding, isatty, fileno, ...: the stream's own
        return getattr(self._stream, name)


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """sys.stdout and sys.stderr wrapped in :class:`ReaderMayLeave` inside; restored after."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = ReaderMayLeave(sys.stdout), ReaderMayLeave(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
