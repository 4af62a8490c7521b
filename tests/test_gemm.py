"""Blocked, thread-pooled matrix products used by the convolution."""

from __future__ import annotations

import functools
import threading
import time

import numpy as np
import pytest

from tinydip.functional import gemm as G


@pytest.fixture(autouse=True)
def restore_threads():
    yield
    G.set_threads()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(8, 9, 30), (64, 288, 4096), (128, 1152, 5000)])
def test_gemm_matches_matmul(threads, shape):
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
def test_gemm_nt_acc_accumulates(threads):
    G.set_threads(threads)
    rng = np.random.default_rng(1)
    d = rng.standard_normal((32, 6000))
    c = rng.standard_normal((72, 6000))
    acc = np.ones((32, 72))
    G.gemm_nt_acc(d, c, acc)
    np.testing.assert_allclose(acc, 1 + d @ c.T, rtol=1e-10, atol=1e-9)


def test_blocks_cover_all_columns():
    blocks = G._blocks(128, 1152, 16384)
    assert blocks[0][0] == 0 and blocks[-1][1] == 16384 and len(blocks) == G._BLOCKS
    assert all(b[0] == a[1] for a, b in zip(blocks, blocks[1:]))
    assert G._blocks(4, 4, 100) is None  # tiny products are one call


@pytest.mark.parametrize("shape", [(32, 32, 16384), (32, 288, 4096), (288, 32, 4096),
                                   (16, 9, 4000)])
def test_one_and_two_threads_give_the_same_bits(shape):
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


def test_batch_chunks_cover_the_batch():
    G.set_threads(2)
    chunks = G._batch_chunks(16, 1e9)
    assert chunks[0][0] == 0 and chunks[-1][1] == 16
    assert all(y[0] == x[1] for x, y in zip(chunks, chunks[1:]))
    assert G._batch_chunks(16, 1e3) is None  # tiny products stay serial
    assert G._batch_chunks(1, 1e9) is None
    G.set_threads(1)
    assert G._batch_chunks(16, 1e9) is None


def test_share_runs_every_task_once_in_order_on_both_threads():
    """The caller and the helper both take tasks; results come back in task order."""
    G.set_threads(2)
    ran = []

    def task(i):
        time.sleep(0.002)  # long enough for the helper to wake and claim some
        ran.append((i, threading.current_thread().name))
        return i * i

    assert G._share([functools.partial(task, i) for i in range(12)]) == [i * i for i in range(12)]
    assert sorted(i for i, _ in ran) == list(range(12))
    names = {name for _, name in ran}
    assert threading.current_thread().name in names and len(names) == 2


def test_share_does_not_wait_for_a_busy_helper():
    """While the helper cannot start (here: busy for 2 s), the caller runs every task itself and
    returns at once; the old pool waited for the helper (every pooled product paid its
    ~85 us wake-up)."""
    G.set_threads(2)
    release = threading.Event()
    G._pool().submit(release.wait, 2.0)  # occupy the only helper
    try:
        ran = []
        t0 = time.perf_counter()
        G._share([functools.partial(ran.append, threading.current_thread().name)
                  for _ in range(4)])
        assert time.perf_counter() - t0 < 1.0
        assert ran == [threading.current_thread().name] * 4
    finally:
        release.set()


def test_share_reraises_a_helpers_error():
    G.set_threads(2)

    def boom():
        time.sleep(0.002)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        G._share([boom] * 6)
    assert G._share([lambda: 1, lambda: 2]) == [1, 2]  # the pool still works
