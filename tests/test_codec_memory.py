"""Decoding refuses files whose decoding would not fit in memory, before allocating anything."""

from __future__ import annotations

import json
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from tinydip.codec import CodecError, decode_tdd, encode_tdd3, step_quantize
from tinydip.codec.container import MAGIC
from tinydip.codec.decoding import layout
from tinydip.codec.encoder import CodecConfig, compress, decompress
from tinydip.codec.folded import decode_image, decode_memory, tensor_shapes
from tinydip.io.images import sample_image


def _reframe(header: dict, payload: bytes) -> bytes:
    head = zlib.compress(json.dumps(header).encode())
    body = MAGIC + struct.pack("<HI", 2, len(head)) + head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def _split(data: bytes) -> tuple[dict, bytes]:
    _, hlen = struct.unpack_from("<HI", data, 8)
    return json.loads(zlib.decompress(data[14:14 + hlen])), data[14 + hlen:-4]


def _reencode3(data: bytes, **changes) -> bytes:
    """A format-3 file with other header keys and the same stored tensors."""
    header, tensors = decode_tdd(data)
    steps = {t["name"]: t["step"] for t in header["tensors"]}
    user = {k: header[k] for k in ("model", "height", "width", "channels", "architecture",
                                   "seed")}
    q = {n: step_quantize(v, steps[n]) for n, v in tensors.items()}
    return encode_tdd3({**user, **changes}, q, layout=layout)


@pytest.fixture(scope="module")
def small_file() -> bytes:
    """Format 2 (raw float16 values: a JSON header these tests rewrite)."""
    cfg = CodecConfig(k=8, layers=4, iters=5, qat_iters=0, bits=16, progress=False)
    return compress(sample_image(32), cfg).data


@pytest.fixture(scope="module")
def small_file3() -> bytes:
    cfg = CodecConfig(k=8, layers=4, iters=5, qat_iters=0, progress=False)
    return compress(sample_image(32), cfg).data


def test_format3_huge_image_or_architecture_refused_before_decoding(small_file3):
    assert _reencode3(small_file3) == small_file3  # the helper changes nothing by itself
    crafted = _reencode3(small_file3, height=32768, width=32768)
    assert len(crafted) < 2048
    tracemalloc.start()
    try:
        with pytest.raises(CodecError, match=r"decoding needs about \d+\.\d GB .*32768x32768"):
            decompress(crafted)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    header, _ = decode_tdd(small_file3)
    wide = {**header["architecture"], "k": 4096}  # same layers: same tensor count
    with pytest.raises(CodecError, match=r"k=4096, 4 layers\), over the budget"):
        decompress(_reencode3(small_file3, architecture=wide, height=1024, width=1024),
                   max_memory=4 * 2**30)
    deeper = {**header["architecture"], "layers": 10}  # the tensors no longer fit it
    with pytest.raises(CodecError, match="do not match the architecture"):
        decompress(_reencode3(small_file3, architecture=deeper, height=1024, width=1024))


def test_a_huge_declared_image_is_refused_before_decoding(small_file):
    header, payload = _split(small_file)
    crafted = _reframe({**header, "height": 32768, "width": 32768}, payload)
    assert len(crafted) < 2048  # a tiny file ...
    tracemalloc.start()
    try:
        with pytest.raises(CodecError, match=r"decoding needs about \d+\.\d GB .*32768x32768"):
            decompress(crafted)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20  # ... refused without allocating for it


def test_a_wide_deep_architecture_is_refused(small_file):
    header, payload = _split(small_file)
    arch = {**header["architecture"], "k": 4096, "layers": 10}
    with pytest.raises(CodecError, match=r"k=4096, 10 layers\), over the budget"):
        decompress(_reframe({**header, "architecture": arch, "height": 1024, "width": 1024},
                            payload), max_memory=4 * 2**30)


def test_budget_is_the_limit_not_a_fixed_count(small_file):
    assert decompress(small_file).shape == (32, 32, 3)  # default budget: fine
    with pytest.raises(CodecError, match="over the budget of"):
        decompress(small_file, max_memory=1000)


@pytest.mark.parametrize("k, layers, size", [(16, 5, 256), (64, 6, 128)])
def test_decode_memory_estimate_bounds_the_measured_peak(k, layers, size):
    arch = {"k": k, "layers": layers, "out_channels": 3, "upsample_mode": "bilinear",
            "input_scale": 0.1}
    rng = np.random.default_rng(0)
    tensors = {n: rng.random(s, dtype=np.float32) for n, s in tensor_shapes(arch).items()}
    # warm at the measured size: the products' numba kernels (split from 2 MFLOP) compile on
    # first use, and the compiler's own allocations are not what the estimate bounds
    decode_image(arch, tensors, size, size, 0)
    tracemalloc.start()
    try:
        decode_image(arch, tensors, size, size, 0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    est = decode_memory(arch, size, size)
    assert peak <= est <= 1.3 * peak + 2**20, (peak, est)
