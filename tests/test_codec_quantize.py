"""Tests for tinydip.codec.quantize: affine quantisation, float16/32 modes, bit-packing."""

import numpy as np
import pytest

from tinydip.codec.quantize import (
    PACKINGS,
    QTensor,
    dequantize,
    pack_codes,
    packed_size,
    qtensor_from_bytes,
    qtensor_to_bytes,
    quantize,
    stored_nbytes,
    unpack_codes,
)

CODE_BITS = list(range(2, 16))


@pytest.fixture
def weights() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((64, 32, 1, 1)) + 0.02).astype(np.float32)


@pytest.mark.parametrize("bits", CODE_BITS)
def test_error_bound_and_codes(weights, bits):
    qt = quantize(weights, bits)
    assert qt.kind == "codes" and qt.shape == weights.shape
    assert qt.data.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert qt.data.min() == 0 and qt.data.max() == 2**bits - 1
    assert isinstance(qt.scale, float) and np.float32(qt.scale) == qt.scale
    rec = dequantize(qt)
    assert rec.dtype == np.float32 and rec.shape == weights.shape
    eps = 1e-6 * np.abs(weights).max()
    assert np.all(np.abs(rec - weights) <= qt.scale / 2 + eps)
    # the grid spans the data: scale * (2^bits - 1) ~= range
    assert np.isclose(qt.scale * (2**bits - 1), np.ptp(weights), rtol=1e-5)


@pytest.mark.parametrize("bits", CODE_BITS)
def test_idempotent(weights, bits):
    qt = quantize(weights, bits)
    again = quantize(dequantize(qt), bits)
    np.testing.assert_array_equal(again.data, qt.data)
    assert np.isclose(again.scale, qt.scale, rtol=1e-5)
    assert again.offset == qt.offset


def test_more_bits_less_error(weights):
    errs = [np.abs(dequantize(quantize(weights, b)) - weights).max() for b in CODE_BITS]
    assert all(e2 < e1 for e1, e2 in zip(errs, errs[1:], strict=False))


@pytest.mark.parametrize("bits", [2, 8, 12, 16, 32])
@pytest.mark.parametrize("value", [0.0, -3.5, 1e-3])
def test_constant_tensor(bits, value):
    a = np.full((5, 3), value, np.float32)
    qt = quantize(a, bits)
    assert np.all(np.isfinite(dequantize(qt)))
    np.testing.assert_allclose(dequantize(qt), a, rtol=1e-3)
    if bits < 16:
        assert qt.scale == 0.0 and np.all(qt.data == 0)
        np.testing.assert_array_equal(dequantize(qt), a)


@pytest.mark.parametrize("bits", [4, 16, 32])
def test_empty_and_scalar(bits):
    for a in (np.zeros((0, 3), np.float32), np.float32(2.5)):
        rec = dequantize(quantize(a, bits))
        assert rec.shape == np.shape(a)
        np.testing.assert_array_equal(rec, a)


def test_float16_relative_error(weights):
    a = np.concatenate([weights.ravel(), [1e-6, -7e-5, 300.0, 65000.0]]).astype(np.float32)
    qt = quantize(a, 16)
    assert qt.kind == "float16" and qt.data.dtype == np.float16
    err = np.abs(dequantize(qt) - a)
    # half precision: 11 significant bits -> relative error <= 2^-11; subnormals 2^-25
    assert np.all(err <= 2.0**-11 * np.abs(a) + 2.0**-25)


def test_float32_lossless(weights):
    qt = quantize(weights, 32)
    assert qt.kind == "float32"
    np.testing.assert_array_equal(dequantize(qt), weights)


def test_float64_and_integer_input():
    a = np.linspace(-1, 1, 50)  # float64
    assert np.abs(dequantize(quantize(a, 8)) - a).max() <= 1 / 255 + 1e-6
    b = np.arange(16, dtype=np.int16)  # 16 levels of 4 bits: scale 1, exact
    np.testing.assert_array_equal(dequantize(quantize(b, 4)), b.astype(np.float32))


@pytest.mark.parametrize("bits", [0, 1, 17, 24, 33, 8.0, True, "8"])
def test_invalid_bits(weights, bits):
    with pytest.raises(ValueError, match="bits"):
        quantize(weights, bits)


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan]), np.array([np.inf, 0.0]),
                                 np.array([1 + 2j]), np.array([True, False])])
def test_invalid_values(bad):
    with pytest.raises(ValueError):
        quantize(bad, 8)


def test_float16_overflow_rejected():
    with pytest.raises(ValueError, match="float16"):
        quantize(np.array([1e6], np.float32), 16)


# ----------------------------------------------------------------------------- packing


@pytest.mark.parametrize("bits", range(1, 17))
@pytest.mark.parametrize("count", [0, 1, 7, 8, 9, 1001])
def test_pack_roundtrip(bits, count):
    rng = np.random.default_rng(bits * 1000 + count)
    q = rng.integers(0, 2**bits, size=count)
    if count:
        q[0] = 2**bits - 1  # extreme values
        q[-1] = 0
    b = pack_codes(q, bits)
    assert isinstance(b, bytes)
    assert len(b) == packed_size(count, bits) == (count * bits + 7) // 8
    out = unpack_codes(b, bits, count)
    assert out.dtype == (np.uint8 if bits <= 8 else np.uint16)
    np.testing.assert_array_equal(out, q)


def test_pack_bit_order():
    # little-endian bitstream: 3-bit codes 1, 2, 7 -> bits 100 010 111 -> 0b11010001, 0b1
    assert pack_codes(np.array([1, 2, 7]), 3) == bytes([0b11010001, 0b00000001])
    assert pack_codes(np.array([0x1234]), 16) == b"\x34\x12"
    assert pack_codes(np.array([5, 250]), 8) == bytes([5, 250])


def test_six_bits_really_cost_six_bits():
    q = np.random.default_rng(1).integers(0, 64, size=25536)
    assert len(pack_codes(q, 6)) == 25536 * 6 // 8


def test_pack_errors():
    with pytest.raises(ValueError, match="out of range"):
        pack_codes(np.array([8]), 3)
    with pytest.raises(ValueError, match="out of range"):
        pack_codes(np.array([-1]), 3)
    with pytest.raises(ValueError):
        pack_codes(np.array([1.5]), 3)
    with pytest.raises(ValueError):
        pack_codes(np.array([1]), 17)
    with pytest.raises(ValueError, match="need"):
        unpack_codes(b"\x00" * 3, 3, 3)  # 9 bits need 2 bytes


@pytest.mark.parametrize("packing", PACKINGS)
@pytest.mark.parametrize("bits", [2, 5, 8, 11, 15, 16, 32])
def test_qtensor_bytes_roundtrip(weights, packing, bits):
    qt = quantize(weights, bits)
    b = qtensor_to_bytes(qt, packing)
    assert len(b) == stored_nbytes(qt.size, bits, packing)
    back = qtensor_from_bytes(b, bits, qt.shape, qt.scale, qt.offset, packing)
    assert isinstance(back, QTensor)
    np.testing.assert_array_equal(back.data, qt.data)
    np.testing.assert_array_equal(dequantize(back), dequantize(qt))


def test_planes_layout_is_byte_transposed():
    qt = QTensor(12, (2,), np.array([0x0102, 0x0304], np.uint16), 1.0, 0.0)
    assert qtensor_to_bytes(qt, "planes") == bytes([0x02, 0x04, 0x01, 0x03])
    assert qtensor_to_bytes(qt, "dense") == bytes([0x02, 0x41, 0x30])


def test_qtensor_from_bytes_rejects_bad_input():
    with pytest.raises(ValueError, match="needs"):
        qtensor_from_bytes(b"\x00" * 3, 6, (5,), 1.0, 0.0, "planes")
    with pytest.raises(ValueError, match="out of range"):
        qtensor_from_bytes(bytes([200]), 6, (1,), 1.0, 0.0, "planes")
