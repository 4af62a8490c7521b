"""tinydip.kernels.block_match: block matching and aggregation against brute-force NumPy,
jitted and plain, any thread count; planted off-by-one mistakes are caught."""

from __future__ import annotations

import importlib
import inspect
import textwrap

import numpy as np
import pytest

# the module (``tinydip.kernels.block_match`` is also the name of the jitted function)
bm = importlib.import_module("tinydip.kernels.block_match")


def match_reference(img, refs, p, radius, max_group, tau):
    """Every candidate's mean squared difference in scan order, the reference forced first,
    the rest filtered by tau, a stable sort, the first max_group kept."""
    H, W = img.shape
    out = []
    for r0, c0 in refs:
        cands, dists = [], []
        for i in range(max(0, r0 - radius), min(H - p, r0 + radius) + 1):
            for j in range(max(0, c0 - radius), min(W - p, c0 + radius) + 1):
                d = np.mean((img[i:i + p, j:j + p] - img[r0:r0 + p, c0:c0 + p]) ** 2)
                if (i, j) == (r0, c0):
                    d = -1.0
                elif d > tau:
                    continue
                cands.append((i, j))
                dists.append(d)
        order = np.argsort(dists, kind="stable")[:max_group]
        out.append([cands[k] for k in order])
    return out


def _run(fn, img, refs, p, radius, max_group, tau):
    idx = np.full((len(refs), max_group, 2), -7, dtype=np.int64)
    count = np.zeros(len(refs), dtype=np.int64)
    fn(img, refs, p, radius, max_group, tau, idx, count)
    return [[tuple(int(v) for v in idx[r, k]) for k in range(count[r])]
            for r in range(len(refs))]


def _image_and_refs(seed=0, shape=(13, 11), p=3):
    rng = np.random.default_rng(seed)
    img = rng.uniform(0, 1, shape)
    rows, cols = np.arange(0, shape[0] - p + 1, 2), np.arange(0, shape[1] - p + 1, 3)
    refs = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    return img, refs


@pytest.mark.parametrize("impl", ["jit", "plain"])
@pytest.mark.parametrize("radius,max_group,tau", [(2, 4, np.inf), (4, 8, 0.12), (20, 2, 0.1),
                                                  (0, 4, np.inf), (3, 1, np.inf)])
def test_block_match_matches_brute_force(impl, radius, max_group, tau):
    img, refs = _image_and_refs()
    fn = bm.block_match if impl == "jit" else bm._block_match
    got = _run(fn, img, refs, 3, radius, max_group, tau)
    assert got == match_reference(img, refs, 3, radius, max_group, tau)
    assert all(g[0] == tuple(r) for g, r in zip(got, refs.tolist(), strict=True))


def test_block_match_keeps_the_earlier_of_equal_patches():
    img = np.zeros((6, 6))  # every patch is equally good
    refs = np.array([[2, 2]])
    got = _run(bm.block_match, img, refs, 2, 1, 4, np.inf)
    assert got == [[(2, 2), (1, 1), (1, 2), (1, 3)]]


def _planted(name, old, new):
    """The plain kernel ``_name`` with ``old`` replaced by ``new`` in its source."""
    src = textwrap.dedent(inspect.getsource(getattr(bm, "_" + name)))
    assert old in src, f"planted mistake no longer applies: {old!r}"
    space = dict(vars(bm))
    exec(compile(src.replace(old, new), "<planted>", "exec"), space)  # noqa: S102
    return space["_" + name]


def test_brute_force_check_catches_a_search_window_off_by_one():
    img, refs = _image_and_refs()
    bad = _planted("block_match", "min(W - p, c0 + radius) + 1", "min(W - p, c0 + radius)")
    assert _run(bad, img, refs, 3, 2, 4, np.inf) != match_reference(img, refs, 3, 2, 4,
                                                                     np.inf)


def aggregate_reference(shape, est, corners, weight, window):
    num, den = np.zeros(shape), np.zeros(shape)
    G, n, C, p, _ = est.shape
    for g in range(G):
        for m in range(n):
            r0, c0 = corners[g, m]
            for c in range(C):
                num[c, r0:r0 + p, c0:c0 + p] += weight[g, c] * window * est[g, m, c]
                den[c, r0:r0 + p, c0:c0 + p] += weight[g, c] * window
    return num, den


def _aggregate_args(seed=0):
    rng = np.random.default_rng(seed)
    C, H, W, G, n, p = 3, 9, 10, 5, 4, 3
    est = rng.standard_normal((G, n, C, p, p))
    corners = np.stack([rng.integers(0, H - p + 1, (G, n)), rng.integers(0, W - p + 1, (G, n))],
                       -1).astype(np.int64)  # (G, n, 2), overlapping on purpose
    weight, window = rng.uniform(0.1, 2, (G, C)), rng.uniform(0.1, 1, (p, p))
    return (C, H, W), est, corners, weight, window


@pytest.mark.parametrize("impl", ["jit", "plain"])
def test_aggregate_matches_reference_and_accumulates(impl):
    shape, est, corners, weight, window = _aggregate_args()
    num, den = np.ones(shape), np.full(shape, 2.0)  # accumulates: += onto what is there
    (bm.aggregate if impl == "jit" else bm._aggregate)(num, den, est, corners, weight, window)
    ref_num, ref_den = aggregate_reference(shape, est, corners, weight, window)
    np.testing.assert_allclose(num, ref_num + 1, rtol=1e-12)
    np.testing.assert_allclose(den, ref_den + 2, rtol=1e-12)


def test_aggregate_check_catches_a_transposed_window():
    shape, est, corners, weight, window = _aggregate_args()
    bad = _planted("aggregate", "ww = w * window[a, b]", "ww = w * window[b, a]")
    num, den = np.zeros(shape), np.zeros(shape)
    bad(num, den, est, corners, weight, window)
    ref_num, _ = aggregate_reference(shape, est, corners, weight, window)
    assert np.abs(num - ref_num).max() > 1e-3


def test_jitted_equals_plain_and_one_thread(kernel_runs):
    img, refs = _image_and_refs(1)
    build = lambda: (img, refs, 3, 3, 4, 0.2, np.zeros((len(refs), 4, 2), np.int64),  # noqa: E731
                     np.zeros(len(refs), np.int64))
    for a, b, c in zip(*kernel_runs(bm.block_match, build), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    shape, est, corners, weight, window = _aggregate_args(1)
    build = lambda: (np.zeros(shape), np.zeros(shape), est, corners, weight, window)  # noqa: E731
    for a, b, c in zip(*kernel_runs(bm.aggregate, build), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
        np.testing.assert_array_equal(a, c)


def gather_reference(planes, corners, p):
    G, n = corners.shape[:2]
    return np.array([[planes[:, r0:r0 + p, c0:c0 + p] for r0, c0 in corners[g]]
                     for g in range(G)]).reshape(G, n, planes.shape[0], p, p)


@pytest.mark.parametrize("impl", ["jit", "plain"])
def test_gather_matches_reference(impl):
    shape, _, corners, _, _ = _aggregate_args()
    planes = np.random.default_rng(3).standard_normal(shape)  # (C, H, W)
    out = np.full((*corners.shape[:2], shape[0], 3, 3), np.nan)
    (bm.gather if impl == "jit" else bm._gather)(planes, corners, 3, out)
    np.testing.assert_array_equal(out, gather_reference(planes, corners, 3))


def test_gather_check_catches_swapped_corner_coordinates():
    shape, _, corners, _, _ = _aggregate_args()
    planes = np.random.default_rng(3).standard_normal(shape)
    bad = _planted("gather", "planes[c, r0 + a, c0 + b]", "planes[c, r0 + b, c0 + a]")
    out = np.zeros((*corners.shape[:2], shape[0], 3, 3))
    bad(planes, corners, 3, out)
    assert np.abs(out - gather_reference(planes, corners, 3)).max() > 1e-3


def test_gather_jitted_equals_plain_and_one_thread(kernel_runs):
    shape, _, corners, _, _ = _aggregate_args(2)
    planes = np.random.default_rng(4).standard_normal(shape)
    build = lambda: (planes, corners, 3, np.zeros((*corners.shape[:2], shape[0], 3, 3)))  # noqa: E731
    for a, b, c in zip(*kernel_runs(bm.gather, build), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
