"""Tests for tinydip.codec.entropy: every coder round-trips; corrupt streams are refused."""

import sys

import numpy as np
import pytest

from tinydip.codec import entropy as e
from tinydip.codec.header import CodecError

RNG = np.random.default_rng(0)


def streams():
    out = []
    for n, b, shift in ((256, 5.0, 0), (16, 0.3, 300), (48, 40.0, -7), (1, 1.0, 2)):
        q = (np.rint(RNG.laplace(0, b, n)) + shift).astype(np.int32)
        mean, scale = e.fit_laplace(q)
        out.append(e.Stream(q, int(q.min()), int(q.max()), mean, scale))
    out.append(e.Stream(np.full(7, -3, np.int32), -3, -3))  # constant: costs nothing
    out.append(e.Stream(np.zeros(0, np.int32), 0, 0))
    return out


def specs(ss):
    return [e.StreamSpec(s.codes.size, s.lo, s.hi, s.mean, s.scale) for s in ss]


@pytest.mark.parametrize("coder", e.CODERS)
def test_round_trip(coder):
    if coder == "ans" and not e.ans_available():
        pytest.skip("constriction not installed")
    ss = streams()
    out = e.decode(e.encode(ss, coder), specs(ss), coder)
    assert len(out) == len(ss)
    for got, s in zip(out, ss):
        assert got.dtype == np.int32 and np.array_equal(got, s.codes)


def test_ans_beats_the_packed_coders_on_laplace_codes():
    pytest.importorskip("constriction")
    q = np.rint(RNG.laplace(0, 3.0, 4000)).astype(np.int32)
    mean, scale = e.fit_laplace(q)
    s = [e.Stream(q, int(q.min()), int(q.max()), mean, scale)]
    sizes = {c: len(e.encode(s, c)) for c in e.CODERS}
    assert sizes["ans"] < 0.9 * min(sizes["lzma"], sizes["zlib"]), sizes
    # within 2% of the ideal code length under the (float16) model
    from scipy.stats import laplace
    p = laplace.cdf(q + 0.5, mean, scale) - laplace.cdf(q - 0.5, mean, scale)
    assert sizes["ans"] <= 1.02 * -np.log2(p).sum() / 8 + 8


def test_fit_laplace_is_float16_and_positive():
    mean, scale = e.fit_laplace(np.array([5, 5, 5, 5], np.int32))
    assert scale == 2.0 ** -4 and mean == 5.0
    mean, scale = e.fit_laplace(np.array([0, 1000], np.int32))
    assert float(np.float16(mean)) == mean and float(np.float16(scale)) == scale


@pytest.mark.parametrize("coder", e.CODERS)
def test_corrupt_payloads_are_codec_errors(coder):
    if coder == "ans" and not e.ans_available():
        pytest.skip("constriction not installed")
    ss = streams()
    data = e.encode(ss, coder)
    sp = specs(ss)
    for bad in (data[:-1], data + b"\x01\x00\x00\x00", b"", bytes(len(data))):
        try:
            out = e.decode(bad, sp, coder)
        except CodecError:
            continue
        # a stream of the right shape may decode to other codes, but never out of range
        for got, s in zip(out, sp):
            assert got.shape == (s.count,) and (got.size == 0 or s.lo <= got.min() <= got.max()
                                                <= s.hi)


def test_a_wrong_stream_count_is_detected():
    pytest.importorskip("constriction")
    ss = streams()
    data = e.encode(ss, "ans")
    with pytest.raises(CodecError, match="more data than the header describes"):
        e.decode(data, specs(ss)[1:], "ans")


def test_missing_constriction_is_one_clear_error(monkeypatch):
    ss = streams()
    data = e.encode(ss, "ans") if e.ans_available() else b"\x00" * 8
    monkeypatch.setitem(sys.modules, "constriction", None)
    assert not e.ans_available()
    with pytest.raises(CodecError, match=r"needs the optional 'constriction' package: "
                                         r"pip install 'tinydip\[codec\]'"):
        e.decode(data, specs(ss), "ans")


def test_bad_models_are_refused():
    with pytest.raises(CodecError, match="bad entropy model"):
        e.check_model(0.0, 0.0, 0, 3)
    with pytest.raises(CodecError, match="bad entropy model"):
        e.check_model(float("nan"), 1.0, 0, 3)
    with pytest.raises(CodecError, match="bad entropy model"):
        e.check_model(0.0, 1.0, 4, 3)


def test_empty_or_short_ans_payload_is_refused_not_a_flat_image():  # issue 27
    if not e.ans_available():
        pytest.skip("constriction not installed")
    ss = streams()
    with pytest.raises(CodecError, match="ANS payload is empty but the header describes"):
        e.decode(b"", specs(ss), "ans")
    only_first = e.encode(ss[:1], "ans")  # a payload holding the first tensor only
    with pytest.raises(CodecError, match="corrupt: the ANS payload"):
        e.decode(only_first, specs(ss), "ans")
    constant = [e.Stream(np.full(5, 2, np.int32), 2, 2)]  # nothing to code: empty is right
    assert np.array_equal(e.decode(b"", specs(constant), "ans")[0], np.full(5, 2))
