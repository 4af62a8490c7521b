"""Matrix products for convolutions, parallelised by tinydip instead of by the BLAS.

Why: OpenBLAS's own threads synchronise by spinning. On 2 cores shared with anything else
(a browser, a second job, the test runner), a 2-thread OpenBLAS GEMM waits for a descheduled
thread and slows down 2-7x, at worst 30x (measured here: 136 -> 489 ms for one dW product under
load). Splitting the product into independent blocks, each a single-threaded BLAS call,
degrades gracefully instead: a busy core just takes fewer blocks.

The blocks run on numba's threads, the same OpenMP threads as every kernel
(:mod:`tinydip.kernels.blas`: SciPy's BLAS called from parallel kernels). Until 2026-12 they
ran on a pool of Python threads, which sleeps between products: waking it cost ~85 us per
pooled product here (a VM), and numba's threads fell asleep during the product and took
~55 us to wake for the next kernel (benchmarks/README.md, "One thread pool").

On first use tinydip sets the BLAS to one thread per call (threadpoolctl: NumPy's and SciPy's
OpenBLAS alike); ``set_threads(n)`` runs products (and numba's kernels) on n threads. Products
are split along the pixel axis, the long one in a convolution:

    out (F, P) = A (F, K) @ B (K, P)      -> column blocks of B and out
    acc (F, K) += D (F, P) @ C (K, P)^T   -> blocks of the shared P axis, partial sums added

The blocks are a function of the sizes (and of the BLAS's kernels: :func:`small_blocks`) and
partial sums are added in block order, so 1 or 2 threads give the same bits (the fitting loop
switches between them: :mod:`tinydip.fitting.threads`).

The products of the Winograd layers (:func:`batched_gemm`) and of the im2col and 1x1
convolutions (:func:`gemm`) run tinydip's own register-blocked micro-kernel on CPUs with
AVX-512 (:mod:`tinydip.kernels.microkernel`): up to twice the rate of OpenBLAS's Haswell
kernels on these small products, the SkylakeX kernels' very numbers. (The weight-gradient
products, :func:`gemm_nt_acc`, stay with the BLAS: their long shared axis wants another
block shape.)
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from ..kernels import blas, microkernel

_MIN_BLOCK = 128  # columns per block; 128 also splits the deep U-Net levels (32x32 and less):
# measured 0.187 -> 0.172 s/it for the paper U-Net at 128x128 (those products ran serially)
_MIN_FLOPS = 2e6  # smaller products are one BLAS call on the calling thread; on numba's
# threads splitting pays from here (width-32 U-Net step 25.0 ms vs 29.0 at 2e7, the pool's
# old threshold; 0.5-2e6 alike)
_BLOCKS = 4  # blocks per split product: 2 per thread on 2 cores (load balance)
# OpenBLAS kernels with a small-matrix path (no packing) for products up to ~512 columns of
# a narrow layer: there blocks are cut to SMALL_COLUMNS. Measured with OpenBLAS's SkylakeX
# kernels (2 threads): gemm 32x32 @ 32x65536 1.98 -> 1.24 ms, 4x32 @ 32x65536 0.48 -> 0.19 ms
# (the same bits: a column's sum does not depend on the blocks); gemm_nt_acc 32x65536 @
# (32x65536)^T 2.36 -> 0.87 ms, 3x65536 @ (32x65536)^T 1.21 -> 0.22 ms (more partial sums:
# other bits). With its Haswell kernels smaller blocks ran slower (gemm 1.74 -> 2.5 ms, nt
# 2.68 -> 2.91) and rounded otherwise: kept as they were.
SMALL_MATRIX_KERNELS = frozenset({"SkylakeX"})
SMALL_COLUMNS = 512
NARROW = 64  # channels: gemm's products this narrow stay on the SkylakeX small-matrix path
DEEP = 448  # gemm's products with more rows or a longer inner axis stay with the BLAS
_state: dict = {"limited": False, "small": None}


def set_threads(n: int | None = None) -> int:
    """Run convolution products and numba's kernels on ``n`` threads (default: numba's
    thread count; at most ``NUMBA_NUM_THREADS``). Limits the BLAS to one thread per call
    process-wide (threadpoolctl). Returns the number in use."""
    n = numba.get_num_threads() if n is None else int(n)
    if n < 1:
        raise ValueError(f"set_threads: need at least one thread, got {n}")
    _limit_blas()
    n = min(n, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(n)
    return n


def threads() -> int:
    """The number of threads products run on (numba's)."""
    _limit_blas()
    return numba.get_num_threads()


def _limit_blas() -> None:
    if _state["limited"]:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass
    else:  # kernels.blas imported SciPy's BLAS above: both libraries are limited
        threadpool_limits(1, user_api="blas")
    _state["limited"] = True


def small_blocks() -> bool:
    """Whether the loaded OpenBLAS libraries (SciPy's, which the products call, and NumPy's:
    one CPU, one ``OPENBLAS_CORETYPE``) all run kernels of :data:`SMALL_MATRIX_KERNELS`, as
    threadpoolctl reads their ``architecture``. Decided once per process."""
    if _state["small"] is None:
        from threadpoolctl import threadpool_info

        arch = [lib.get("architecture") for lib in threadpool_info()
                if lib.get("internal_api") == "openblas"]
        _state["small"] = bool(arch) and all(a in SMALL_MATRIX_KERNELS for a in arch)
    return _state["small"]


@functools.lru_cache(maxsize=256)
def _column_bounds(rows: int, inner: int, cols: int, small: bool) -> np.ndarray | None:
    """:func:`_bounds`, each block cut into blocks of at most :data:`SMALL_COLUMNS` columns
    when ``small`` (:func:`small_blocks`): a function of the sizes and the BLAS's kernels."""
    b = _bounds(rows, inner, cols)
    if b is None or not small or b[0, 1] - b[0, 0] <= SMALL_COLUMNS:
        return b
    return _even_blocks(cols, -(-cols // SMALL_COLUMNS))


@functools.lru_cache(maxsize=256)
def _bounds(rows: int, inner: int, cols: int) -> np.ndarray | None:
    """Column blocks (nblocks, 2) [j0, j1) for a product of this size, a function of the
    sizes alone (None: one call). Not of the thread count: ``gemm_nt_acc`` adds partial sums
    block by block, so the blocks fix the float rounding, and 1 or 2 threads must give the
    same bits."""
    if 2.0 * rows * inner * cols < _MIN_FLOPS or cols < 2 * _MIN_BLOCK:
        return None
    return _even_blocks(cols, min(_BLOCKS, cols // _MIN_BLOCK))


def _even_blocks(cols: int, nblocks: int) -> np.ndarray:
    """(nblocks, 2) read-only [j0, j1) covering 0..cols in blocks of ceil(cols / nblocks)."""
    step = -(-cols // nblocks)
    b = np.array([(i, min(i + step, cols)) for i in range(0, cols, step)], dtype=np.int64)
    b.flags.writeable = False
    return b


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray,
         bias: np.ndarray | None = None) -> np.ndarray:
    """out = a @ b (+ bias[:, None]) for a (M, K), b (K, P), out (M, P), bias (M,), split into
    column blocks; the bias is added block by block while the block is still in cache (one
    pass over out fewer than adding it afterwards; the same float32 additions).

    a may be a transposed view (``w.T``); b and out have unit stride along their rows.
    float32 products of at least one register block run tinydip's micro-kernel (as in
    :func:`batched_gemm`), the others the BLAS in column blocks."""
    if _tiles_fit(a[None], b[None], out[None]) and _gemm_on_tiles(*a.shape):
        _limit_blas()  # the edges' BLAS calls run on numba's threads
        t = microkernel.TILE
        microkernel.gemm_tiles(a, b, out, bias if bias is not None else out[:, 0],
                               bias is not None, t.mr, t.nr)
        return out
    bounds = _column_bounds(a.shape[0], a.shape[1], b.shape[1], small_blocks())
    if bounds is None or not _blas_layout(a, b, out):
        np.matmul(a, b, out=out)
        if bias is not None:
            out += bias[:, None]  # (M, 1) broadcast over the columns
        return out
    _limit_blas()
    blas.gemm_blocks(a, b, out, bias if bias is not None else out[:, 0], bias is not None,
                     bounds)
    return out


def gemm_nt_acc(d: np.ndarray, c: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """acc += d @ c.T for d (M, P), c (K, P), acc (M, K); blocks of the shared P axis, their
    partial sums added in block order whatever the thread count."""
    bounds = _column_bounds(d.shape[0], c.shape[0], d.shape[1], small_blocks())
    if bounds is None or not _blas_layout(d, c.T, acc):
        acc += d @ c.T
        return acc
    _limit_blas()
    parts = np.empty((len(bounds), *acc.shape), dtype=acc.dtype)  # (nblocks, M, K)
    blas.gemm_nt_parts(d, c, parts, bounds)
    for part in parts:
        acc += part  # (M, K), in block order
    return acc


def _blas_layout(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """Whether :mod:`tinydip.kernels.blas` can describe these operands (2-D, float32/64 alike,
    each unit-strided along one axis, out along its rows) and the kernels are compiled
    (not ``NUMBA_DISABLE_JIT=1``) -- else NumPy computes the product."""
    def unit(x: np.ndarray, axis: int) -> bool:
        return x.shape[axis] == 1 or x.strides[axis] == x.itemsize

    return (not numba.config.DISABLE_JIT  # plain Python cannot call the BLAS symbols
            and a.dtype == b.dtype == out.dtype and a.dtype in (np.float32, np.float64)
            and min(a.strides + b.strides + out.strides) >= 0
            and (unit(a, 1) or unit(a, 0)) and (unit(b, 1) or unit(b, 0)) and unit(out, 1))


def _split_batch(batch: int, flops: float) -> bool:
    """Whether a batch of products is worth running in parallel (else one NumPy call). Each
    product writes its own slice of the output, so this never changes a result."""
    return threads() > 1 and flops >= _MIN_FLOPS and batch >= 2


def batched_gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out[i] = a[i] @ b[i] for a (B, M, K), b (B, K, P), out (B, M, P); the batch in
    parallel. a[i] may be transposed views (``U.transpose(0, 2, 1)``).

    float32 products of at least one register block (:data:`microkernel.TILE`, 8 x 32 with
    AVX-512) run tinydip's own micro-kernel, whatever the BLAS (:func:`_tiles_fit`); the
    others run the BLAS, one call per product."""
    B, M, K = a.shape
    if _tiles_fit(a, b, out):
        _limit_blas()  # the edges' BLAS calls run on numba's threads
        microkernel.batched_tiles(a, b, out, microkernel.TILE.mr, microkernel.TILE.nr)
        return out
    if not _split_batch(B, 2.0 * B * M * K * b.shape[2]) or not _blas_layout(a[0], b[0], out[0]):
        return np.matmul(a, b, out=out)
    blas.batched_gemm(a, b, out)
    return out


def _gemm_on_tiles(rows: int, inner: int) -> bool:
    """Whether :func:`gemm` runs a product the micro-kernel fits on it, by what measured
    faster (benchmarks/README.md, twelfth round; a function of the sizes and the BLAS's
    kernels, so 1 or 2 threads give the same bits):

    - not with more than :data:`DEEP` rows or a longer inner axis (the paper U-Net's
      stride-2 products, 128 x 1152 @ 1152 x P and their 1152-row input gradients): there
      OpenBLAS's packed kernels are as fast or faster (0.44 vs 0.69 ms at P = 256), and its
      SkylakeX kernels split a sum over more than 448 terms (other bits than the kernel's);
    - not narrow products (both sides at most :data:`NARROW` channels) with the SkylakeX
      kernels, whose small-matrix path streams them faster (32 x 32 @ 32 x 65536: 0.98 vs
      1.07 ms; 4 x 32 @ 32 x 65536: 0.14 vs 0.18) with the very same bits.

    Within these bounds the kernel's numbers are the SkylakeX kernels' bit for bit, and the
    wider products run faster either way (32 x 288 @ 288 x 16384: 3.3 -> 1.7 ms natively)."""
    if rows > DEEP or inner > DEEP:
        return False
    return not (rows <= NARROW and inner <= NARROW and small_blocks())


def _tiles_fit(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """Whether :func:`batched_gemm` (and :func:`gemm`, given ``x[None]``) runs the
    micro-kernel: the host has one, float32, at least a half block (M >= mr // 2, P >= nr,
    K >= 1) and the BLAS layout for the edges. A
    function of the sizes and the CPU, not of the thread count (the same bits on 1 or 2)."""
    t = microkernel.TILE
    return (t is not None and a.dtype == np.float32 and a.shape[1] >= t.mr // 2
            and b.shape[2] >= t.nr and a.shape[2] >= 1 and _blas_layout(a[0], b[0], out[0]))


def batched_gemm_nt_acc(d: np.ndarray, c: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """acc[i] += d[i] @ c[i].T for d (B, M, P), c (B, K, P), acc (B, M, K)."""
    B, M, P = d.shape
    if not _split_batch(B, 2.0 * B * M * P * c.shape[1]) or \
            not _blas_layout(d[0], c[0].T, acc[0]):
        acc += np.matmul(d, c.transpose(0, 2, 1))  # (B, M, K)
        return acc
    blas.batched_gemm_nt(d, c, acc)
    return acc
