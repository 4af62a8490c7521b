"""The JSON header and compressed payload of ``.tdd`` format versions 1-2.

Framing is the container's (:mod:`tinydip.codec.container`): 8-byte magic, uint16 version
(= 2), uint32 header length H, H header bytes, the payload, CRC-32. Version 2 is written by
:func:`tinydip.codec.container.encode_tdd` (still used for raw float16/float32 weights);
version 3 is :mod:`tinydip.codec.format3`. In version 2::

    header   UTF-8 JSON object, zlib-compressed (version 1: not compressed)
    payload  the packed tensors, concatenated, then compressed

Version 2 only compresses the header: its ~1.3 KB of JSON (mostly the tensor table) shrink
to ~0.5 KB, a quarter of a k = 16 file. Version 1 files are still read. Reading and
validating the header is :func:`tinydip.codec.header.load_header`.

The header holds the caller's keys (at least :data:`~tinydip.codec.header.REQUIRED_KEYS`:
image ``height``, ``width``, ``channels``, the decoder ``architecture`` dict and the ``seed``
that regenerates the fixed input z) plus the codec's own keys
(:data:`~tinydip.codec.header.CODEC_KEYS`):

* ``bits``          default precision (see :mod:`tinydip.codec.quantize`);
* ``compression``   ``"lzma"`` (raw LZMA2 stream, dictionary ``lzma_dict_size``),
                    ``"zlib"`` or ``"none"``;
* ``packing``       ``"dense"`` (codes as a bitstream, exactly ``bits`` bits each) or
                    ``"planes"`` (whole bytes per value, byte-plane transposed), see
                    :func:`tinydip.codec.quantize.qtensor_to_bytes`. Byte-aligned
                    symbols often compress better with these byte-oriented coders;
* ``payload_bytes`` compressed payload length P; ``raw_bytes`` uncompressed length;
* ``tensors``       ordered table, one row ``[name, shape, kind, bits, scale, offset,
                    nbytes]`` per tensor (column names in ``tensor_fields``), where
                    ``nbytes`` is the tensor's share of the uncompressed payload. Rows
                    rather than objects keep the header small;
                    :func:`tinydip.codec.container.decode_tdd` returns them as dicts.

By default every (packing, compression) pair is tried and the smallest file is kept.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import entropy
from . import quantize as qz
from .header import COMPRESSIONS, LZMA_DICT_RANGE, TENSOR_FIELDS, CodecError, dump_header
from .quantize import PACKINGS, check_bits

VERSION = 2
_LZMA_PRESET = 9 | lzma.PRESET_EXTREME


# ----------------------------------------------------------------------------- encoding


def check_options(bits: int, compression: str, packing: str) -> None:
    """Raise ``ValueError`` unless ``bits``, ``compression`` and ``packing`` are valid."""
    check_bits(bits)
    for value, allowed, what in ((packing, PACKINGS, "packing"),
                                 (compression, COMPRESSIONS, "compression")):
        if value != "auto" and value not in allowed:
            raise ValueError(f"{what} must be 'auto' or one of {allowed}, got {value!r}")


def encode(
    user: Mapping[str, Any],
    tensors: Mapping[str, np.ndarray],
    bits: int,
    overrides: Mapping[str, int] | None,
    compression: str,
    packing: str,
) -> tuple[bytes, bytes]:
    """(header, payload) of the smallest version-2 file; the container frames them.

    ``user``: the caller's JSON keys (validated by the container); the other arguments as
    in :func:`tinydip.codec.container.encode_tdd`, options already checked by
    :func:`check_options`. Every (packing, compression) pair allowed is tried.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(tensors)
    if unknown:
        raise ValueError(f"overrides name unknown tensors: {sorted(unknown)}")
    quantised = {}
    for name, arr in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"tensor names must be non-empty strings, got {name!r}")
        tbits = overrides.get(name, bits)
        check_bits(tbits)
        quantised[name] = qz.quantize(arr, tbits)

    packings = PACKINGS if packing == "auto" else (packing,)
    compressions = COMPRESSIONS if compression == "auto" else (compression,)

    best: tuple[bytes, bytes] | None = None
    for pk in packings:
        chunks = [qz.qtensor_to_bytes(qt, pk) for qt in quantised.values()]
        raw = b"".join(chunks)
        table = [[name, list(qt.shape), qt.kind, qt.bits, _short(qt.scale), _short(qt.offset),
                  len(chunk)]
                 for (name, qt), chunk in zip(quantised.items(), chunks, strict=True)]
        for comp in compressions:
            payload, extra = _compress(raw, comp)
            codec = {"bits": int(bits), "compression": comp, "packing": pk,
                     "payload_bytes": len(payload), "raw_bytes": len(raw), **extra,
                     "tensor_fields": list(TENSOR_FIELDS), "tensors": table}
            head = dump_header({**user, **codec})
            if best is None or len(head) + len(payload) < sum(map(len, best)):
                best = head, payload
    assert best is not None
    return best


def _short(x: float) -> float:
    """Shortest decimal that still rounds to the same float32 (keeps the header small)."""
    return float(str(np.float32(x)))


def _lzma_dict_size(n: int) -> int:
    """Smallest power of two >= n, clamped to the range the reader accepts."""
    lo, hi = LZMA_DICT_RANGE
    return min(max(lo, 1 << max(n - 1, 0).bit_length()), hi)


def _compress(raw: bytes, method: str) -> tuple[bytes, dict[str, int]]:
    if method == "lzma":
        dict_size = _lzma_dict_size(len(raw))
        filters = [{"id": lzma.FILTER_LZMA2, "preset": _LZMA_PRESET, "dict_size": dict_size}]
        return lzma.compress(raw, format=lzma.FORMAT_RAW, filters=filters), {
            "lzma_dict_size": dict_size}
    if method == "zlib":
        return zlib.compress(raw, 9), {}
    return raw, {}


# ----------------------------------------------------------------------------- decoding


def decode_payload(payload: bytes, header: dict[str, Any]) -> dict[str, np.ndarray]:
    """The dequantised float32 tensors of a version 1-2 payload (as stored, i.e. compressed).

    ``header``: as returned by :func:`tinydip.codec.header.load_header`. Any problem raises
    :class:`CodecError`.
    """
    raw = _decompress(payload, header)
    tensors: dict[str, np.ndarray] = {}
    pos = 0
    for entry in header["tensors"]:
        chunk = raw[pos:pos + entry["nbytes"]]
        pos += entry["nbytes"]
        try:
            qt = qz.qtensor_from_bytes(chunk, entry["bits"], tuple(entry["shape"]),
                                       entry["scale"], entry["offset"], header["packing"])
        except ValueError as exc:
            raise CodecError(f"corrupt: tensor {entry['name']!r}: {exc}") from None
        tensors[entry["name"]] = qz.dequantize(qt)
    return tensors


def _decompress(payload: bytes, header: dict[str, Any]) -> bytes:
    """Undo the recorded compression, never producing more than ``raw_bytes`` + 1 bytes."""
    method = header["compression"]
    filters = ([{"id": lzma.FILTER_LZMA2, "dict_size": header["lzma_dict_size"]}]
               if method == "lzma" else None)
    return entropy.bounded_decompress(payload, method, header["raw_bytes"], filters)
