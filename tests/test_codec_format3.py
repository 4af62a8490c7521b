"""Tests for tinydip.codec.format3 (the binary header of .tdd version 3) through the container:
round trips, the tensor table left to the model's layout, old files, crafted and damaged files."""

import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from tinydip.codec import entropy, format3
from tinydip.codec.container import (
    MAGIC,
    CodecError,
    decode_tdd,
    describe_tdd,
    encode_tdd3,
)
from tinydip.codec.decoding import layout
from tinydip.codec.encoder import decompress
from tinydip.codec.folded import tensor_shapes
from tinydip.codec.quantize import step_quantize, step_values
from tinydip.io.images import sample_image
from tinydip.metrics import psnr

ARCH = {"k": 16, "layers": 6, "out_channels": 3, "upsample_mode": "bilinear",
        "input_scale": 0.1}
HEADER = {"model": "deep_decoder", "height": 256, "width": 256, "channels": 3,
          "architecture": ARCH, "seed": 0}
DATA = Path(__file__).parent / "data"


def dd_tensors(arch=ARCH, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in tensor_shapes(arch).items():
        t = rng.laplace(1.0 if name[0] == "s" else 0.0, 0.2, shape).astype(np.float32)
        out[name] = step_quantize(t, 0.01 if name[0] == "w" else 0.002)
    return out


def frame(head: bytes, payload: bytes, version: int = 3) -> bytes:
    body = MAGIC + struct.pack("<HI", version, len(head)) + head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def split(data: bytes) -> tuple[bytes, bytes]:
    _, hlen = struct.unpack_from("<HI", data, 8)
    return data[14:14 + hlen], data[14 + hlen:-4]


@pytest.mark.parametrize("coder", entropy.CODERS)
@pytest.mark.parametrize("with_layout", [True, False])
def test_round_trip(coder, with_layout):
    if coder == "ans" and not entropy.ans_available():
        pytest.skip("constriction not installed")
    t = dd_tensors()
    data = encode_tdd3(HEADER, t, coder=coder, layout=layout if with_layout else None)
    header, tensors = decode_tdd(data)
    assert {k: header[k] for k in HEADER} == HEADER
    assert header["format_version"] == 3 and header["coder"] == coder
    assert list(tensors) == list(t)
    for name, sc in t.items():
        assert tensors[name].dtype == np.float32 and tensors[name].shape == sc.shape
        assert np.array_equal(tensors[name], step_values(tensors[name], sc.step))
        assert np.array_equal(np.rint(tensors[name].astype(np.float64) / sc.step).reshape(-1),
                              sc.codes)
    info = describe_tdd(data)
    assert info["version"] == 3 and info["coder"] == coder and info["bits"] is None
    assert info["num_values"] == sum(sc.codes.size for sc in t.values())
    assert info["total_bytes"] == len(data) == 14 + info["header_bytes"] + \
        info["payload_bytes"] + 4


def test_layout_makes_the_header_small():
    """A 6-layer decoder: names and shapes follow from the architecture (flag 0)."""
    t = dd_tensors()
    lean = encode_tdd3(HEADER, t, coder="zlib", layout=layout)
    full = encode_tdd3(HEADER, t, coder="zlib")
    h_lean, h_full = describe_tdd(lean)["header_bytes"], describe_tdd(full)["header_bytes"]
    assert h_full - h_lean > 19 * 5  # >= 5 bytes of name and shape per tensor saved
    assert h_lean < 19 * 7 + 40  # step + range per tensor, the keys in ~25 bytes
    assert split(lean)[0][1] == format3.FLAG_LAYOUT and split(full)[0][1] == 0
    # a layout that does not describe the tensors is not used
    assert encode_tdd3(HEADER, dict(list(t.items())[:-1]), coder="zlib", layout=layout)[
        14 + 1] == 0


def test_auto_picks_the_smallest():
    t = dd_tensors()
    sizes = [len(encode_tdd3(HEADER, t, coder=c, layout=layout)) for c in entropy.CODERS
             if c != "ans" or entropy.ans_available()]
    assert len(encode_tdd3(HEADER, t, layout=layout)) == min(sizes)


def test_keys_are_kept_and_codec_keys_dropped():
    t = dd_tensors()
    data = encode_tdd3({**HEADER, "note": "ü"}, t, coder="zlib", layout=layout)
    header, _ = decode_tdd(data)
    assert header["note"] == "ü"
    assert encode_tdd3(header, t, coder="zlib", layout=layout) == data  # round trip


def test_a_version_2_file_written_by_the_previous_code_still_decodes():
    """tests/data/codec_v2_k8.tdd: `compress(sample_image((32, 40)), k=8, layers=4, iters=40,
    qat_iters=10, bits=6)` written by format-2 tinydip (commit c5bc7fc)."""
    data = (DATA / "codec_v2_k8.tdd").read_bytes()
    assert struct.unpack_from("<H", data, 8)[0] == 2
    header, tensors = decode_tdd(data)
    assert header["bits"] == 6 and header["architecture"]["k"] == 8
    digest = hashlib.sha256(b"".join(tensors[n].tobytes() for n in sorted(tensors)))
    assert digest.hexdigest()[:16] == TENSORS_SHA
    img = decompress(data)
    assert img.shape == (32, 40, 3)
    u8 = np.round(np.clip(img.astype(np.float64), 0, 1) * 255) / 255
    assert psnr(u8, sample_image((32, 40))) == pytest.approx(14.0638, abs=2e-3)


TENSORS_SHA = "7ce2a0a8f0ab3c76"


def test_every_truncation_and_byte_flip_is_caught():
    t = dd_tensors(dict(ARCH, k=4, layers=2))
    hdr = {**HEADER, "architecture": dict(ARCH, k=4, layers=2)}
    for coder in ("zlib", "ans") if entropy.ans_available() else ("zlib",):
        data = encode_tdd3(hdr, t, coder=coder, layout=layout)
        for n in range(len(data)):
            with pytest.raises(CodecError, match="truncated"):
                decode_tdd(data[:n])
        for i in range(len(data)):
            damaged = bytearray(data)
            damaged[i] ^= 0x10
            with pytest.raises(CodecError):
                decode_tdd(bytes(damaged))


def test_crafted_headers_with_valid_checksum():
    t = dd_tensors()
    data = encode_tdd3(HEADER, t, coder="ans" if entropy.ans_available() else "zlib",
                       layout=layout)
    head, payload = split(data)

    def bad(match, h=head, p=payload):
        with pytest.raises(CodecError, match=match):
            decode_tdd(frame(h, p))

    bad("unknown coder id", h=bytes([9]) + head[1:])
    bad("unknown flags", h=head[:1] + bytes([0x82]) + head[2:])
    bad("ends early", h=head[:-3])
    bad("unexpected bytes at its end", h=head + b"\x00")
    bad("truncated|payload length mismatch", p=payload[:-4])
    bad("payload length mismatch", p=payload + b"\x00\x00\x00\x00")
    meta_len = head[2]
    bad("keys do not decompress|keys are incomplete", h=head[:3] + b"\xff" + head[4:])
    keys = format3._meta({"model": "deep_decoder", "height": 256})
    rest = head[3 + meta_len:]
    bad("missing keys", h=head[:2] + bytes([len(keys)]) + keys + rest)
    other = format3._meta({**HEADER, "model": "other"})
    bad("was not given", h=head[:2] + bytes([len(other)]) + other + rest)
    wrong = format3._meta({**HEADER, "architecture": dict(ARCH, layers=3)})
    bad("19 tensors, the model has 10", h=head[:2] + bytes([len(wrong)]) + wrong + rest)
    # one tensor record: a zero step, an inverted code range
    pos = 2 + 1 + meta_len + 1  # coder, flags, meta length + meta, tensor count
    zero = bytearray(head)
    zero[pos:pos + 2] = struct.pack("<e", 0.0)
    bad("bad step", h=bytes(zero))
    inv = bytearray(head)
    inv[pos + 2], inv[pos + 3] = 2, 1  # lo = 1, hi = -1 (zigzag)
    bad("bad code range|ends early|unexpected", h=bytes(inv))


def test_crafted_codes_out_of_range_are_refused():
    """A packed payload whose codes exceed the header's range (valid checksum)."""
    t = {"w": step_quantize(np.array([0.0, 0.01, 0.02]), 0.01)}  # codes 0, 1, 2: 2 bits
    hdr = {k: v for k, v in HEADER.items() if k != "model"} | {"model": "x"}
    data = encode_tdd3(hdr, t, coder="none")
    head, payload = split(data)
    assert payload == bytes([0b100100])
    with pytest.raises(CodecError, match="above the stated"):
        decode_tdd(frame(head, bytes([0b111111])))


def test_auto_coder_falls_back_when_ans_cannot_model_the_codes():  # issue 27
    from tinydip.codec.entropy import ans_available

    vals = (np.linspace(-0.01, 0.01, 50) + 100).astype(np.float32)
    t = {"w": step_quantize(vals, 1e-3)}  # codes ~1e5: beyond the float16 Laplace mean
    if ans_available():
        with pytest.raises(CodecError, match="bad entropy model"):
            encode_tdd3(HEADER, t, coder="ans")  # asked for by name: one clear error
    header, tensors = decode_tdd(encode_tdd3(HEADER, t, coder="auto"))
    assert header["coder"] != "ans" and np.abs(tensors["w"] - vals).max() <= 1e-3
