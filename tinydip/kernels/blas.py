"""Matrix products in blocks on numba's threads: SciPy's BLAS ``sgemm`` / ``dgemm`` called from
parallel kernels.

Why here and not a pool of Python threads: numba's kernels already run on OpenMP threads that
spin a few hundred microseconds between parallel regions. A Python thread pool sleeps between
products; waking it costs ~85 us here (a VM), and the OpenMP threads, idle during a pooled
product, fall asleep and take ~55 us to wake for the next kernel. Running the products' blocks
on the same OpenMP threads keeps one set of threads busy and warm (benchmarks/README.md,
"One thread pool").

The routines are reached by symbol: SciPy exports them as Cython function pointers
(``scipy.linalg.cython_blas``), registered with LLVM under ``tinydip_sgemm`` /
``tinydip_dgemm`` when this module loads, and declared to numba as external functions, so
the kernels that call them are cached like every other kernel. SciPy's BLAS is an OpenBLAS
of its own (not NumPy's); :func:`tinydip.functional.gemm.set_threads` limits both to one
thread per call.

Layout: every array is row-major (C order) with unit stride along its last axis, or (the left
operand only) a transposed view of such an array. A row-major product C = A @ B is the
column-major product C^T = B^T A^T, which is what is passed to the Fortran routine.

    gemm_blocks      out[:, j0:j1] = a @ b[:, j0:j1] (+ bias), column blocks in parallel
    gemm_nt_parts    parts[k] = d[:, j0:j1] @ c[:, j0:j1]^T, blocks of the shared axis
    batched_gemm     out[i] = a[i] @ b[i], the batch in parallel
    batched_gemm_nt  acc[i] += d[i] @ c[i]^T (the product rounded, then added)
"""

import numpy as np
import scipy.linalg.cython_blas  # noqa: F401 - loads SciPy's BLAS (before any thread limit)
from llvmlite import binding as llvm
from numba import njit, prange, types
from numba.extending import get_cython_function_address

llvm.add_symbol("tinydip_sgemm", get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
llvm.add_symbol("tinydip_dgemm", get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
# void ?gemm(char *transa, char *transb, int *m, int *n, int *k, T *alpha, T *a, int *lda,
#            T *b, int *ldb, T *beta, T *c, int *ldc)   (Fortran BLAS, all by pointer)
_SIG = types.void(*([types.voidptr] * 13))
_sgemm = types.ExternalFunction("tinydip_sgemm", _SIG)
_dgemm = types.ExternalFunction("tinydip_dgemm", _SIG)

_N, _T = 78, 84  # ord("N"), ord("T")


def _layout(x):
    """(transposed, leading dimension) of a 2-D array for a row-major product: a C-order
    matrix is (False, row stride); a transposed view of one is (True, column stride)."""
    item = x.itemsize
    if x.shape[1] == 1 or x.strides[1] == item:
        return False, max(x.strides[0] // item, x.shape[1], 1)
    return True, max(x.strides[1] // item, x.shape[0], 1)


def _matmul(a, b, out):
    """out (M, N) = a (M, K) @ b (K, N), one BLAS call on this thread. b and out: unit stride
    along their last axis; a: C order or a transposed view."""
    M, K = a.shape
    N = b.shape[1]
    if M == 0 or N == 0:
        return
    ta, lda = layout(a)
    tb, ldb = layout(b)
    chars = np.empty(2, np.uint8)  # Fortran sees C^T = B^T A^T: B first, then A
    chars[0] = _T if tb else _N
    chars[1] = _T if ta else _N
    ints = np.empty(6, np.int32)  # m, n, k, ld of B, ld of A, ld of C
    ints[0], ints[1], ints[2] = N, M, K
    ints[3], ints[4], ints[5] = ldb, lda, max(out.strides[0] // out.itemsize, N, 1)
    scal = np.empty(2, out.dtype)  # alpha, beta
    scal[0], scal[1] = 1.0, 0.0
    if K == 0:
        out[:, :] = 0
        return
    if out.itemsize == 4:  # float32 (float64 otherwise)
        _sgemm(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
               ints[2:].ctypes, scal[0:].ctypes, b.ctypes, ints[3:].ctypes, a.ctypes,
               ints[4:].ctypes, scal[1:].ctypes, out.ctypes, ints[5:].ctypes)
    else:
        _dgemm(chars[0:].ctypes, chars[1:].ctypes, ints[0:].ctypes, ints[1:].ctypes,
               ints[2:].ctypes, scal[0:].ctypes, b.ctypes, ints[3:].ctypes, a.ctypes,
               ints[4:].ctypes, scal[1:].ctypes, out.ctypes, ints[5:].ctypes)


def _gemm_blocks(a, b, out, bias, add_bias, bounds):
    """out[:, j0:j1] = a @ b[:, j0:j1] (+ bias[:, None] if add_bias) for each row (j0, j1) of
    bounds (nblocks, 2), in parallel; the bias is added while the block is in cache."""
    for k in prange(bounds.shape[0]):
        j0, j1 = bounds[k, 0], bounds[k, 1]
        o = out[:, j0:j1]
        matmul(a, b[:, j0:j1], o)
        if add_bias:
            for r in range(o.shape[0]):
                row = o[r]  # (j1 - j0,): a loop; the array expression cost a memory pass
                br = bias[r]
                for j in range(row.shape[0]):
                    row[j] += br


def _gemm_nt_parts(d, c, parts, bounds):
    """parts[k] = d[:, j0:j1] @ c[:, j0:j1]^T for each block k = (j0, j1) of bounds, in
    parallel (the caller adds the parts in block order)."""
    for k in prange(bounds.shape[0]):
        j0, j1 = bounds[k, 0], bounds[k, 1]
        matmul(d[:, j0:j1], c[:, j0:j1].T, parts[k])


def _batched_gemm(a, b, out):
    """out[i] = a[i] @ b[i] for i in the batch, in parallel."""
    for i in prange(a.shape[0]):
        matmul(a[i], b[i], out[i])


def _batched_gemm_nt(d, c, acc):
    """acc[i] += d[i] @ c[i]^T for i in the batch, in parallel (each product rounded to the
    dtype, then added: as NumPy's ``acc += d @ c.T``)."""
    for i in prange(d.shape[0]):
        part = np.empty(acc.shape[1:], acc.dtype)
        matmul(d[i], c[i].T, part)
        acc[i] += part


layout = njit(cache=True, inline="always")(_layout)
matmul = njit(cache=True)(_matmul)
gemm_blocks = njit(cache=True, parallel=True)(_gemm_blocks)
gemm_nt_parts = njit(cache=True, parallel=True)(_gemm_nt_parts)
batched_gemm = njit(cache=True, parallel=True)(_batched_gemm)
batched_gemm_nt = njit(cache=True, parallel=True)(_batched_gemm_nt)
