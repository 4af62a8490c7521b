"""Blocked, thread-pooled matrix products used by the convolution."""

from __future__ import annotations

import numpy as np
import pytest

from tinydip.functional import gemm as G
from tinydip.kernels import blas


@pytest.fixture(autouse=True)
def restore_threads():
    yield
    G.set_threads()


@pytest.fixture(params=[False, True], ids=["blocks", "small-blocks"])
def small(request, monkeypatch):
    """Both ways of cutting products into blocks, whatever this machine's BLAS decides."""
    monkeypatch.setitem(G._state, "small", request.param)
    return request.param


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(8, 9, 30), (64, 288, 4096), (128, 1152, 5000),
                                   (32, 32, 3000)])
def test_gemm_matches_matmul(threads, shape, small):
    G.set_threads(threads)
    m, k, p = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, p), dtype=np.float32)
    out = np.full((m, p), np.nan, np.float32)
    G.gemm(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-3)
    at = np.ascontiguousarray(a.T)  # a transposed view as the left operand
    out2 = np.empty((m, p), np.float32)
    G.gemm(at.T, b, out2)
    np.testing.assert_allclose(out2, out, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(8, 9, 30), (32, 32, 16384), (32, 288, 4096)])
def test_gemm_adds_the_bias_per_row(threads, shape):
    """gemm(..., bias) == (a @ b) + bias[:, None] bit for bit: the same float32 additions,
    done block by block (serial, pooled and one-call paths)."""
    G.set_threads(threads)
    m, k, p = shape
    rng = np.random.default_rng(2)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, p), dtype=np.float32)
    bias = rng.standard_normal(m, dtype=np.float32)
    plain = G.gemm(a, b, np.empty((m, p), np.float32)).copy()
    out = G.gemm(a, b, np.empty((m, p), np.float32), bias)
    np.testing.assert_array_equal(out, plain + bias[:, None])
    assert not np.array_equal(out, plain)


@pytest.mark.parametrize("threads", [1, 2])
def test_gemm_nt_acc_accumulates(threads, small):
    G.set_threads(threads)
    rng = np.random.default_rng(1)
    d = rng.standard_normal((32, 6000))
    c = rng.standard_normal((72, 6000))
    acc = np.ones((32, 72))
    G.gemm_nt_acc(d, c, acc)
    np.testing.assert_allclose(acc, 1 + d @ c.T, rtol=1e-10, atol=1e-9)


def test_blocks_cover_all_columns():
    blocks = [tuple(b) for b in G._bounds(128, 1152, 16384)]
    assert blocks[0][0] == 0 and blocks[-1][1] == 16384 and len(blocks) == G._BLOCKS
    assert all(b[0] == a[1] for a, b in zip(blocks, blocks[1:]))
    assert G._bounds(4, 4, 100) is None  # tiny products are one call


def test_small_blocks_cut_every_block_to_small_columns():
    blocks = G._column_bounds(32, 32, 65536, True)
    widths = blocks[:, 1] - blocks[:, 0]
    assert blocks[0, 0] == 0 and blocks[-1, 1] == 65536 and widths.max() <= G.SMALL_COLUMNS
    assert np.array_equal(blocks[1:, 0], blocks[:-1, 1]) and widths.min() > 0
    assert np.array_equal(G._column_bounds(32, 32, 65536, False), G._bounds(32, 32, 65536))
    # already small enough (4 blocks of 256): the same blocks either way; tiny: one call
    assert np.array_equal(G._column_bounds(64, 288, 1024, True), G._bounds(64, 288, 1024))
    assert G._column_bounds(4, 4, 100, True) is None


@pytest.mark.parametrize("archs, expected", [
    (["SkylakeX", "SkylakeX"], True), (["SkylakeX", "Haswell"], False),
    (["Haswell", "Haswell"], False), ([], False)])
def test_small_blocks_follow_the_blas_kernels(monkeypatch, archs, expected):
    """Decided from what threadpoolctl reports of every OpenBLAS loaded (an MKL is not one)."""
    import threadpoolctl

    info = [{"internal_api": "openblas", "architecture": a, "filepath": f"lib{i}.so"}
            for i, a in enumerate(archs)]
    info.append({"internal_api": "mkl", "architecture": None, "filepath": "mkl.so"})
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: info)
    monkeypatch.setitem(G._state, "small", None)
    assert G.small_blocks() is expected
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: [])
    assert G.small_blocks() is expected  # decided once


@pytest.mark.skipif(not G.small_blocks(), reason="this BLAS's products keep their blocks")
@pytest.mark.parametrize("shape", [(32, 32, 65536), (4, 32, 65536), (32, 288, 16384)])
def test_small_blocks_give_the_same_products(monkeypatch, shape):
    """Where the BLAS's kernels cut blocks small (SkylakeX), gemm's output is the same bits as
    with the size-only blocks: each column's sum does not depend on the blocks (gemm_nt_acc's
    sums do: more partial sums)."""
    m, k, p = shape
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, p), np.float32)
    bias = rng.standard_normal(m, dtype=np.float32)
    outs = []
    for flag in (False, True):
        monkeypatch.setitem(G._state, "small", flag)
        outs.append(G.gemm(a, b, np.empty((m, p), np.float32), bias))
    np.testing.assert_array_equal(*outs)


@pytest.mark.parametrize("shape", [(32, 32, 16384), (32, 288, 4096), (288, 32, 4096),
                                   (16, 9, 4000)])
def test_one_and_two_threads_give_the_same_bits(shape, small):
    """The blocks (hence the order partial sums are added in) depend on the sizes alone, so a
    fit's numbers do not depend on the thread count (tinydip.fitting.threads switches it)."""
    m, k, p = shape
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, p), np.float32)
    d, c = rng.standard_normal((m, p), np.float32), rng.standard_normal((k, p), np.float32)
    results = []
    for threads in (1, 2):
        G.set_threads(threads)
        out, acc = np.empty((m, p), np.float32), np.ones((m, k), np.float32)
        results.append((G.gemm(a, b, out).copy(), G.gemm_nt_acc(d, c, acc).copy()))
    for x, y in zip(*results, strict=True):
        np.testing.assert_array_equal(x, y)


def test_set_threads_validates():
    with pytest.raises(ValueError, match="at least one thread"):
        G.set_threads(0)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(16, 8, 9, 30), (16, 128, 132, 1024), (3, 4, 5, 6)])
def test_batched_gemm_and_nt_acc(threads, shape):
    """The Winograd products: out[i] = a[i] @ b[i]; acc[i] += d[i] @ c[i].T (any batch split)."""
    G.set_threads(threads)
    B, m, k, p = shape
    rng = np.random.default_rng(2)
    a = rng.standard_normal((B, m, k))
    b = rng.standard_normal((B, k, p))
    out = np.full((B, m, p), np.nan)
    G.batched_gemm(a, b, out)
    np.testing.assert_allclose(out, np.einsum("imk,ikp->imp", a, b), rtol=1e-10, atol=1e-10)
    G.batched_gemm(a.transpose(0, 2, 1).copy().transpose(0, 2, 1), b, out)  # strided operand
    np.testing.assert_allclose(out, np.einsum("imk,ikp->imp", a, b), rtol=1e-10, atol=1e-10)
    d, c = rng.standard_normal((B, m, p)), rng.standard_normal((B, k, p))
    acc = np.ones((B, m, k))
    G.batched_gemm_nt_acc(d, c, acc)
    np.testing.assert_allclose(acc, 1 + np.einsum("imp,ikp->imk", d, c), rtol=1e-10,
                               atol=1e-9)


def test_split_batch_threshold():
    G.set_threads(2)
    assert G._split_batch(16, 1e9)
    assert not G._split_batch(16, 1e3)  # tiny products: one NumPy call
    assert not G._split_batch(1, 1e9)
    G.set_threads(1)
    assert not G._split_batch(16, 1e9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("b_transposed", [False, True])
def test_blas_matmul_layouts(dtype, a_transposed, b_transposed):
    """kernels.blas.matmul (SciPy's ?gemm from numba) on every layout the convolutions pass:
    a and b in C order or transposed views, b and out column blocks of wider arrays
    (leading dimension > columns)."""
    rng = np.random.default_rng(4)
    m, k, n, wide = 7, 5, 9, 13
    a = rng.standard_normal((k, m)).astype(dtype).T if a_transposed else \
        rng.standard_normal((m, k)).astype(dtype)
    bfull = rng.standard_normal((wide, k)).astype(dtype).T if b_transposed else \
        rng.standard_normal((k, wide)).astype(dtype)
    b = bfull[:, 2:2 + n]  # (k, n) view, leading dimension 13
    out_full = np.full((m, wide), 7.0, dtype)
    out = out_full[:, 3:3 + n]
    blas.matmul(a, b, out)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), rtol=tol,
                               atol=tol)
    assert (out_full[:, :3] == 7).all() and (out_full[:, 3 + n:] == 7).all()  # stays inside


def test_blas_kernels_match_numpy_on_block_boundaries():
    """gemm_blocks (+ bias), gemm_nt_parts and the batched kernels against NumPy, with blocks
    of unequal width."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 10))
    b = rng.standard_normal((10, 301))
    bias = rng.standard_normal(6)
    bounds = np.array([[0, 128], [128, 256], [256, 301]])
    out = np.empty((6, 301))
    blas.gemm_blocks(a, b, out, bias, True, bounds)
    np.testing.assert_allclose(out, a @ b + bias[:, None], rtol=1e-12, atol=1e-12)
    parts = np.empty((3, 6, 10))
    d = rng.standard_normal((6, 301))
    blas.gemm_nt_parts(d, b, parts, bounds)
    np.testing.assert_allclose(parts.sum(0), d @ b.T, rtol=1e-12, atol=1e-12)
    A, B = rng.standard_normal((5, 6, 10)), rng.standard_normal((5, 10, 11))
    O = np.empty((5, 6, 11))
    blas.batched_gemm(A, B, O)
    np.testing.assert_allclose(O, A @ B, rtol=1e-12, atol=1e-12)
    acc = np.ones((5, 6, 10))
    D = rng.standard_normal((5, 6, 11))
    blas.batched_gemm_nt(D, B, acc)  # acc[i] += D[i] (6, 11) @ B[i].T (11, 10)
    np.testing.assert_allclose(acc, 1 + D @ B.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)


def test_unsupported_strides_fall_back_to_numpy():
    """An operand strided along both axes (here every other row and column) is not something
    the BLAS kernels can describe: gemm falls back to NumPy and is still right."""
    G.set_threads(2)
    rng = np.random.default_rng(6)
    a = rng.standard_normal((64, 600))[::2, ::2]  # (32, 300), strided both ways
    b = rng.standard_normal((300, 4096))
    out = np.empty((32, 4096))
    G.gemm(a, b, out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-10, atol=1e-10)
