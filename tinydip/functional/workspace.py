"""Scratch buffers reused across layers and iterations.

The im2col matrix of a 3x3 convolution is 9x larger than its input; allocating it for every
convolution of every iteration costs page faults and memory traffic. Forward never keeps it (the
backward pass rebuilds it from the saved input), so one buffer per role, grown to the largest
size ever requested, serves every layer.
"""

import numpy as np

_buffers: dict[tuple[str, np.dtype], np.ndarray] = {}


def workspace(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A C-contiguous scratch array of ``shape`` (contents undefined), reused between calls.

    Two calls with the same ``name`` and dtype return overlapping memory: a caller must be done
    with the previous one before asking again.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    key = (name, dtype)
    buf = _buffers.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype=dtype)
        _buffers[key] = buf
    return buf[:size].reshape(shape)


def clear_workspace() -> None:
    """Release every scratch buffer (e.g. after a large run)."""
    _buffers.clear()
