"""The JSON header of ``.tdd`` versions 1-2: its keys, and reading and validating it.

Written by :mod:`.format2`, framed by :mod:`.container`.

Format version 2 stores the UTF-8 JSON header zlib-compressed, version 1 as it is; either
way every field is checked before the payload is touched, and any problem is a
:class:`CodecError` with a one-line message.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Any

import numpy as np

from tinydip.codec import quantize as qz
from tinydip.codec.quantize import PACKINGS, VALID_BITS

REQUIRED_KEYS = ("height", "width", "channels", "architecture", "seed")
"""Caller-supplied header keys every file must carry."""
CODEC_KEYS = ("bits", "compression", "packing", "payload_bytes", "raw_bytes",
              "lzma_dict_size", "tensor_fields", "tensors")
"""Header keys owned by the codec."""
COMPRESSIONS = ("lzma", "zlib", "none")
TENSOR_FIELDS = ("name", "shape", "kind", "bits", "scale", "offset", "nbytes")
LZMA_DICT_RANGE = (1 << 12, 1 << 26)
_F32_MAX = float(np.finfo(np.float32).max)
_MAX_HEADER = 1 << 20  # uncompressed header bytes a reader accepts (a 6-layer one: ~1.3 KB)


class CodecError(ValueError):
    """A ``.tdd`` file cannot be read: missing, truncated, corrupt, foreign or too new."""


def dump_header(header: dict[str, Any]) -> bytes:
    """The stored form of a header (format version 2): compact JSON, zlib-compressed."""
    return zlib.compress(json.dumps(header, separators=(",", ":"), ensure_ascii=False)
                         .encode("utf-8"), 9)


def load_header(blob: bytes, version: int) -> dict[str, Any]:
    """Decode and validate the header; raise CodecError("malformed header: ...")."""
    if version >= 2:
        dec = zlib.decompressobj()
        try:
            blob = dec.decompress(blob, _MAX_HEADER + 1)
        except zlib.error as exc:
            raise CodecError(f"malformed header: does not decompress ({exc})") from None
        if len(blob) > _MAX_HEADER or not dec.eof or dec.unused_data:
            raise CodecError("malformed header: compressed header is incomplete or too long")
    try:
        header = json.loads(blob.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, or absurd nesting
        raise CodecError(f"malformed header: {type(exc).__name__}: {exc}") from None
    if not isinstance(header, dict):
        raise CodecError("malformed header: not a JSON object")
    missing = [k for k in (*REQUIRED_KEYS, *CODEC_KEYS) if k not in header
               and not (k == "lzma_dict_size" and header.get("compression") != "lzma")]
    if missing:
        raise CodecError(f"malformed header: missing keys {missing}")
    _expect(header["compression"] in COMPRESSIONS, "unknown compression")
    _expect(header["packing"] in PACKINGS, "unknown packing")
    for key in ("payload_bytes", "raw_bytes", "bits"):
        _expect(_is_int(header[key]) and header[key] >= 0, f"{key} must be a non-negative int")
    _expect(_is_valid_bits(header["bits"]), "invalid bits")
    if header["compression"] == "lzma":
        size = header["lzma_dict_size"]
        lo, hi = LZMA_DICT_RANGE
        _expect(_is_int(size) and lo <= size <= hi, "invalid lzma_dict_size")
    _expect(header["tensor_fields"] == list(TENSOR_FIELDS), "unexpected tensor_fields")
    _expect(isinstance(header["tensors"], list), "tensors must be a list")
    _expect(all(isinstance(r, list) and len(r) == len(TENSOR_FIELDS) for r in header["tensors"]),
            f"tensor rows must be lists of {len(TENSOR_FIELDS)} fields")
    header["tensors"] = [dict(zip(TENSOR_FIELDS, row, strict=True)) for row in header["tensors"]]
    names = set()
    for entry in header["tensors"]:
        _check_entry(entry, header["packing"])
        _expect(entry["name"] not in names, f"duplicate tensor name {entry['name']!r}")
        names.add(entry["name"])
    total = sum(entry["nbytes"] for entry in header["tensors"])
    if total != header["raw_bytes"]:
        raise CodecError(f"payload length mismatch: tensor table sums to {total} bytes, "
                         f"raw_bytes is {header['raw_bytes']}")
    return header


def _check_entry(entry: Any, packing: str) -> None:
    name = entry["name"]
    _expect(isinstance(name, str) and name != "", "tensor name must be a non-empty string")
    shape = entry["shape"]
    _expect(isinstance(shape, list) and all(_is_int(s) and s >= 0 for s in shape),
            f"bad shape for {name!r}")
    _expect(_is_valid_bits(entry["bits"]), f"bad bits for {name!r}")
    _expect(_is_int(entry["nbytes"]), f"bad nbytes for {name!r}")
    _expect(entry["kind"] == qz.kind_for_bits(entry["bits"]), f"kind/bits mismatch for {name!r}")
    for key in ("scale", "offset"):
        value = entry[key]
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool)
                and abs(value) <= _F32_MAX, f"bad {key} for {name!r}")
    count = math.prod(shape)
    need = qz.stored_nbytes(count, entry["bits"], packing)
    if entry["nbytes"] != need:
        raise CodecError(f"payload length mismatch: tensor {name!r} of shape {shape} needs "
                         f"{need} bytes, table says {entry['nbytes']}")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CodecError(f"malformed header: {message}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_valid_bits(x: Any) -> bool:
    return _is_int(x) and x in VALID_BITS
