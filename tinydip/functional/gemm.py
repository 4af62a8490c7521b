"""Matrix products for convolutions, parallelised by tinydip instead of by the BLAS.

Why: OpenBLAS's own threads synchronise by spinning. On 2 cores shared with anything else
(a browser, a second job, the test runner), a 2-thread OpenBLAS GEMM waits for a descheduled
thread and slows down 2-7x, at worst 30x (measured here: 136 -> 489 ms for one dW product under
load). Splitting the product into independent blocks, each a single-threaded BLAS call, run by a
small pool of Python threads (NumPy releases the GIL inside matmul) degrades gracefully instead:
a busy core just takes fewer blocks.

So on first use tinydip sets the BLAS to one thread (threadpoolctl) and runs ``threads`` blocks
at a time; ``set_threads(n)`` changes that (``set_threads(1)`` = plain serial BLAS calls).
Products are split along the pixel axis, the long one in a convolution:

    out (F, P) = A (F, K) @ B (K, P)      -> column blocks of B and out
    acc (F, K) += D (F, P) @ C (K, P)^T   -> blocks of the shared P axis, partial sums added

The calling thread works too (:func:`_share`): it starts on the first block at once and keeps
taking the next unclaimed one, while the pool's ``threads - 1`` helpers join when they wake. A
sleeping thread takes ~85 us to wake here (a VM's wake-up: one ``submit(f).result()`` round
trip); waiting for the pool instead, as before, cost that on every pooled product -- ~35 of them
in a width-32 U-Net step (benchmarks/README.md, "Pool wake-ups").
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numba
import numpy as np

_MIN_BLOCK = 128  # columns per block; 128 also splits the deep U-Net levels (32x32 and less):
# measured 0.187 -> 0.172 s/it for the paper U-Net at 128x128 (those products ran serially)
_MIN_FLOPS = 2e7  # smaller products are not worth dispatching
_BLOCKS = 4  # blocks per pooled product: 2 per thread on 2 cores (load balance)
_state: dict = {"threads": None, "pool": None}


def set_threads(n: int | None = None) -> int:
    """Use ``n`` threads for convolution products (default: numba's thread count).

    The BLAS is limited to one thread process-wide (threadpoolctl) and tinydip runs n
    single-threaded products at once (n = 1: plain serial calls, e.g. NUMBA_NUM_THREADS=1).
    Returns the number in use.
    """
    n = numba.get_num_threads() if n is None else int(n)
    if n < 1:
        raise ValueError(f"set_threads: need at least one thread, got {n}")
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        n = 1
    else:
        threadpool_limits(1, user_api="blas")
    old = _state["pool"]
    # n - 1 helpers: the calling thread is the n-th (_share)
    _state["pool"] = ThreadPoolExecutor(n - 1, thread_name_prefix="tinydip-gemm") if n > 1 \
        else None
    _state["threads"] = n
    if old is not None:
        old.shutdown(wait=True)
    return n


def threads() -> int:
    """The number of threads products run on (set on first use: numba's thread count)."""
    if _state["threads"] is None:
        set_threads()
    return _state["threads"]


def _blocks(rows: int, inner: int, cols: int):
    """Column blocks for a product of this size, a function of the sizes alone (None: one
    call). Not of the thread count: ``gemm_nt_acc`` adds partial sums block by block, so the
    blocks fix the float rounding, and 1 or 2 threads must give the same bits."""
    if 2.0 * rows * inner * cols < _MIN_FLOPS or cols < 2 * _MIN_BLOCK:
        return None
    nblocks = min(_BLOCKS, cols // _MIN_BLOCK)
    step = -(-cols // nblocks)
    return [(i, min(i + step, cols)) for i in range(0, cols, step)]


def _pool():
    if _state["threads"] is None:
        set_threads()
    return _state["pool"]


def _share(tasks: list[Callable[[], Any]]) -> list:
    """Run independent tasks on the calling thread and the pool's helpers together; their
    results in task order.

    Each thread takes the next unclaimed task until none is left (``itertools.count`` hands
    out indices atomically under the GIL); the caller then waits only for tasks a helper has
    claimed and not finished. A helper that wakes after the caller took the last task finds
    none and returns: nobody waits for it. Which thread runs a task never changes its result.
    """
    pool = _pool()
    n = len(tasks)
    if pool is None or n == 1:
        return [task() for task in tasks]
    results: list = [None] * n
    claim = itertools.count().__next__
    lock, finished = threading.Lock(), threading.Event()
    state = {"left": n, "error": None}

    def work() -> None:
        while (i := claim()) < n:
            try:
                results[i] = tasks[i]()
            except BaseException as exc:  # noqa: BLE001 - re-raised by the caller below
                state["error"] = exc
            with lock:
                state["left"] -= 1
                if state["left"] == 0:
                    finished.set()

    for _ in range(_state["threads"] - 1):
        pool.submit(work)
    work()
    finished.wait()
    if state["error"] is not None:
        raise state["error"]
    return results


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray,
         bias: np.ndarray | None = None) -> np.ndarray:
    """out = a @ b (+ bias[:, None]) for a (M, K), b (K, P), out (M, P), bias (M,), split into
    column blocks; the bias is added block by block while the block is still in cache (one
    pass over out fewer than adding it afterwards; the same float32 additions)."""
    blocks = _blocks(a.shape[0], a.shape[1], b.shape[1])
    if blocks is None:
        return _matmul_bias(a, b, out, bias)
    _share([partial(_matmul_bias, a, b[:, i:j], out[:, i:j], bias) for i, j in blocks])
    return out


def _matmul_bias(a: np.ndarray, b: np.ndarray, out: np.ndarray,
                 bias: np.ndarray | None) -> np.ndarray:
    np.matmul(a, b, out=out)
    if bias is not None:
        out += bias[:, None]  # (M, 1) broadcast over the block's columns
    return out


def gemm_nt_acc(d: np.ndarray, c: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """acc += d @ c.T for d (M, P), c (K, P), acc (M, K); blocks of the shared P axis, their
    partial sums added in block order whatever the thread count."""
    blocks = _blocks(d.shape[0], c.shape[0], d.shape[1])
    if blocks is None:
        acc += d @ c.T
        return acc
    for part in _share([partial(np.matmul, d[:, i:j], c[:, i:j].T) for i, j in blocks]):
        acc += part  # (M, K), in block order
    return acc


def _batch_chunks(batch: int, flops: float) -> list[tuple[int, int]] | None:
    """Split a batch of products into chunks (None: one call). Each chunk writes its own
    slice of the output, so the split never changes a result."""
    threads = _state["threads"] if _state["threads"] is not None else set_threads()
    if threads == 1 or flops < _MIN_FLOPS or batch < 2:
        return None
    step = -(-batch // min(batch, 2 * threads))  # 2 chunks per thread: balance
    return [(i, min(i + step, batch)) for i in range(0, batch, step)]


def batched_gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[i] = a[i] @ b[i] for a (B, M, K), b (B, K, P), out (B, M, P); chunks of the batch."""
    B, M, K = a.shape
    chunks = _batch_chunks(B, 2.0 * B * M * K * b.shape[2])
    if chunks is None:
        return np.matmul(a, b, out=out)
    _share([partial(np.matmul, a[i:j], b[i:j], out=out[i:j]) for i, j in chunks])
    return out


def batched_gemm_nt_acc(d: np.ndarray, c: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """acc[i] += d[i] @ c[i].T for d (B, M, P), c (B, K, P), acc (B, M, K)."""
    B, M, P = d.shape
    chunks = _batch_chunks(B, 2.0 * B * M * P * c.shape[1])

    def chunk(i: int, j: int) -> None:
        acc[i:j] += np.matmul(d[i:j], c[i:j].transpose(0, 2, 1))  # (j-i, M, K)

    if chunks is None:
        chunk(0, B)
        return acc
    _share([partial(chunk, i, j) for i, j in chunks])
    return acc
