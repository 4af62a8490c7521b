"""tinydip/cli/pipes.py: a closed pipe turns into /dev/null, never an exception."""

from __future__ import annotations

import io
import os
import sys

from tinydip.cli.pipes import ReaderMayLeave, reader_may_leave


class _Closed(io.StringIO):
    """A stream whose reader has left and that has no descriptor (like a test's capture)."""

    def write(self, text):
        raise BrokenPipeError

    def flush(self):
        raise BrokenPipeError

    def fileno(self):
        raise io.UnsupportedOperation("fileno")


def test_closed_stream_without_descriptor_swallows_writes():
    s = ReaderMayLeave(_Closed())
    assert s.write("lost\n") == 5  # as if written
    s.flush()
    assert s.write("after\n") == 6  # now /dev/null: no exception either


def test_closed_pipe_descriptor_now_writes_to_devnull():
    r, w = os.pipe()
    os.close(r)  # the reader left
    stream = os.fdopen(w, "w")
    s = ReaderMayLeave(stream)
    s.write("x" * 100_000)  # more than the buffer: reaches the closed pipe
    s.flush()
    null = os.stat(os.devnull)
    assert os.fstat(stream.fileno()).st_rdev == null.st_rdev  # the descriptor was redirected
    s.write("more\n")
    s.flush()
    stream.close()


def test_streams_restored_and_other_attributes_forwarded():
    before = sys.stdout, sys.stderr
    with reader_may_leave():
        assert isinstance(sys.stdout, ReaderMayLeave) and isinstance(sys.stderr, ReaderMayLeave)
        assert sys.stdout.encoding == before[0].encoding
    assert (sys.stdout, sys.stderr) == before
