"""Decoding a Deep Decoder ``.tdd`` file: validate the header, then run the folded network.

Any version the container reads (1-3) decodes here. Every check that bounds memory runs on
the header, before the payload is decompressed or entropy-decoded.
"""

from __future__ import annotations

import numpy as np

from ..fitting.memory import default_budget, format_bytes
from ..io.images import to_image
from .container import CodecError, _read_bytes, decode_tdd
from .folded import check_architecture, decode_image, decode_memory, tensor_shapes
from .format3 import register_layout

MODEL = "deep_decoder"
"""Value of the ``model`` header key of files written by this codec."""


def layout(header: dict) -> dict[str, tuple[int, ...]]:
    """Names and shapes of a Deep Decoder's stored tensors, from its header's architecture
    (the format-3 files of :func:`tinydip.codec.encoder.compress` do not store them)."""
    if header.get("model") != MODEL:
        raise CodecError(f"not a Deep Decoder file: model is {header.get('model')!r}, "
                         f"expected {MODEL!r}")
    try:
        return tensor_shapes(check_architecture(header["architecture"]))
    except (ValueError, KeyError) as exc:
        raise CodecError(f"malformed header: {exc}") from None


register_layout(MODEL, layout)


def decompress(source, *, with_header: bool = False, max_memory: int | None = None):
    """Decode a ``.tdd`` file (bytes, a path or a binary file object) to an HxWxC image.

    Returns the float32 image in (0, 1), or ``(image, header)`` with ``with_header=True``.
    Raises :class:`CodecError` for files that are not readable Deep Decoder files, and
    before anything large is allocated if decoding would need more than ``max_memory``
    bytes (default: :func:`tinydip.fitting.memory.default_budget`, and at most
    :func:`file_budget` of the file's size: a tiny file cannot ask for gigabytes unless
    ``max_memory`` says so; see :func:`decode_memory`).
    """
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) \
        else _read_bytes(source)

    def check(header: dict) -> None:
        check_fields(header, max_memory, file_bytes=len(data))

    header, tensors = decode_tdd(data, check, layout)
    arch, H, W, seed = check_header(header, tensors)
    img = to_image(decode_image(arch, tensors, H, W, seed))
    return (img, header) if with_header else img


# Decoding memory a file may ask for without --max-memory: 1 GiB, or 256 KiB per byte of the
# file if that is more (a 17 KB file of a 1024x1024 image at k=64 needs ~2 GB: allowed; a
# crafted 191-byte file declaring 8192x8192 needs 5.4 GB: refused).
FILE_BUDGET_FLOOR = 1 << 30
FILE_BUDGET_PER_BYTE = 256 << 10


def file_budget(file_bytes: int) -> int:
    """The most memory decoding a file of ``file_bytes`` may use unless told otherwise."""
    return max(FILE_BUDGET_FLOOR, FILE_BUDGET_PER_BYTE * int(file_bytes))


def check_fields(header: dict, max_memory: int | None = None, *,
                 file_bytes: int | None = None) -> tuple[dict, int, int, int]:
    """Validate a header's Deep Decoder fields before its payload is decompressed.

    Refuses (CodecError, one line) another model, a bad architecture, sizes out of range,
    and a file whose decoding would need more memory than ``max_memory`` (default
    :func:`tinydip.fitting.memory.default_budget`): the limit follows from the estimate, not from a
    fixed element count.
    """
    if header.get("model") != MODEL:
        raise CodecError(f"not a Deep Decoder file: model is {header.get('model')!r}, "
                         f"expected {MODEL!r}")
    try:
        arch = check_architecture(header["architecture"])
    except ValueError as exc:
        raise CodecError(f"malformed header: {exc}") from None
    H, W, C, seed = (header.get(key) for key in ("height", "width", "channels", "seed"))
    for key, value in (("height", H), ("width", W), ("channels", C), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CodecError(f"malformed header: {key} must be a non-negative integer")
    if C != arch["out_channels"] or C not in (1, 3):
        raise CodecError(f"malformed header: {C} channels but the decoder outputs "
                         f"{arch['out_channels']}")
    m = 2 ** (arch["layers"] - 1)
    if not m <= H <= 65536 or not m <= W <= 65536:
        raise CodecError(f"malformed header: image size {H}x{W} out of range")
    need = decode_memory(arch, H, W, header.get("raw_bytes", 0))
    limit = default_budget() if max_memory is None else int(max_memory)
    if max_memory is None and file_bytes is not None and need > file_budget(file_bytes):
        raise CodecError(f"decoding needs about {format_bytes(need)} of memory (a {H}x{W} "
                         f"image, k={arch['k']}, {arch['layers']} layers), over the "
                         f"{format_bytes(file_budget(file_bytes))} a {file_bytes}-byte file "
                         "may ask for by default; use --max-memory if this file is trusted")
    if need > limit:
        raise CodecError(f"decoding needs about {format_bytes(need)} of memory (a {H}x{W} "
                         f"image, k={arch['k']}, {arch['layers']} layers), over the budget of "
                         f"{format_bytes(limit)}; use --max-memory if this file is trusted")
    return arch, H, W, seed


def check_header(header: dict, tensors: dict[str, np.ndarray]) -> tuple[dict, int, int, int]:
    """Validate a decoded header against the Deep Decoder layout; CodecError if it is not one."""
    arch, H, W, seed = check_fields(header, max_memory=2**62)  # memory: checked before decoding
    expected = tensor_shapes(arch)
    got = {name: tuple(t.shape) for name, t in tensors.items()}
    if got != expected:
        raise CodecError("malformed file: stored tensors do not match the architecture")
    return arch, H, W, seed
