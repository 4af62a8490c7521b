"""Blocked, thread-pooled matrix products used by the convolution."""

from __future__ import annotations

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
def test_gemm_nt_acc_accumulates(threads):
    G.set_threads(threads)
    rng = np.random.default_rng(1)
    d = rng.standard_normal((32, 6000))
    c = rng.standard_normal((72, 6000))
    acc = np.ones((32, 72))
    G.gemm_nt_acc(d, c, acc)
    np.testing.assert_allclose(acc, 1 + d @ c.T, rtol=1e-10, atol=1e-9)


def test_blocks_cover_all_columns():
    G.set_threads(2)
    pool, blocks = G._pool_and_blocks(128, 1152, 16384)
    assert pool is not None and blocks[0][0] == 0 and blocks[-1][1] == 16384
    assert all(b[0] == a[1] for a, b in zip(blocks, blocks[1:]))
    assert G._pool_and_blocks(4, 4, 100)[0] is None  # tiny products stay serial


def test_set_threads_validates():
    with pytest.raises(ValueError, match="at least one thread"):
        G.set_threads(0)
