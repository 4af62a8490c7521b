"""Uniform per-tensor quantisation and dense bit-packing of integer codes.

A fitted Deep Decoder *is* its weights, so storing an image means storing a few
tens of thousands of floats compactly. This module turns one float tensor into a
:class:`QTensor` (integer codes + an affine map back to floats) and packs the codes
into a byte string that spends exactly ``bits`` bits per value.

Supported precisions (``bits``):

* ``2 .. 15`` -- affine integer codes (uint8 for ``bits <= 8``, uint16 otherwise);
* ``16``      -- IEEE half precision (``float16``) values, no codes;
* ``32``      -- raw ``float32`` values (lossless for float32 input).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CODE_BITS = range(2, 16)
"""Bit widths stored as affine integer codes."""
VALID_BITS = (*CODE_BITS, 16, 32)
"""Every accepted value of ``bits``."""


@dataclass(frozen=True)
class QTensor:
    """A quantised tensor.

    Attributes
    ----------
    bits:
        Precision, one of :data:`VALID_BITS`.
    shape:
        Shape of the original tensor.
    data:
        Flat array: integer codes (``kind == "codes"``), float16 or float32 values.
    scale, offset:
        float32 affine parameters; dequantised values are ``offset + scale * code``.
        They are ``1.0`` and ``0.0`` for the float kinds.
    """

    bits: int
    shape: tuple[int, ...]
    data: np.ndarray
    scale: float = 1.0
    offset: float = 0.0

    @property
    def kind(self) -> str:
        """``"codes"``, ``"float16"`` or ``"float32"``."""
        return kind_for_bits(self.bits)

    @property
    def size(self) -> int:
        """Number of stored values."""
        return int(np.prod(self.shape, dtype=np.int64))


def kind_for_bits(bits: int) -> str:
    """Storage kind used for a bit width (raises ``ValueError`` for unsupported widths)."""
    check_bits(bits)
    if bits == 32:
        return "float32"
    if bits == 16:
        return "float16"
    return "codes"


def check_bits(bits: int) -> None:
    """Raise ``ValueError`` unless ``bits`` is one of :data:`VALID_BITS`."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits not in VALID_BITS:
        raise ValueError(f"bits must be an integer in 2..16 or 32, got {bits!r}")


def code_dtype(bits: int) -> np.dtype:
    """Smallest unsigned dtype holding ``bits``-bit codes (uint8 or uint16)."""
    if not 1 <= bits <= 16:
        raise ValueError(f"codes must have 1..16 bits, got {bits}")
    return np.dtype(np.uint8) if bits <= 8 else np.dtype(np.uint16)


def quantize(a: np.ndarray, bits: int) -> QTensor:
    """Quantise a real tensor with a uniform per-tensor affine grid.

    Parameters
    ----------
    a:
        Real, finite array of any shape (converted to float64 for the arithmetic).
    bits:
        2..15 for integer codes, 16 for float16, 32 for raw float32.

    Notes
    -----
    With ``L = 2^bits - 1`` levels, ``m = min(a)`` and ``M = max(a)``:

        scale  = fl32((M - m) / L),   offset = fl32(m)
        q      = clip(round((a - offset) / scale), 0, L)
        a_hat  = offset + scale * q

    so ``|a - a_hat| <= scale / 2`` up to float32 rounding of ``offset``/``scale``.
    A constant tensor gets ``scale = 0`` and all codes 0 (``a_hat = offset`` exactly).
    Re-quantising ``a_hat`` reproduces the same codes: its minimum is exactly
    ``offset`` and its range is ``L * scale`` (up to float32 rounding).
    """
    check_bits(bits)
    bits = int(bits)
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise ValueError(f"can only quantise real numeric arrays, got dtype {arr.dtype}")
    shape = tuple(int(s) for s in arr.shape)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError("cannot quantise a tensor containing NaN or infinity")
    flat = arr.reshape(-1)
    if bits == 32:
        return QTensor(bits, shape, flat.astype(np.float32))
    if bits == 16:
        if flat.size and np.max(np.abs(flat)) > np.finfo(np.float16).max:
            raise ValueError("values exceed the float16 range (65504); use bits=32")
        return QTensor(bits, shape, flat.astype(np.float16))

    levels = (1 << bits) - 1
    x = flat.astype(np.float64)
    if x.size == 0:
        return QTensor(bits, shape, np.zeros(0, code_dtype(bits)), 0.0, 0.0)
    offset = np.float32(x.min())
    scale = np.float32((x.max() - float(offset)) / levels)
    if scale == 0 or not np.isfinite(scale):
        q = np.zeros(x.shape, code_dtype(bits))
        return QTensor(bits, shape, q, 0.0, float(offset))
    q = np.clip(np.rint((x - float(offset)) / float(scale)), 0, levels)
    return QTensor(bits, shape, q.astype(code_dtype(bits)), float(scale), float(offset))


def dequantize(qt: QTensor) -> np.ndarray:
    """Return the float32 approximation of the original tensor, in its original shape.

    Notes
    -----
    For integer codes, ``a_hat = fl32(offset + scale * q)`` evaluated in float64.
    """
    if qt.kind == "codes":
        vals = np.float64(qt.offset) + np.float64(qt.scale) * qt.data.astype(np.float64)
    else:
        vals = qt.data
    return np.asarray(vals, dtype=np.float32).reshape(qt.shape)


def packed_size(count: int, bits: int) -> int:
    """Bytes taken by ``count`` codes of ``bits`` bits: ``ceil(count * bits / 8)``."""
    return (count * bits + 7) // 8


def pack_codes(q: np.ndarray, bits: int) -> bytes:
    """Pack unsigned integer codes densely, ``bits`` bits each.

    Notes
    -----
    Little-endian bitstream: code ``i`` occupies stream bits ``i*bits .. i*bits+bits-1``,
    least-significant bit first, and stream bit ``j`` is bit ``j % 8`` of byte ``j // 8``.
    The last byte is zero-padded. For ``bits = 8`` this is the plain byte array and for
    ``bits = 16`` the little-endian uint16 array, so those take a fast path.
    """
    if not 1 <= bits <= 16:
        raise ValueError(f"can only pack codes of 1..16 bits, got {bits}")
    codes = np.asarray(q).reshape(-1)
    if codes.size and (codes.dtype.kind not in "iu"):
        raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= (1 << bits)):
        raise ValueError(f"codes out of range for {bits} bits: [{codes.min()}, {codes.max()}]")
    if bits == 8:
        return codes.astype(np.uint8).tobytes()
    if bits == 16:
        return codes.astype("<u2").tobytes()
    shifts = np.arange(bits, dtype=np.uint32)
    planes = (codes.astype(np.uint32)[:, None] >> shifts) & 1
    return np.packbits(planes.astype(np.uint8).reshape(-1), bitorder="little").tobytes()


def unpack_codes(b: bytes, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`; ``b`` must have exactly ``packed_size(count, bits)`` bytes.

    Returns uint8 codes for ``bits <= 8`` and uint16 otherwise.
    """
    if not 1 <= bits <= 16:
        raise ValueError(f"can only unpack codes of 1..16 bits, got {bits}")
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    need = packed_size(count, bits)
    if len(b) != need:
        raise ValueError(f"{count} codes of {bits} bits need {need} bytes, got {len(b)}")
    raw = np.frombuffer(b, dtype=np.uint8)
    if bits == 8:
        return raw.copy()
    if bits == 16:
        return np.frombuffer(b, dtype="<u2").astype(np.uint16)
    stream = np.unpackbits(raw, bitorder="little")[: count * bits].reshape(count, bits)
    shifts = np.arange(bits, dtype=np.uint32)
    return (stream.astype(np.uint32) << shifts).sum(axis=1).astype(code_dtype(bits))


# ------------------------------------------------------------------ whole-tensor layouts

PACKINGS = ("dense", "planes")
"""Byte layouts of a quantised tensor, see :func:`qtensor_to_bytes`."""


def value_bytes(bits: int) -> int:
    """Whole bytes per value in the ``"planes"`` layout (1, 2 or 4)."""
    check_bits(bits)
    return 1 if bits <= 8 else 2 if bits <= 16 else 4


def stored_nbytes(count: int, bits: int, packing: str) -> int:
    """Length of :func:`qtensor_to_bytes` output for ``count`` values."""
    if packing not in PACKINGS:
        raise ValueError(f"packing must be one of {PACKINGS}, got {packing!r}")
    if packing == "dense" and kind_for_bits(bits) == "codes":
        return packed_size(count, bits)
    return count * value_bytes(bits)


def qtensor_to_bytes(qt: QTensor, packing: str) -> bytes:
    """Serialise the values of ``qt`` (not its scale/offset/shape).

    Notes
    -----
    ``"dense"``: codes via :func:`pack_codes` (exactly ``bits`` bits each); float16 and
    float32 values as little-endian words. ``"planes"``: every value as a little-endian
    word of :func:`value_bytes` bytes, then byte-plane transposed -- all first bytes,
    then all second bytes, ... Byte-oriented compressors (lzma, zlib) see one symbol
    per byte, and the slowly varying high bytes of wide words sit together.
    """
    if packing not in PACKINGS:
        raise ValueError(f"packing must be one of {PACKINGS}, got {packing!r}")
    if packing == "dense" and qt.kind == "codes":
        return pack_codes(qt.data, qt.bits)
    width = value_bytes(qt.bits)
    dtype = {"codes": f"<u{width}", "float16": "<f2", "float32": "<f4"}[qt.kind]
    words = np.ascontiguousarray(qt.data, dtype=dtype)
    if packing == "dense":
        return words.tobytes()
    return words.view(np.uint8).reshape(-1, width).T.tobytes()


def qtensor_from_bytes(
    b: bytes, bits: int, shape: tuple[int, ...], scale: float, offset: float, packing: str
) -> QTensor:
    """Inverse of :func:`qtensor_to_bytes`; raises ``ValueError`` on a length mismatch."""
    count = int(np.prod(shape, dtype=np.int64))
    need = stored_nbytes(count, bits, packing)
    if len(b) != need:
        raise ValueError(f"tensor of {count} values at {bits} bits needs {need} bytes, "
                         f"got {len(b)}")
    kind = kind_for_bits(bits)
    if packing == "dense" and kind == "codes":
        data = unpack_codes(b, bits, count)
    else:
        width = value_bytes(bits)
        raw = np.frombuffer(b, dtype=np.uint8)
        if packing == "planes":
            raw = np.ascontiguousarray(raw.reshape(width, count).T)
        dtype = {"codes": f"<u{width}", "float16": "<f2", "float32": "<f4"}[kind]
        native = code_dtype(bits) if kind == "codes" else np.dtype(dtype).newbyteorder("=")
        data = raw.view(dtype).reshape(count).astype(native)
    if kind == "codes" and count and int(data.max()) >= 1 << bits:
        raise ValueError(f"code {int(data.max())} out of range for {bits} bits")
    if kind != "codes":
        scale, offset = 1.0, 0.0
    return QTensor(bits, tuple(shape), data, float(np.float32(scale)), float(np.float32(offset)))


# ------------------------------------------------------- step quantisation (format 3)

STEP_MAX_LEVELS = 1 << 16
"""Format 3 codes of one tensor span at most this many levels (hi - lo < 2^16)."""


@dataclass(frozen=True)
class StepCodes:
    """A tensor on the zero-centred grid ``step * q``, q integer (format version 3).

    ``step`` is a positive float16 value (stored in 2 bytes), ``codes`` flat int32.
    """

    step: float
    shape: tuple[int, ...]
    codes: np.ndarray

    @property
    def lo(self) -> int:
        return int(self.codes.min()) if self.codes.size else 0

    @property
    def hi(self) -> int:
        return int(self.codes.max()) if self.codes.size else 0


def f16_step(step: float) -> float:
    """The float16 value nearest ``step`` (at least the smallest float16, 2^-24).

    Raises ``ValueError`` unless ``step`` is positive and finite after rounding.
    """
    s = float(step)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"step must be positive and finite, got {step!r}")
    r = float(np.float16(max(s, 2.0 ** -24)))
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"step {step!r} exceeds the float16 range")
    return r


def step_quantize(a: np.ndarray, step: float) -> StepCodes:
    """Round a real tensor to the grid ``step * q`` (``step`` rounded by :func:`f16_step`).

    Notes
    -----
    ``q = rint(a / step)`` (float64), ``a_hat = fl32(step * q)``, so ``|a - a_hat| <= step / 2``
    (+ float32 rounding); zero stays exactly zero. The codes of one tensor must span fewer
    than :data:`STEP_MAX_LEVELS` levels, else ``ValueError`` (choose a larger step).
    """
    step = f16_step(step)
    arr = np.asarray(a)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise ValueError(f"can only quantise real numeric arrays, got dtype {arr.dtype}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError("cannot quantise a tensor containing NaN or infinity")
    q = np.rint(arr.astype(np.float64).reshape(-1) / step)
    if q.size and q.max() - q.min() >= STEP_MAX_LEVELS:
        raise ValueError(f"step {step:g} gives {int(q.max() - q.min()) + 1} levels, at most "
                         f"{STEP_MAX_LEVELS} are allowed")
    if q.size and max(abs(q.max()), abs(q.min())) >= 2**31:
        raise ValueError(f"step {step:g} is too small for values up to {np.abs(arr).max():g}")
    return StepCodes(step, tuple(int(s) for s in arr.shape), q.astype(np.int32))


def step_dequantize(sc: StepCodes) -> np.ndarray:
    """float32 ``step * q`` (evaluated in float64), in the original shape."""
    vals = np.float64(sc.step) * sc.codes.astype(np.float64)
    return vals.astype(np.float32).reshape(sc.shape)


def step_values(a: np.ndarray, step: float) -> np.ndarray:
    """``step_dequantize(step_quantize(a, step))``: what a version-3 file stores for ``a``."""
    return step_dequantize(step_quantize(a, step))


def uniform_step(a: np.ndarray, bits: int) -> float:
    """The step that spreads ``2^bits`` levels over the range of ``a`` (float16-rounded).

    ``(max - min) / (2^bits - 1)``; a constant tensor gets ``max(|a|, 1) / 2^bits``.
    """
    if not 2 <= int(bits) <= 15:
        raise ValueError(f"bits must be in 2..15 for a step grid, got {bits!r}")
    x = np.asarray(a, np.float64)
    span = float(x.max() - x.min()) if x.size else 0.0
    if span <= 0:
        span = max(float(np.abs(x).max()) if x.size else 0.0, 1.0)
    return f16_step(span / ((1 << int(bits)) - 1))
