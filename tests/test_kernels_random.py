"""tinydip.kernels.random: the counter-based Gaussian jitter, against a plain-Python
reference bit for bit, for its distribution, and for independence of thread count and step."""

import math

import numba
import numpy as np
import pytest
from scipy import stats

from tinydip.kernels import random as R
from tinydip.kernels.random import ZIG_RATIO, ZIG_X, gaussian_jitter, step_key

MASK = 2**64 - 1


# ----------------------------------------------------------------------------------------------
# a plain-Python reference on Python ints (no NumPy integer types, no numba)
# ----------------------------------------------------------------------------------------------
def ref_mix64(x: int) -> int:
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def ref_unit(h: int) -> float:
    return ((h >> 11) + 0.5) / 2.0**53


def ref_normal(h: int) -> float:
    X, ratio = ZIG_X.tolist(), ZIG_RATIO.tolist()
    while True:
        i, u = h & 127, 2.0 * ref_unit(h) - 1.0
        if abs(u) < ratio[i]:
            return u * X[i]
        h = ref_mix64(h)
        if i == 0:
            while True:
                x = math.log(ref_unit(h)) / R.R
                h = ref_mix64(h)
                y = math.log(ref_unit(h))
                h = ref_mix64(h)
                if -2.0 * y >= x * x:
                    return x - R.R if u < 0 else R.R - x
        x = u * X[i]
        f0 = math.exp(-0.5 * (X[i] * X[i] - x * x))
        f1 = math.exp(-0.5 * (X[i + 1] * X[i + 1] - x * x))
        if f1 + ref_unit(h) * (f0 - f1) < 1.0:
            return x
        h = ref_mix64(h)


def ref_jitter(z: np.ndarray, sigma: float, seed: int, step: int) -> np.ndarray:
    key = ref_mix64((seed + step * 0x9E3779B97F4A7C15 + 1) & MASK)
    flat = z.reshape(-1).astype(np.float64)
    eta = [ref_normal(ref_mix64((key + i * 0x9E3779B97F4A7C15) & MASK)) for i in range(flat.size)]
    return (flat + sigma * np.array(eta)).astype(z.dtype).reshape(z.shape)


def test_mix64_matches_python_ints():
    for x in (0, 1, 12345, 2**63, MASK):
        assert int(R.mix64(np.uint64(x))) == ref_mix64(x)


def test_step_key_matches_reference_and_wraps():
    for seed, step in ((0, 0), (7, 3), (2**63 - 1, 10**6)):
        assert int(step_key(seed, step)) == ref_mix64((seed + step * 0x9E3779B97F4A7C15 + 1) & MASK)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_matches_plain_python_reference(dtype):
    """Every element, fast path, wedges and tail alike (20k numbers reach all three)."""
    z = np.random.default_rng(0).standard_normal((2, 5, 40, 50)).astype(dtype)
    got = gaussian_jitter(z, 0.3, seed=11, step=4)
    want = ref_jitter(z, 0.3, 11, 4)
    np.testing.assert_array_equal(got, want) if dtype == np.float64 else \
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert got.dtype == dtype and got.shape == z.shape


def test_reference_reaches_the_slow_paths():
    """The reference test above is only worth something if it exercised wedges and tail."""
    hashes = [ref_mix64((ref_mix64(5) + i * 0x9E3779B97F4A7C15) & MASK) for i in range(20000)]
    fast = sum(abs(2 * ref_unit(h) - 1) < ZIG_RATIO[h & 127] for h in hashes)
    tail = sum((h & 127) == 0 and abs(2 * ref_unit(h) - 1) >= ZIG_RATIO[0] for h in hashes)
    assert 0.97 * 20000 < fast < 20000 and tail > 0


def test_tables_cut_the_density_into_equal_areas():
    """Ziggurat definition: strip i (1..127) is X[i] wide between f(X[i]) and f(X[i+1]); the
    base strip (rectangle up to R plus the tail) has the same area V."""
    f = lambda x: np.exp(-0.5 * x * x)  # noqa: E731
    X = ZIG_X
    areas = X[1:-1] * (f(X[2:]) - f(X[1:-1]))
    np.testing.assert_allclose(areas, R.V, rtol=1e-8)  # top strip: 1.2e-9
    tail = math.sqrt(math.pi / 2) * math.erfc(R.R / math.sqrt(2))
    assert X[1] * f(X[1]) + tail == pytest.approx(R.V, rel=1e-9)
    assert X[0] * f(X[1]) == pytest.approx(R.V, rel=1e-12)
    assert np.all(np.diff(X) < 0) and X[-1] == 0


def _sample(ratio=ZIG_RATIO, n_steps=8, seed=3):
    z = np.zeros(2**19, np.float64)
    out = np.empty_like(z)
    draws = []
    for s in range(n_steps):
        R.add_normal(z, 1.0, step_key(seed, s), ZIG_X, ratio, out)
        draws.append(out.copy())
    return np.concatenate(draws)


def normality_failures(x: np.ndarray) -> list[str]:
    """The checks a standard normal sample of this size passes (5-sigma bounds; fixed
    seeds make the figures fixed): which ones fail."""
    n, bad = x.size, []
    if abs(x.mean()) > 5 / math.sqrt(n):
        bad.append("mean")
    if abs(x.var() - 1) > 5 * math.sqrt(2 / n):
        bad.append("variance")
    if stats.kstest(x, "norm").pvalue < 1e-3:
        bad.append("Kolmogorov-Smirnov")
    edges = stats.norm.ppf(np.linspace(0, 1, 201)[1:-1])  # 200 equally likely bins
    counts = np.bincount(np.searchsorted(edges, x), minlength=200)
    if stats.chisquare(counts).pvalue < 1e-3:
        bad.append("chi-square")
    for t in (2.0, 3.0, 3.5, 4.0):  # tails, including beyond R = 3.44 (the tail sampler)
        p = 2 * stats.norm.sf(t)
        if abs(np.mean(np.abs(x) > t) - p) > 5 * math.sqrt(p / n):
            bad.append(f"tail beyond {t}")
    return bad


def test_distribution_is_standard_normal():
    x = _sample()  # 4M numbers
    assert normality_failures(x) == []
    assert np.abs(x).max() > 4.5


def test_checker_catches_a_ziggurat_without_its_rejection_tests():
    """Planted bug: every draw on the fast path (ratio 1: wedges and tail never tested)."""
    bad = normality_failures(_sample(ratio=np.ones_like(ZIG_RATIO)))
    assert "chi-square" in bad and "tail beyond 4.0" in bad


def test_checker_catches_a_wrong_scale():
    """Planted bug: 2% too wide (a wrong constant in the tables)."""
    assert "variance" in normality_failures(1.02 * _sample(n_steps=2))


def test_steps_and_seeds_are_independent_and_reproducible():
    z = np.zeros((1, 8, 64, 64), np.float32)
    a, b = gaussian_jitter(z, 1.0, 5, 0), gaussian_jitter(z, 1.0, 5, 1)
    c = gaussian_jitter(z, 1.0, 6, 0)
    for u, v in ((a, b), (a, c)):
        assert abs(np.corrcoef(u.ravel(), v.ravel())[0, 1]) < 5 / math.sqrt(u.size)
    np.testing.assert_array_equal(a, gaussian_jitter(z, 1.0, 5, 0))
    flat = a.ravel()
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 5 / math.sqrt(flat.size)


def test_any_thread_count_gives_the_same_bits():
    z = np.zeros((1, 4, 96, 96), np.float32)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = gaussian_jitter(z, 0.5, 9, 2)
        numba.set_num_threads(before)
        many = gaussian_jitter(z, 0.5, 9, 2)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, many)


def test_in_place_and_sigma_zero():
    z = np.random.default_rng(1).random((1, 2, 8, 8)).astype(np.float32)
    want = gaussian_jitter(z, 0.1, 1, 1)
    zz = z.copy()
    assert gaussian_jitter(zz, 0.1, 1, 1, out=zz) is zz
    np.testing.assert_array_equal(zz, want)
    np.testing.assert_array_equal(gaussian_jitter(z, 0.0, 1, 1), z)
