"""The binary header of ``.tdd`` format version 3, and its payload.

Framing is the container's (:mod:`tinydip.codec.container`): 8-byte magic, uint16 version
(= 3), uint32 header length H, H header bytes, the payload, CRC-32. The version-3 header::

    u8      coder id: 0 none, 1 zlib, 2 lzma, 3 ans (see tinydip.codec.entropy)
    u8      flags: bit 0 = tensor names and shapes follow from the caller's layout
    varint  M, then M bytes: the caller's keys as compact JSON, raw DEFLATE with the
            preset dictionary META_DICT (a typical Deep Decoder header: ~25 bytes)
    varint  number of tensors T
    T x     [unless flag 0: varint name length, UTF-8 name, varint ndim, varint dims]
            float16 step, zigzag varint lo, zigzag varint hi,
            [coder ans: float16 Laplace mean, float16 Laplace scale]
    varint  payload length P

Every tensor is ``step * q`` with integer codes ``q`` in ``[lo, hi]`` (see
:func:`tinydip.codec.quantize.step_quantize`). Names and shapes of a Deep Decoder follow from
its architecture, so :func:`tinydip.codec.encoder.compress` omits them (flag 0) and the
header of a 6-layer decoder is ~0.2 KB (version 2: ~0.55 KB of compressed JSON).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import entropy
from .header import REQUIRED_KEYS, CodecError
from .quantize import STEP_MAX_LEVELS, StepCodes

VERSION = 3
META_DICT = (b'{"model":"deep_decoder","height":256,"width":256,"channels":3,"architecture":'
             b'{"k":16,"layers":6,"out_channels":3,"upsample_mode":"bilinear",'
             b'"input_scale":0.1},"seed":0}')
"""Preset DEFLATE dictionary of the caller's keys. Part of format 3: never change it."""
FLAG_LAYOUT = 1
CODEC_KEYS = ("format_version", "coder", "payload_bytes", "raw_bytes", "tensors")
"""Keys :func:`load_header` adds to the caller's (dropped when a header is written back)."""
Layout = Callable[[dict[str, Any]], dict[str, tuple[int, ...]]]  # caller keys -> name: shape
LAYOUTS: dict[str, Layout] = {}
"""Layouts by the header's ``model`` key, used when a reader passes none
(:mod:`tinydip.codec.decoding` registers the Deep Decoder's)."""
_MAX_META = 1 << 16
_MAX_VALUES = 1 << 28
_F16 = struct.Struct("<e")


# ----------------------------------------------------------------------------- varints


def register_layout(model: str, layout: Layout) -> None:
    """Let readers find ``layout`` for files whose header says ``"model": model``."""
    LAYOUTS[model] = layout


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError(f"varint must be non-negative, got {n}")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint(2 * n if n >= 0 else -2 * n - 1)


class _Reader:
    """Reads the header fields; every overrun is ``CodecError("malformed header: ...")``."""

    def __init__(self, blob: bytes):
        self.blob, self.pos = blob, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.blob):
            raise CodecError("malformed header: ends early")
        out = self.blob[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def varint(self) -> int:
        n = shift = 0
        while True:
            byte = self.u8()
            n |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise CodecError("malformed header: varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return n // 2 if n % 2 == 0 else -(n + 1) // 2

    def f16(self) -> float:
        return float(_F16.unpack(self.take(2))[0])


# ----------------------------------------------------------------------------- writing


def _meta(header: Mapping[str, Any]) -> bytes:
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=META_DICT)
    return comp.compress(text) + comp.flush()


def encode(user: Mapping[str, Any], tensors: Mapping[str, StepCodes], coder: str,
           layout: Layout | None = None) -> tuple[bytes, bytes]:
    """(header, payload) of a version-3 file; the container frames them.

    ``user``: the caller's JSON keys (validated by the container). ``layout``: if given and
    ``layout(user)`` names exactly ``tensors``' names and shapes in order, they are not
    stored (flag 0); the decoder then needs the same layout.
    """
    if coder not in entropy.CODERS:
        raise ValueError(f"coder must be one of {entropy.CODERS}, got {coder!r}")
    from_layout = layout is not None and list(layout(dict(user)).items()) == \
        [(n, t.shape) for n, t in tensors.items()]
    streams = []
    head = bytearray([entropy.CODERS.index(coder), FLAG_LAYOUT if from_layout else 0])
    meta = _meta(user)
    head += _varint(len(meta)) + meta + _varint(len(tensors))
    for name, t in tensors.items():
        if not from_layout:
            raw = name.encode("utf-8")
            head += _varint(len(raw)) + raw + _varint(len(t.shape))
            head += b"".join(_varint(d) for d in t.shape)
        head += _F16.pack(t.step) + _zigzag(t.lo) + _zigzag(t.hi)
        mean, scale = entropy.fit_laplace(t.codes)
        if coder == "ans":
            head += _F16.pack(mean) + _F16.pack(scale)
        streams.append(entropy.Stream(t.codes, t.lo, t.hi, mean, scale))
    payload = entropy.encode(streams, coder)
    head += _varint(len(payload))
    return bytes(head), payload


# ----------------------------------------------------------------------------- reading


def load_header(blob: bytes, layout: Layout | None = None) -> dict[str, Any]:
    """Parse and validate a version-3 header (no payload needed).

    Returns the caller's keys plus ``format_version``, ``coder``, ``payload_bytes``,
    ``raw_bytes`` (memory the decoded codes take: 8 bytes per value, for budget checks)
    and ``tensors``: one dict (name, shape, step, lo, hi, mean, scale) per tensor.
    """
    r = _Reader(blob)
    coder_id, flags = r.u8(), r.u8()
    if coder_id >= len(entropy.CODERS):
        raise CodecError(f"malformed header: unknown coder id {coder_id}")
    if flags & ~FLAG_LAYOUT:
        raise CodecError(f"malformed header: unknown flags {flags:#x}")
    coder = entropy.CODERS[coder_id]
    user = _load_meta(r.take(r.varint()))
    count = r.varint()
    if flags & FLAG_LAYOUT:
        model = user.get("model")
        layout = layout or (LAYOUTS.get(model) if isinstance(model, str) else None)
        if layout is None:
            raise CodecError("malformed header: the tensor layout follows from a model this "
                             "reader was not given")
        try:
            shapes = list(layout(user).items())
        except (ValueError, KeyError, TypeError) as exc:
            raise CodecError(f"malformed header: {exc}") from None
        if len(shapes) != count:
            raise CodecError(f"malformed header: {count} tensors, the model has {len(shapes)}")
    elif count > 4096:
        raise CodecError(f"malformed header: {count} tensors")
    tensors, names, total = [], set(), 0
    for i in range(count):
        if flags & FLAG_LAYOUT:
            name, shape = shapes[i][0], tuple(shapes[i][1])
        else:
            name = _text(r.take(r.varint()))
            ndim = r.varint()
            if ndim > 8:
                raise CodecError(f"malformed header: tensor {name!r} has {ndim} dimensions")
            shape = tuple(r.varint() for _ in range(ndim))
        if not name or name in names:
            raise CodecError(f"malformed header: empty or duplicate tensor name {name!r}")
        names.add(name)
        total += math.prod(shape)
        if total > _MAX_VALUES:
            raise CodecError(f"malformed header: more than {_MAX_VALUES} values")
        step, lo, hi = r.f16(), r.zigzag(), r.zigzag()
        if not (math.isfinite(step) and step > 0):
            raise CodecError(f"malformed header: bad step {step} for {name!r}")
        if not (lo <= hi and hi - lo < STEP_MAX_LEVELS and max(abs(lo), abs(hi)) < 2**31):
            raise CodecError(f"malformed header: bad code range {lo}..{hi} for {name!r}")
        mean, scale = (r.f16(), r.f16()) if coder == "ans" else (0.0, 1.0)
        if coder == "ans":
            entropy.check_model(mean, scale, lo, hi)
        tensors.append({"name": name, "shape": list(shape), "step": step, "lo": lo, "hi": hi,
                        "mean": mean, "scale": scale})
    payload_bytes = r.varint()
    if r.pos != len(blob):
        raise CodecError(f"malformed header: {len(blob) - r.pos} unexpected bytes at its end")
    return {**user, "format_version": VERSION, "coder": coder,
            "payload_bytes": payload_bytes, "raw_bytes": 8 * total, "tensors": tensors}


def decode_payload(payload: bytes, header: dict[str, Any]) -> dict[str, np.ndarray]:
    """The float32 tensors ``step * q`` of a header from :func:`load_header`."""
    specs = [entropy.StreamSpec(math.prod(t["shape"]), t["lo"], t["hi"], t["mean"], t["scale"])
             for t in header["tensors"]]
    streams = entropy.decode(payload, specs, header["coder"])
    out = {}
    for t, q in zip(header["tensors"], streams, strict=True):
        vals = np.float64(t["step"]) * q.astype(np.float64)
        out[t["name"]] = vals.astype(np.float32).reshape(t["shape"])
    return out


def _load_meta(blob: bytes) -> dict[str, Any]:
    dec = zlib.decompressobj(-15, zdict=META_DICT)
    try:
        text = dec.decompress(blob, _MAX_META + 1)
    except zlib.error as exc:
        raise CodecError(f"malformed header: keys do not decompress ({exc})") from None
    if len(text) > _MAX_META or not dec.eof or dec.unused_data:
        raise CodecError("malformed header: keys are incomplete or too long")
    try:
        user = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"malformed header: {type(exc).__name__}: {exc}") from None
    if not isinstance(user, dict):
        raise CodecError("malformed header: keys are not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in user]
    if missing:
        raise CodecError(f"malformed header: missing keys {missing}")
    return user


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CodecError("malformed header: tensor name is not UTF-8") from None
