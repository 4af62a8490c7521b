"""The ``.tdd`` file: framing shared by every format version, and the read/write API.

Layout (all integers little-endian)::

    offset  size  field
    0       8     magic  b"TINYDIP\\x00"
    8       2     format version (uint16): 1-2 JSON header (tinydip.codec.format2),
                  3 binary header (tinydip.codec.format3)
    10      4     stored header length H (uint32)
    14      H     header (its form depends on the version)
    14+H    P     payload (its coding depends on the version and the header)
    14+H+P  4     CRC-32 (zlib.crc32, uint32) of bytes [0, 14+H+P)

Writers: :func:`encode_tdd` / :func:`write_tdd` (version 2, per-tensor affine codes or raw
float16/float32 weights, see :mod:`tinydip.codec.format2`) and :func:`encode_tdd3` (version
3, see :mod:`tinydip.codec.format3`). Readers: :func:`decode_tdd` / :func:`read_tdd` and
:func:`describe_tdd` (every version 1-3). This module checks the framing (magic, version,
lengths, CRC) and validates the caller's header keys; the version modules hold the rest.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import numpy as np

from tinydip.codec import entropy, format2, format3
from tinydip.codec.format3 import Layout
from tinydip.codec.header import (
    CODEC_KEYS,
    COMPRESSIONS,
    LZMA_DICT_RANGE,  # noqa: F401 (these four: old imports from here still work)
    REQUIRED_KEYS,
    TENSOR_FIELDS,
    CodecError,
    dump_header,  # noqa: F401
    load_header,
)
from tinydip.codec.quantize import (
    PACKINGS,  # noqa: F401
    StepCodes,
    check_bits,  # noqa: F401
)
from tinydip.io.files import write_bytes

__all__ = ["CODEC_KEYS", "COMPRESSIONS", "FORMAT_VERSION", "JSON_VERSION", "MAGIC",
           "REQUIRED_KEYS", "TENSOR_FIELDS", "CodecError", "decode_tdd", "describe_tdd",
           "encode_tdd", "encode_tdd3", "read_tdd", "write_tdd"]

MAGIC = b"TINYDIP\x00"
FORMAT_VERSION = format3.VERSION
"""The newest version this reader decodes (and :func:`encode_tdd3` writes)."""
JSON_VERSION = format2.VERSION
"""The version :func:`encode_tdd` writes (JSON header, per-tensor affine codes)."""

_PREFIX = struct.Struct("<8sHI")
_CRC = struct.Struct("<I")

PathOrFile = str | os.PathLike | BinaryIO
HeaderCheck = Callable[[dict[str, Any]], None]  # raises CodecError to refuse a header


# ----------------------------------------------------------------------------- encoding


def encode_tdd(
    header: Mapping[str, Any],
    tensors: Mapping[str, np.ndarray],
    bits: int,
    *,
    overrides: Mapping[str, int] | None = None,
    compression: str = "auto",
    packing: str = "auto",
) -> bytes:
    """Quantise ``tensors`` and return the complete ``.tdd`` file as bytes.

    Parameters
    ----------
    header:
        JSON-serialisable metadata containing :data:`REQUIRED_KEYS`. Keys in
        :data:`CODEC_KEYS` are computed by the codec; values passed in are replaced
        (so a header returned by :func:`decode_tdd` can be passed back in).
    tensors:
        Ordered ``name -> array``; order and shapes are restored on decoding.
    bits:
        Default precision for every tensor (2..15 codes, 16 float16, 32 float32).
    overrides:
        Optional ``name -> bits`` for tensors that need another precision
        (e.g. keep the few BatchNorm scale/shift values at 16 bits).
    compression:
        ``"auto"`` (smallest of lzma/zlib/none), ``"lzma"``, ``"zlib"`` or ``"none"``.
    packing:
        ``"auto"`` (smallest), ``"dense"`` or ``"planes"``.

    Notes
    -----
    File size = 14 + H + P + 4 bytes; without compression P = sum over tensors of
    ``ceil(n_t * bits_t / 8)`` (dense) or ``n_t * bytes_per_value_t`` (planes).
    """
    format2.check_options(bits, compression, packing)
    user = _user_header(header)
    return _frame(format2.VERSION,
                  *format2.encode(user, tensors, bits, overrides, compression, packing))


def write_tdd(
    path_or_fileobj: PathOrFile,
    header: Mapping[str, Any],
    tensors: Mapping[str, np.ndarray],
    bits: int,
    **options: Any,
) -> int:
    """Encode (see :func:`encode_tdd`, same keyword options) and write; return bytes written."""
    data = encode_tdd(header, tensors, bits, **options)
    if isinstance(path_or_fileobj, (str, os.PathLike)):
        try:  # atomically, and through a device or pipe (never replacing it)
            write_bytes(path_or_fileobj, data)
        except OSError as exc:
            raise ValueError(str(exc)) from None
    else:
        path_or_fileobj.write(data)
    return len(data)


def _user_header(header: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(header, Mapping):
        raise ValueError(f"header must be a mapping, got {type(header).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise ValueError(f"header is missing required keys: {missing}")
    user = {k: v for k, v in header.items() if k not in CODEC_KEYS + format3.CODEC_KEYS}
    try:  # normalise numpy scalars and fail early on non-JSON values
        return json.loads(json.dumps(user, default=_json_default, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"header is not JSON-serialisable: {exc}") from None


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _frame(version: int, head: bytes, payload: bytes) -> bytes:
    body = _PREFIX.pack(MAGIC, version, len(head)) + head + payload
    return body + _CRC.pack(zlib.crc32(body))


def encode_tdd3(
    header: Mapping[str, Any],
    tensors: Mapping[str, StepCodes],
    *,
    coder: str = "auto",
    layout: Layout | None = None,
) -> bytes:
    """A format-3 ``.tdd`` file (binary header, see :mod:`tinydip.codec.format3`).

    ``tensors``: ordered ``name -> StepCodes`` (:func:`tinydip.codec.quantize.step_quantize`).
    ``coder``: ``"auto"`` (the smallest of the available coders: ANS when the optional
    ``constriction`` package is installed, else lzma/zlib/none) or one of
    :data:`tinydip.codec.entropy.CODERS`. ``layout(header) -> {name: shape}``: when it
    describes ``tensors`` exactly, names and shapes are not stored and :func:`decode_tdd`
    needs the same ``layout``.
    """
    user = _user_header(header)
    for name, t in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"tensor names must be non-empty strings, got {name!r}")
        if not isinstance(t, StepCodes):
            raise ValueError(f"tensor {name!r} must be StepCodes, got {type(t).__name__}")
    if coder == "auto":
        coders = [c for c in entropy.CODERS if c != "ans" or entropy.ans_available()]
    elif coder in entropy.CODERS:
        if coder == "ans" and not entropy.ans_available():
            raise ValueError(entropy.missing_ans_message().replace("this file is", "files are"))
        coders = [coder]
    else:
        raise ValueError(f"coder must be 'auto' or one of {entropy.CODERS}, got {coder!r}")
    best, refused = None, []
    for c in coders:
        try:
            data = _frame(format3.VERSION, *format3.encode(user, tensors, c, layout))
        except CodecError as exc:  # e.g. ANS: codes beyond its float16 model's range
            if len(coders) == 1:
                raise
            refused.append(f"{c}: {exc}")  # 'auto' falls back to the coders that can
            continue
        if best is None or len(data) < len(best):
            best = data
    if best is None:
        raise CodecError("no coder can store these codes (" + "; ".join(refused) + ")")
    return best


# ----------------------------------------------------------------------------- decoding


def decode_tdd(data: bytes, check: HeaderCheck | None = None, layout: Layout | None = None
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse a ``.tdd`` file held in memory.

    Returns the full header (caller's keys plus :data:`CODEC_KEYS`) and the
    dequantised float32 tensors in their original order and shapes. Any problem
    with ``data`` raises :class:`CodecError` with a one-line message. ``check(header)``,
    if given, runs on the validated header before the payload is decompressed (the
    model's own checks, e.g. whether decoding fits in memory). ``layout``: the model's
    ``header -> {name: shape}``, needed by format-3 files that do not store their tensor
    table's names and shapes (see :func:`encode_tdd3`).
    """
    header, payload = _parse(data, check, layout)
    version = _PREFIX.unpack_from(data)[1]
    fmt = format3 if version == format3.VERSION else format2
    return header, fmt.decode_payload(payload, header)


def read_tdd(path_or_fileobj: PathOrFile, check: HeaderCheck | None = None,
             layout: Layout | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and decode a ``.tdd`` file (see :func:`decode_tdd`)."""
    return decode_tdd(_read_bytes(path_or_fileobj), check, layout)


def describe_tdd(data: bytes | PathOrFile, layout: Layout | None = None) -> dict[str, Any]:
    """Account for every byte of a ``.tdd`` file.

    Returns ``total_bytes`` = ``prefix_bytes`` (14: magic, version, header length)
    + ``header_bytes`` + ``payload_bytes`` + ``checksum_bytes`` (4), together with
    ``version``, ``num_tensors``, ``num_values`` (stored numbers), ``coder`` (format 3:
    ``"ans"``, ``"lzma"``, ``"zlib"`` or ``"none"``; versions 1-2: ``packing+compression``),
    ``bits`` (versions 1-2; None for format 3) and ``bits_per_value`` (= 8 * total_bytes /
    num_values, or None when nothing is stored). The payload is not decoded.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        data = _read_bytes(data)
    data = bytes(data)
    header, _ = _parse(data, layout=layout)
    (_, version, hlen) = _PREFIX.unpack_from(data)
    values = sum(int(np.prod(t["shape"], dtype=np.int64)) for t in header["tensors"])
    v3 = version == format3.VERSION
    return {
        "total_bytes": len(data),
        "version": version,
        "prefix_bytes": _PREFIX.size,
        "header_bytes": hlen,
        "payload_bytes": header["payload_bytes"],
        "checksum_bytes": _CRC.size,
        "num_tensors": len(header["tensors"]),
        "num_values": values,
        "bits": None if v3 else header["bits"],
        "coder": header["coder"] if v3 else f"{header['packing']}+{header['compression']}",
        "bits_per_value": 8 * len(data) / values if values else None,
    }


def _read_bytes(path_or_fileobj: PathOrFile) -> bytes:
    if isinstance(path_or_fileobj, (str, os.PathLike)):
        try:
            with open(path_or_fileobj, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise CodecError(f"file not found: {os.fspath(path_or_fileobj)}") from None
        except OSError as exc:
            raise CodecError(f"cannot read {os.fspath(path_or_fileobj)}: {exc.strerror}") from None
    if isinstance(path_or_fileobj, io.TextIOBase):
        raise CodecError("file object must be opened in binary mode")
    return bytes(path_or_fileobj.read())


def _parse(data: bytes, check: HeaderCheck | None = None, layout: Layout | None = None
           ) -> tuple[dict[str, Any], bytes]:
    """Validate framing, checksum and header; return (header, payload as stored).

    The payload is not touched: its version's ``decode_payload`` decompresses and decodes it
    (in :func:`decode_tdd`).

    Notes
    -----
    Order of checks: magic, version (a future version may change everything after
    it), length of the fixed fields, then -- if the header can be read -- whether the
    file is shorter than the header says (``truncated``), then the CRC (``corrupt``),
    and only then the header contents and the payload. Everything after the CRC
    check is reached only by files written with a valid checksum.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    n = len(data)
    if data[: len(MAGIC)] != MAGIC[: min(n, len(MAGIC))]:
        raise CodecError("not a tinydip .tdd file (bad magic bytes)")
    minimum = _PREFIX.size + _CRC.size
    if n < minimum:
        raise CodecError(f"truncated: {n} bytes, a .tdd file has at least {minimum}")
    _, version, hlen = _PREFIX.unpack_from(data)
    if version > FORMAT_VERSION:
        raise CodecError(f"written by a newer tinydip: format version {version}, "
                         f"this reader supports {FORMAT_VERSION}")
    if version < 1:
        raise CodecError(f"corrupt: invalid format version {version}")
    hend = _PREFIX.size + hlen
    if hend + _CRC.size > n:
        raise CodecError(f"truncated: header needs {hend + _CRC.size} bytes, file has {n}")

    header: dict[str, Any] | None = None
    header_error: CodecError | None = None
    try:
        if version == format3.VERSION:
            header = format3.load_header(data[_PREFIX.size:hend], layout)
        else:
            header = load_header(data[_PREFIX.size:hend], version)
    except CodecError as exc:
        header_error = exc
    if header is not None and hend + header["payload_bytes"] + _CRC.size > n:
        raise CodecError(f"truncated: header promises "
                         f"{hend + header['payload_bytes'] + _CRC.size} bytes, file has {n}")
    (stored_crc,) = _CRC.unpack_from(data, n - _CRC.size)
    if zlib.crc32(data[: n - _CRC.size]) != stored_crc:
        raise CodecError("corrupt: checksum mismatch")
    if header is None:
        assert header_error is not None
        raise header_error
    found = n - hend - _CRC.size
    if found != header["payload_bytes"]:
        raise CodecError(f"payload length mismatch: header says {header['payload_bytes']} "
                         f"bytes, file holds {found}")
    if check is not None:
        check(header)
    return header, data[hend:n - _CRC.size]
