"""Tests for tinydip.codec.targets: the k choice and the bisection on the step factor
(with a stand-in encoder: file size and PSNR as known functions of the factor)."""

import math
from types import SimpleNamespace

import pytest

from tinydip.codec.targets import K_LADDER, _bisect, estimate_bytes, k_for_bytes


def fake(f: float):
    """Coarser steps (larger f): fewer bytes, lower PSNR -- like a real encoder."""
    return SimpleNamespace(nbytes=int(2000 - 300 * math.log2(f)), psnr=25 - 2 * math.log2(f),
                           interrupted_by=None, f=f)


def test_size_target_takes_the_finest_steps_that_fit():
    seen = []

    def run(f):
        seen.append(f)
        return fake(f)

    r = _bisect(run, lambda r: r.nbytes <= 1500, want_small_factor=True)
    assert r.nbytes <= 1500
    assert r.nbytes > 1500 - 300 * 0.2  # within ~0.15 of log2(f*) (6 halvings of [0, 6])
    assert len(seen) == 7 and seen[0] == 1.0


def test_psnr_target_takes_the_coarsest_steps_that_reach_it():
    r = _bisect(fake, lambda r: r.psnr >= 26.0, want_small_factor=False)  # needs f < 1
    assert 26.0 <= r.psnr < 26.0 + 2 * 0.2


def test_unreachable_targets_return_the_nearest_result():
    r = _bisect(fake, lambda r: r.nbytes <= 10, want_small_factor=True)
    assert r.nbytes > 10 and r.f > 30  # the coarsest tried
    r = _bisect(fake, lambda r: r.psnr >= 99, want_small_factor=False)
    assert r.psnr > 25 + 2 * 3.5  # the finest tried


def test_an_interrupted_encode_ends_the_search():
    calls = []

    def run(f):
        calls.append(f)
        return SimpleNamespace(**{**vars(fake(f)), "interrupted_by": "SIGINT"})

    assert _bisect(run, lambda r: True, want_small_factor=True).interrupted_by == "SIGINT"
    assert calls == [1.0]


def test_k_for_bytes_is_monotone_and_within_the_estimate():
    ks = [k_for_bytes(n, 6, 3, 8) for n in (500, 1500, 2000, 4000, 8000, 30000)]
    assert ks == sorted(ks) and ks[0] == K_LADDER[0]
    for n, k in zip((1500, 2000, 4000, 8000, 30000), ks[1:]):
        assert estimate_bytes(k, 6, 3, 8) <= n
        wider = [x for x in K_LADDER if x > k]
        assert not wider or estimate_bytes(wider[0], 6, 3, 8) > n


@pytest.mark.parametrize("bits", [6, 8])
def test_estimate_grows_with_k_and_bits(bits):
    assert estimate_bytes(16, 6, 3, bits) < estimate_bytes(20, 6, 3, bits)
    assert estimate_bytes(16, 6, 3, bits - 1) < estimate_bytes(16, 6, 3, bits)
