"""The LLVM-IR micro-kernel of the Winograd products (tinydip/kernels/microkernel.py)."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from llvmlite import binding as llvm

from tinydip.functional import gemm as G
from tinydip.kernels import blas
from tinydip.kernels import microkernel as mk

needs_tile = pytest.mark.skipif(mk.TILE is None, reason="no AVX-512 on this CPU")


@pytest.fixture(autouse=True)
def restore_threads():
    yield
    G.set_threads()


def _ulps(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance in float32 units in the last place (same signs assumed: near results)."""
    return np.abs(x.view(np.int32).astype(np.int64) - y.view(np.int32).astype(np.int64))


def _operands(rng, batch, m, k, n, transposed):
    a = rng.standard_normal((batch, m, k), dtype=np.float32)
    if transposed:  # a transposed view as the left operand, as Winograd's dx product passes
        a = np.ascontiguousarray(a.transpose(0, 2, 1)).transpose(0, 2, 1)
    b = rng.standard_normal((batch, k, n), dtype=np.float32)
    return a, b


@pytest.mark.parametrize("tile", [mk.Tile(8, 16, 2), mk.Tile(4, 8, 2), mk.Tile(2, 4, 1)])
def test_ir_parses_and_verifies(tile):
    mod = llvm.parse_assembly(mk.module_ir(tile))
    mod.verify()
    assert tile.nr == tile.width * tile.vectors


def _run_ir(text: str, tile: mk.Tile, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Compile IR text on its own and run one block through ctypes: c = a @ b (mr x nr)."""
    mod = llvm.parse_assembly(text + f"\ndeclare <{tile.width} x float> @llvm.fma.v{tile.width}f32("
                              f"<{tile.width} x float>, <{tile.width} x float>, "
                              f"<{tile.width} x float>)\nattributes #0 = {{ nounwind }}")
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten())
    engine = llvm.create_mcjit_compiler(mod, machine)
    engine.finalize_object()
    f = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                         ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                         ctypes.c_int64)(engine.get_function_address(mk.SYMBOL))
    c = np.full((tile.mr, tile.nr), np.nan, np.float32)
    f(a.ctypes.data, a.strides[0] // 4, a.strides[1] // 4, b.ctypes.data, b.strides[0] // 4,
      c.ctypes.data, c.strides[0] // 4, a.shape[1])
    del engine
    return c


@needs_tile
@pytest.mark.parametrize("k", [1, 3, 36])
def test_one_block_is_the_reference_and_a_planted_bug_is_caught(k):
    t = mk.TILE
    rng = np.random.default_rng(k)
    a = rng.standard_normal((t.mr, k), dtype=np.float32)
    b = rng.standard_normal((k, t.nr), dtype=np.float32)
    ref = np.empty((t.mr, t.nr), np.float32)
    mk.tile_reference(a, b, ref, t.mr, t.nr)
    got = _run_ir(mk.tile_ir(t), t, a, b)
    assert _ulps(got, ref).max() <= 1 and (got == ref).mean() > 0.99  # double rounding
    # planted: b's row k read one float to the right -- caught
    bad = mk.tile_ir(t).replace("%bo0 = add i64 %brow, 0", "%bo0 = add i64 %brow, 1")
    assert bad != mk.tile_ir(t)
    b_wide = np.zeros((k, t.nr + 1), np.float32)
    b_wide[:, :t.nr] = b
    got_bad = _run_ir(bad, t, a, b_wide[:, :t.nr])
    assert not np.allclose(got_bad, ref, rtol=1e-3, atol=1e-3)


@needs_tile
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("shape", [(3, 32, 36, 512), (2, 36, 32, 520), (1, 8, 1, 32),
                                   (4, 13, 20, 70), (2, 132, 128, 96)])
def test_batched_tiles_match_the_reference(threads, transposed, shape):
    G.set_threads(threads)
    batch, m, k, n = shape
    a, b = _operands(np.random.default_rng(m + n), batch, m, k, n, transposed)
    out = np.full((batch, m, n), np.nan, np.float32)
    assert G._tiles_fit(a, b, out)
    G.batched_gemm(a, b, out)
    np.testing.assert_allclose(out, np.matmul(a.astype(np.float64), b.astype(np.float64)),
                               rtol=1e-5, atol=2e-5)
    t = mk.TILE  # the whole blocks are the in-order FMA sum, bit for bit up to double rounding
    for i in range(batch):
        ref = np.empty((t.mr, t.nr), np.float32)
        mk.tile_reference(np.ascontiguousarray(a[i]), b[i], ref, t.mr, t.nr)
        assert _ulps(out[i, :t.mr, :t.nr], ref).max() <= 1


@needs_tile
def test_one_and_two_threads_give_the_same_bits():
    a, b = _operands(np.random.default_rng(5), 36, 36, 32, 520, True)
    outs = []
    for threads in (1, 2):
        G.set_threads(threads)
        outs.append(G.batched_gemm(a, b, np.empty((36, 36, 520), np.float32)))
    assert np.array_equal(outs[0], outs[1])


@needs_tile
def test_a_planted_block_size_is_caught():
    """Blocks of twice the kernel's rows leave every second block of rows unwritten."""
    a, b = _operands(np.random.default_rng(6), 2, 32, 16, 64, False)
    out = np.full((2, 32, 64), np.nan, np.float32)
    mk.batched_tiles(a, b, out, 2 * mk.TILE.mr, mk.TILE.nr)
    assert np.isnan(out).any()
    mk.batched_tiles(a, b, out, mk.TILE.mr, mk.TILE.nr)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=2e-5)


def test_what_runs_the_kernel(monkeypatch):
    a = np.zeros((2, 32, 16), np.float32)
    b = np.zeros((2, 16, 64), np.float32)
    out = np.zeros((2, 32, 64), np.float32)
    monkeypatch.setattr(mk, "TILE", mk.Tile(8, 16, 2))
    assert G._tiles_fit(a, b, out)
    assert not G._tiles_fit(a.astype(np.float64), b.astype(np.float64), out.astype(np.float64))
    assert G._tiles_fit(a[:, :4], b, out[:, :4])  # a half block of rows
    assert not G._tiles_fit(a[:, :3], b, out[:, :3])  # fewer rows than a half block
    assert not G._tiles_fit(a, b[:, :, :16], out[:, :, :16])  # fewer columns
    assert not G._tiles_fit(a, b[:, :, ::2], out[:, :, :32])  # b not unit-strided
    monkeypatch.setattr(mk, "TILE", None)  # a CPU without the kernel: the BLAS
    assert not G._tiles_fit(a, b, out)
    rng = np.random.default_rng(7)
    a, b = _operands(rng, 3, 32, 36, 512, False)
    got = G.batched_gemm(a, b, np.empty((3, 32, 512), np.float32))
    ref = np.empty_like(got)
    blas.batched_gemm(a, b, ref)
    assert np.array_equal(got, ref)


@needs_tile
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("shape", [(32, 32, 16384), (4, 32, 1024), (288, 32, 256),
                                   (32, 288, 1000), (13, 20, 70), (36, 3, 40)])
def test_gemm_tiles_match_the_reference(threads, bias, transposed, shape):
    """One product through :func:`gemm`: whole blocks, a half block (4, 36 rows), BLAS rows
    (13), BLAS columns (1000, 70, 40), a bias added per block, a transposed ``w.T``."""
    G.set_threads(threads)
    m, k, n = shape
    rng = np.random.default_rng(m + k + n)
    a, b = (x[0] for x in _operands(rng, 1, m, k, n, transposed))
    w = rng.standard_normal(m, dtype=np.float32) if bias else None
    out = np.full((m, n), np.nan, np.float32)
    assert G._tiles_fit(a[None], b[None], out[None])
    G.gemm(a, b, out, w)
    ref64 = a.astype(np.float64) @ b.astype(np.float64) + (w[:, None] if bias else 0.0)
    np.testing.assert_allclose(out, ref64, rtol=1e-5, atol=5e-5)
    t = mk.TILE
    if m >= t.mr:  # a whole block is the in-order FMA sum (+ the bias, one more rounding)
        ref = np.empty((t.mr, t.nr), np.float32)
        mk.tile_reference(np.ascontiguousarray(a), b, ref, t.mr, t.nr)
        if bias:
            ref += w[:t.mr, None]
        assert _ulps(out[:t.mr, :t.nr], ref).max() <= 1


@needs_tile
def test_gemm_tiles_one_and_two_threads_and_a_planted_block_size():
    a, b = (x[0] for x in _operands(np.random.default_rng(8), 1, 288, 32, 4100, True))
    w = np.arange(288, dtype=np.float32)
    outs = []
    for threads in (1, 2):
        G.set_threads(threads)
        outs.append(G.gemm(a, b, np.empty((288, 4100), np.float32), w))
    assert np.array_equal(outs[0], outs[1])
    out = np.full((288, 4100), np.nan, np.float32)  # planted: blocks of twice the rows
    mk.gemm_tiles(a, b, out, w, True, 2 * mk.TILE.mr, mk.TILE.nr)
    assert np.isnan(out).any()


def test_which_gemm_products_run_the_kernel(monkeypatch):
    assert G._gemm_on_tiles(288, 32) and G._gemm_on_tiles(32, 288)  # im2col, its dx
    assert G._gemm_on_tiles(128, 128) and G._gemm_on_tiles(G.DEEP, G.DEEP)
    assert not G._gemm_on_tiles(128, 1152) and not G._gemm_on_tiles(1152, 128)  # too deep
    for small in (True, False):  # narrow products: the SkylakeX small-matrix path
        monkeypatch.setitem(G._state, "small", small)
        assert G._gemm_on_tiles(32, 32) is not small
        assert G._gemm_on_tiles(4, 32) is not small
        assert G._gemm_on_tiles(32, 288)


def test_gemm_without_the_kernel_is_the_blas(monkeypatch):
    rng = np.random.default_rng(9)
    a, b = (x[0] for x in _operands(rng, 1, 32, 36, 4096, False))
    w = rng.standard_normal(32, dtype=np.float32)
    monkeypatch.setattr(mk, "TILE", None)
    got = G.gemm(a, b, np.empty((32, 4096), np.float32), w)
    ref = np.empty_like(got)
    bounds = G._column_bounds(32, 36, 4096, G.small_blocks())
    blas.gemm_blocks(a, b, ref, w, True, bounds)
    assert np.array_equal(got, ref)


def test_host_tile_follows_the_cpu_features(monkeypatch):
    for feats, expected in (({"avx512f": True}, mk.Tile(8, 16, 2)),
                            ({"avx2": True, "fma": True}, None), ({}, None)):
        monkeypatch.setattr(mk.llvm, "get_host_cpu_features", lambda f=feats: f)
        assert mk.host_tile() == expected
