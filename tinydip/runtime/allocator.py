"""Let glibc's malloc keep freed activation buffers for the next step instead of returning
them to the kernel.

Why: a fitting step allocates and frees the same few dozen arrays of 0.1-5 MB every
iteration (layer outputs, gradients). glibc serves blocks above its mmap threshold (128 kB at
start, raised dynamically up to 32 MB as such blocks are freed) with fresh ``mmap`` pages and
returns freed memory at the top of the heap above ``M_TRIM_THRESHOLD``; either way the next
step writes into pages the kernel has to fault in and zero again -- ~0.5 ms per 2 MB here
(in a VM, faults are dear). Measured on the width-32 U-Net at 128x128: the 1x1 convolution
(32 -> 32) 0.73 ms in the network vs 0.45 ms on a reused output; a whole step ~7% faster
(benchmarks/README.md, "Page faults").

:func:`keep_freed_memory` (called once by :func:`tinydip.fitting.step.fit_step`) fixes the
mmap threshold at :data:`MMAP_THRESHOLD` and the trim threshold at :data:`TRIM_THRESHOLD`:
blocks below 64 MB come from the heap and stay mapped once freed, so the process keeps its
peak heap mapped (its peak resident memory is unchanged; it just does not shrink after a
step). Larger blocks still use mmap. A no-op off glibc, and when the user set any of glibc's
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_TOP_PAD_`` or
``TINYDIP_KEEP_FREED_MEMORY=0`` (their choice wins). Tier: bottom (process-level).
"""

from __future__ import annotations

import ctypes
import os

MMAP_THRESHOLD = 64 * 2**20  # bytes: blocks smaller than this come from the heap
TRIM_THRESHOLD = 1024 * 2**20  # bytes of free heap top kept mapped
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc malloc.h)
_USER_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
_state = {"done": False, "applied": False}


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; True if they are in force (set by this call or
    an earlier one), False where not applicable (not glibc, or the user chose otherwise)."""
    if _state["done"]:
        return _state["applied"]
    _state["done"] = True
    if os.environ.get("TINYDIP_KEEP_FREED_MEMORY", "1") == "0" or \
            any(v in os.environ for v in _USER_VARS):
        return False
    libc = _glibc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and \
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _state["applied"] = ok
    return ok


def _glibc():
    """The C library if it is glibc (has ``mallopt`` and ``gnu_get_libc_version``), else None."""
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols: the C library it runs on
        libc.gnu_get_libc_version  # noqa: B018 - raises AttributeError off glibc
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
    except (OSError, AttributeError, TypeError):  # TypeError: CDLL(None) on Windows
        return None
    return libc
