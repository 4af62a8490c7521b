"""tinydip.runtime.jit_notice: one line when numba compiles inside the block, nothing otherwise."""

from __future__ import annotations

import numpy as np
from numba import njit

from tinydip.runtime.jit_notice import MESSAGE, compile_notice


def _fresh_kernel():
    """A new function object each call, so numba must really compile it (no cache)."""
    def twice(a):
        return 2 * a

    return njit(twice)


def test_notice_once_when_compiling_and_silent_when_warm():
    lines: list[str] = []
    kernel = _fresh_kernel()
    with compile_notice(lines.append):
        kernel(np.ones(3))
        kernel(np.ones(3, np.float32))  # a second compilation: still one line
    assert lines == [MESSAGE]
    with compile_notice(lines.append):
        kernel(np.ones(3))  # already compiled
    assert lines == [MESSAGE]


def test_no_writer_means_no_listener():
    with compile_notice(None):
        assert _fresh_kernel()(np.ones(2))[0] == 2.0
