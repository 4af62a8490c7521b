"""The band contract every Winograd kernel set keeps (F(2x2) and F(4x4) alike), checked by
tests/test_kernels_winograd.py and tests/test_kernels_winograd4.py: run band by band (ty0, R
tile rows), each kernel gives exactly its whole-image result."""

from __future__ import annotations

import numpy as np


def bands(th, rows):
    return [(ty0, min(rows, th - ty0)) for ty0 in range(0, th, rows)]


def check_bands(kernel, prefix, a, tiles, shape, reflect, rows, seed, tol_v, tol_dx):
    """``kernel(name)`` gives a kernel of the set named ``prefix + "_input"`` etc.; ``a``
    transform positions; ``tiles = (th, tw)``. Input and output-adjoint bands are slices of
    the whole, output bands write disjoint rows, and input-adjoint bands (which overlap by two
    padded rows) add up to the whole."""
    C, H, W = shape
    th, tw = tiles
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    M, b = rng.standard_normal((a, C, th * tw)), rng.standard_normal(C)
    whole_V, whole_out = np.zeros((a, C, th * tw)), np.zeros(shape)
    whole_dM, whole_dx = np.zeros((a, C, th * tw)), np.zeros(shape)
    kernel(prefix + "_input")(x, reflect, whole_V)
    kernel(prefix + "_output")(M, b, whole_out)
    kernel(prefix + "_output_adjoint")(x, whole_dM)
    kernel(prefix + "_input_adjoint")(M, reflect, whole_dx)
    out, dx = np.full(shape, np.nan), np.zeros(shape)
    for ty0, r in bands(th, rows):
        t0, t1 = ty0 * tw, (ty0 + r) * tw
        V, dM = np.full((a, C, t1 - t0), np.nan), np.full((a, C, t1 - t0), np.nan)
        kernel(prefix + "_input")(x, reflect, V, ty0)
        np.testing.assert_allclose(V, whole_V[:, :, t0:t1], rtol=1e-14, atol=tol_v)
        kernel(prefix + "_output_adjoint")(x, dM, ty0)
        np.testing.assert_array_equal(dM, whole_dM[:, :, t0:t1])
        band = np.ascontiguousarray(M[:, :, t0:t1])
        kernel(prefix + "_output")(band, b, out, ty0)
        kernel(prefix + "_input_adjoint")(band, reflect, dx, ty0)
    np.testing.assert_allclose(out, whole_out, rtol=1e-14, atol=tol_v)
    np.testing.assert_allclose(dx, whole_dx, rtol=1e-13, atol=tol_dx)
