"""Lossless coding of the integer codes of a format-3 ``.tdd`` file.

Two families of coders, both over the same streams (one per tensor: int32 codes in
``[lo, hi]``):

* ``"ans"``: an asymmetric numeral system (the optional ``constriction`` package,
  ``pip install tinydip[codec]``) with one fitted model per tensor -- a Laplace density of
  centre ``mean`` and scale ``b``, integrated over the unit bin of every code in ``[lo, hi]``.
  ``mean`` and ``b`` travel in the header as float16, so encoder and decoder build the same
  model. A tensor whose codes are all equal (``lo == hi``) costs nothing.
* ``"lzma"``, ``"zlib"``, ``"none"``: every code minus ``lo`` packed in
  ``bit_length(hi - lo)`` bits (:func:`tinydip.codec.quantize.pack_codes`), the tensors
  concatenated and then compressed with the standard library. Always available.

Decoding never produces more than the header's counts, and refuses a stream that is not
consumed exactly (``CodecError``). :func:`bounded_decompress`, the standard-library half of
that guarantee, also decompresses format-2 payloads (:mod:`tinydip.codec.format2`).
"""

from __future__ import annotations

import lzma
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .header import CodecError
from .quantize import pack_codes, unpack_codes

CODERS = ("none", "zlib", "lzma", "ans")
"""Coder names in the order of their format-3 ids (0..3)."""
EXTRA = "codec"
"""The pip extra that installs the ANS coder (``pip install tinydip[codec]``)."""
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME,
                  "dict_size": 1 << 16}]
_SCALE_RANGE = (2.0 ** -4, 2.0 ** 15)


@dataclass(frozen=True)
class Stream:
    """One tensor's codes and, for ``"ans"``, its Laplace model (float16 values)."""

    codes: np.ndarray  # flat int32
    lo: int
    hi: int
    mean: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True)
class StreamSpec:
    """What the decoder knows of a stream before reading it (from the header)."""

    count: int
    lo: int
    hi: int
    mean: float = 0.0
    scale: float = 1.0


def ans_available() -> bool:
    """Whether the optional ``constriction`` package (the ANS coder) is importable."""
    try:
        import constriction  # noqa: F401
    except ImportError:
        return False
    return True


def missing_ans_message() -> str:
    return ("this file is entropy-coded with ANS and needs the optional 'constriction' "
            f"package: pip install 'tinydip[{EXTRA}]' (or pip install constriction)")


def fit_laplace(codes: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood Laplace centre and scale of integer codes, rounded to float16.

    Notes
    -----
    mean = median(q), b = mean(|q - median|), clipped to [2^-4, 2^15] (a narrower density
    than a quarter of a bin saves nothing, and the ANS coder needs b > 0).
    """
    q = np.asarray(codes, np.float64)
    if q.size == 0:
        return 0.0, 1.0
    mean = float(np.median(q))
    b = float(np.mean(np.abs(q - mean)))
    b = min(max(b, _SCALE_RANGE[0]), _SCALE_RANGE[1])
    with np.errstate(over="ignore"):  # a mean beyond float16 is inf: check_model refuses it
        return float(np.float16(mean)), float(np.float16(b))


def check_model(mean: float, scale: float, lo: int, hi: int) -> None:
    """Raise ``CodecError`` unless the stored model parameters are usable."""
    if not (math.isfinite(mean) and math.isfinite(scale)
            and _SCALE_RANGE[0] <= scale <= _SCALE_RANGE[1] and lo <= hi):
        raise CodecError(f"malformed header: bad entropy model (mean {mean}, scale {scale}, "
                         f"codes {lo}..{hi})")


def packed_bits(lo: int, hi: int) -> int:
    """Bits per code in the packed coders: ``bit_length(hi - lo)`` (0 when lo == hi)."""
    return int(hi - lo).bit_length()


def encode(streams: list[Stream], coder: str) -> bytes:
    """The payload holding every stream, coded with ``coder`` (one of :data:`CODERS`)."""
    if coder == "ans":
        return _encode_ans(streams)
    raw = b"".join(_pack(s) for s in streams)
    if coder == "zlib":
        return zlib.compress(raw, 9)
    if coder == "lzma":
        return lzma.compress(raw, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    if coder == "none":
        return raw
    raise ValueError(f"coder must be one of {CODERS}, got {coder!r}")


def decode(payload: bytes, specs: list[StreamSpec], coder: str) -> list[np.ndarray]:
    """Inverse of :func:`encode`: one flat int32 array per spec; ``CodecError`` if corrupt."""
    if coder == "ans":
        return _decode_ans(payload, specs)
    limit = sum((s.count * packed_bits(s.lo, s.hi) + 7) // 8 for s in specs)
    raw = bounded_decompress(payload, coder, limit, _LZMA_FILTERS)
    out, pos = [], 0
    for s in specs:
        bits = packed_bits(s.lo, s.hi)
        n = (s.count * bits + 7) // 8
        if bits == 0:
            out.append(np.full(s.count, s.lo, np.int32))
            continue
        codes = unpack_codes(raw[pos:pos + n], bits, s.count).astype(np.int64) + s.lo
        pos += n
        if codes.size and codes.max() > s.hi:
            raise CodecError(f"corrupt: code {int(codes.max())} above the stated {s.hi}")
        out.append(codes.astype(np.int32))
    return out


def _pack(s: Stream) -> bytes:
    bits = packed_bits(s.lo, s.hi)
    if bits == 0:
        return b""
    return pack_codes((s.codes.astype(np.int64) - s.lo).astype(np.uint32), bits)


def bounded_decompress(payload: bytes, method: str, limit: int,
                       lzma_filters: list[dict[str, Any]] | None = None) -> bytes:
    """Undo ``method`` (``"none"``, ``"zlib"`` or ``"lzma"``), expecting exactly ``limit`` bytes.

    Shared by format 2 (:mod:`tinydip.codec.format2`) and format 3 (:func:`decode`). Never
    produces more than ``limit + 1`` bytes, so a hostile file cannot exhaust memory however
    well its payload compresses. ``lzma_filters`` (required for ``"lzma"``): the raw LZMA2
    stream's filter chain (its dictionary size must be the encoder's). Raises
    :class:`CodecError` when the payload does not decompress, decompresses to another length,
    or is not consumed exactly (trailing data); an unknown ``method`` is a malformed header.
    """
    try:
        if method == "none":
            raw, complete = payload, True
        elif method == "zlib":
            dec = zlib.decompressobj()
            raw = dec.decompress(payload, limit + 1)
            complete = dec.eof and not dec.unused_data and not dec.unconsumed_tail
        elif method == "lzma":
            dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=lzma_filters)
            raw = dec.decompress(payload, max_length=limit + 1)
            complete = dec.eof and not dec.unused_data
        else:
            raise CodecError(f"malformed header: unknown coder {method!r}")
    except (zlib.error, lzma.LZMAError) as exc:
        raise CodecError(f"corrupt: {method} payload does not decompress ({exc})") from None
    if len(raw) != limit or not complete:
        raise CodecError(f"payload length mismatch: {method} payload holds "
                         f"{len(raw)}{'+' if not complete else ''} bytes, header says {limit}")
    return raw


def _laplace(constriction, lo: int, hi: int, mean: float, scale: float):
    return constriction.stream.model.QuantizedLaplace(int(lo), int(hi), float(mean), float(scale))


def _encode_ans(streams: list[Stream]) -> bytes:
    import constriction  # the optional extra: callers check ans_available() first

    coder = constriction.stream.stack.AnsCoder()
    for s in reversed(streams):  # a stack: the last tensor goes in first
        if s.lo == s.hi or s.codes.size == 0:
            continue
        check_model(s.mean, s.scale, s.lo, s.hi)
        coder.encode_reverse(np.ascontiguousarray(s.codes, np.int32),
                             _laplace(constriction, s.lo, s.hi, s.mean, s.scale))
    return np.asarray(coder.get_compressed(), dtype="<u4").tobytes()


def _decode_ans(payload: bytes, specs: list[StreamSpec]) -> list[np.ndarray]:
    try:
        import constriction
    except ImportError:
        raise CodecError(missing_ans_message()) from None
    if len(payload) % 4:
        raise CodecError(f"corrupt: an ANS payload is whole 32-bit words, got {len(payload)} "
                         "bytes")
    coded = sum(s.count for s in specs if s.lo != s.hi)
    if coded and not payload:  # it would decode to codes of a default state: a flat image
        raise CodecError(f"corrupt: the ANS payload is empty but the header describes {coded} "
                         "coded values")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    out = []
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        for i, s in enumerate(specs):
            if s.lo == s.hi or s.count == 0:
                out.append(np.full(s.count, s.lo, np.int32))
                continue
            check_model(s.mean, s.scale, s.lo, s.hi)
            if coder.is_empty():  # the data ran out before this tensor
                raise CodecError(f"corrupt: the ANS payload ends before tensor {i} "
                                 f"({s.count} values)")
            codes = coder.decode(_laplace(constriction, s.lo, s.hi, s.mean, s.scale), s.count)
            out.append(np.asarray(codes, np.int32))
        complete = coder.is_empty()
    except CodecError:
        raise
    except Exception as exc:  # constriction raises its own errors on malformed streams
        raise CodecError(f"corrupt: ANS payload does not decode ({exc})") from None
    if not complete:
        raise CodecError("corrupt: ANS payload holds more data than the header describes")
    return out
