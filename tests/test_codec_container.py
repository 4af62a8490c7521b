"""Tests for tinydip.codec.container and .header: the .tdd format, round trips, and corruption
handling (the header is only reachable through files, so it is tested here)."""

import io
import json
import struct
import zlib

import numpy as np
import pytest

from tinydip.codec.container import (
    CODEC_KEYS,
    MAGIC,
    CodecError,
    decode_tdd,
    describe_tdd,
    encode_tdd,
    read_tdd,
    write_tdd,
)
from tinydip.codec.quantize import dequantize, quantize

HEADER = {"height": 64, "width": 48, "channels": 3, "seed": 1234,
          "architecture": {"name": "deep_decoder", "k": 64, "layers": 6}}


def decoder_state(k: int = 64, layers: int = 6, out: int = 3, seed: int = 0) -> dict:
    """Deep-Decoder-like state: 1x1 convs and per-channel BN scale/shift (25,536 values)."""
    rng = np.random.default_rng(seed)
    state = {}
    for i in range(layers):
        state[f"layers.{i}.conv.weight"] = (rng.standard_normal((k, k, 1, 1)) / 8).astype(
            np.float32)
        state[f"layers.{i}.bn.scale"] = (1 + 0.1 * rng.standard_normal(k)).astype(np.float32)
        state[f"layers.{i}.bn.shift"] = (0.1 * rng.standard_normal(k)).astype(np.float32)
    state["out.conv.weight"] = (rng.standard_normal((out, k, 1, 1)) / 8).astype(np.float32)
    return state


def tiny_state() -> dict:
    rng = np.random.default_rng(5)
    return {"w": rng.standard_normal((4, 3, 1, 1)).astype(np.float32),
            "b": rng.standard_normal(4).astype(np.float32),
            "c": np.full((2, 2), 0.5, np.float32)}


def reframe(header: dict, payload: bytes, version: int = 2, raw_header: bytes | None = None
            ) -> bytes:
    """Build a file with a *valid* checksum around an arbitrary header and payload
    (``raw_header``: these exact header bytes, stored as they are)."""
    head = json.dumps(header).encode() if raw_header is None else raw_header
    if version >= 2 and raw_header is None:
        head = zlib.compress(head)
    body = MAGIC + struct.pack("<HI", version, len(head)) + head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def split(data: bytes) -> tuple[dict, bytes]:
    version, hlen = struct.unpack_from("<HI", data, 8)
    head = data[14:14 + hlen]
    return json.loads(zlib.decompress(head) if version >= 2 else head), data[14 + hlen:-4]


@pytest.fixture(scope="module")
def state():
    return decoder_state()


@pytest.fixture(scope="module")
def tiny_file():
    return encode_tdd(HEADER, tiny_state(), 6)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("bits", [2, 4, 6, 8, 12, 16])
def test_roundtrip(state, bits):
    data = encode_tdd(HEADER, state, bits)
    header, out = decode_tdd(data)
    assert list(out) == list(state)
    for name, a in state.items():
        assert out[name].dtype == np.float32 and out[name].shape == a.shape
    for entry in header["tensors"]:
        a, b = state[entry["name"]], out[entry["name"]]
        tol = entry["scale"] / 2 if bits < 16 else 2.0**-11 * np.abs(a)
        assert np.all(np.abs(a - b) <= tol + 1e-6)
    for name, a in state.items():  # the decoder sees exactly what the encoder computed
        np.testing.assert_array_equal(out[name], dequantize(quantize(a, bits)))
    for key, value in HEADER.items():
        assert header[key] == value
    assert header["bits"] == bits and set(CODEC_KEYS) - {"lzma_dict_size"} <= set(header)


@pytest.mark.parametrize("packing", ["dense", "planes"])
@pytest.mark.parametrize("compression", ["lzma", "zlib", "none"])
def test_lossless_at_32_bits(packing, compression):
    st = decoder_state(k=8, layers=2)
    data = encode_tdd(HEADER, st, 32, packing=packing, compression=compression)
    header, out = decode_tdd(data)
    assert (header["packing"], header["compression"]) == (packing, compression)
    for name in st:
        np.testing.assert_array_equal(out[name], st[name])


def test_auto_picks_smallest(state):
    sizes = [len(encode_tdd(HEADER, state, 6, packing=p, compression=c))
             for p in ("dense", "planes") for c in ("lzma", "zlib", "none")]
    assert len(encode_tdd(HEADER, state, 6)) == min(sizes)
    # uncompressed dense 6-bit payload really is 6 bits per weight
    desc = describe_tdd(encode_tdd(HEADER, state, 6, packing="dense", compression="none"))
    assert desc["payload_bytes"] == sum((a.size * 6 + 7) // 8 for a in state.values())


def test_describe_accounts_for_every_byte(state):
    data = encode_tdd(HEADER, state, 8)
    d = describe_tdd(data)
    assert d["total_bytes"] == len(data)
    assert d["total_bytes"] == (d["prefix_bytes"] + d["header_bytes"] + d["payload_bytes"]
                                + d["checksum_bytes"])
    assert d["num_values"] == 25536 and d["num_tensors"] == len(state)
    assert d["bits_per_value"] == pytest.approx(8 * len(data) / 25536)
    assert d["bits_per_value"] < 8 + 1  # header overhead stays small
    assert d["header_bytes"] < 0.1 * d["total_bytes"]


def test_file_and_fileobj(tmp_path, state):
    path = tmp_path / "img.tdd"
    n = write_tdd(path, HEADER, state, 6)
    assert n == path.stat().st_size
    h1, t1 = read_tdd(path)
    h2, t2 = read_tdd(str(path))
    buf = io.BytesIO()
    assert write_tdd(buf, HEADER, state, 6) == n
    buf.seek(0)
    h3, t3 = read_tdd(buf)
    assert h1 == h2 == h3
    with pytest.raises(ValueError, match="cannot write"):
        write_tdd(tmp_path / "no" / "such" / "dir.tdd", HEADER, state, 6)
    with pytest.raises(CodecError, match="binary"):
        read_tdd(io.StringIO("TINYDIP"))
    for name in state:
        np.testing.assert_array_equal(t1[name], t3[name])


def test_overrides(state):
    data = encode_tdd(HEADER, state, 4, overrides={"layers.0.bn.scale": 16,
                                                   "out.conv.weight": 32})
    header, out = decode_tdd(data)
    bits = {e["name"]: e["bits"] for e in header["tensors"]}
    assert bits["layers.0.bn.scale"] == 16 and bits["layers.1.bn.scale"] == 4
    np.testing.assert_array_equal(out["out.conv.weight"], state["out.conv.weight"])
    with pytest.raises(ValueError, match="unknown"):
        encode_tdd(HEADER, state, 4, overrides={"nope": 8})


def test_header_normalisation_and_reencode(state):
    header = {**HEADER, "seed": np.int64(7), "note": "ü", "bits": 99, "tensors": "junk"}
    data = encode_tdd(header, state, 6)
    parsed, _ = decode_tdd(data)
    assert parsed["seed"] == 7 and parsed["note"] == "ü" and parsed["bits"] == 6
    # a decoded header can be fed back in: codec keys are recomputed
    assert encode_tdd(parsed, state, 6) == data


@pytest.mark.parametrize("kwargs, match", [
    ({"header": {"height": 1}}, "missing"),
    ({"header": {**HEADER, "x": object()}}, "JSON"),
    ({"header": {**HEADER, "x": float("nan")}}, "JSON"),
    ({"bits": 7.5}, "bits"),
    ({"bits": 1}, "bits"),
    ({"compression": "bz2"}, "compression"),
    ({"packing": "sparse"}, "packing"),
    ({"tensors": {"": np.zeros(2)}}, "name"),
    ({"tensors": {"w": np.array([np.nan])}}, "NaN"),
])
def test_encode_rejects_bad_input(kwargs, match):
    args = {"header": HEADER, "tensors": tiny_state(), "bits": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        encode_tdd(args.pop("header"), args.pop("tensors"), args.pop("bits"), **args)


def test_empty_state():
    header, out = decode_tdd(encode_tdd(HEADER, {}, 8))
    assert out == {} and header["tensors"] == []
    assert describe_tdd(encode_tdd(HEADER, {}, 8))["bits_per_value"] is None


# ----------------------------------------------------------------------------- errors


def test_error_messages(tmp_path, tiny_file):
    assert issubclass(CodecError, ValueError)
    cases = [
        (lambda: read_tdd(tmp_path / "missing.tdd"), "not found"),
        (lambda: read_tdd(tmp_path), "cannot read"),
        (lambda: decode_tdd(b""), "truncated"),
        (lambda: decode_tdd(MAGIC + b"\x01"), "truncated"),
        (lambda: decode_tdd(b"\x89PNG\r\n\x1a\n" + bytes(100)), "not a tinydip .tdd file"),
        (lambda: decode_tdd(b"GIF"), "not a tinydip .tdd file"),
        (lambda: decode_tdd(tiny_file[:-10]), "truncated"),
        (lambda: decode_tdd(tiny_file + b"\x00"), "corrupt"),
        (lambda: decode_tdd(tiny_file[:-1] + bytes([tiny_file[-1] ^ 1])), "corrupt"),
    ]
    for call, match in cases:
        with pytest.raises(CodecError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


def test_version_1_files_still_read(tiny_file):
    """Format 1 stored the same JSON header uncompressed; version 2 only compresses it."""
    header, payload = split(tiny_file)
    assert struct.unpack_from("<H", tiny_file, 8)[0] == 2
    v1 = reframe(header, payload, version=1)
    assert len(v1) > len(tiny_file) + 100  # the compressed header is the point of version 2
    h1, t1 = decode_tdd(v1)
    h2, t2 = decode_tdd(tiny_file)
    assert h1 == h2 and all(np.array_equal(t1[k], t2[k]) for k in t2)


def test_future_version(tiny_file):
    future = tiny_file[:8] + struct.pack("<H", 4) + tiny_file[10:]
    with pytest.raises(CodecError, match="written by a newer tinydip: format version 4, "
                                         "this reader supports 3"):
        decode_tdd(future)
    with pytest.raises(CodecError, match="version 0"):
        decode_tdd(tiny_file[:8] + struct.pack("<H", 0) + tiny_file[10:])


def test_crafted_files_with_valid_checksum(tiny_file):
    header, payload = split(tiny_file)
    assert decode_tdd(reframe(header, payload))[1].keys() == tiny_state().keys()

    def bad(match, h=None, p=None, raw_header=None, version=2):
        data = reframe(h if h is not None else header, payload if p is None else p,
                       version, raw_header)
        with pytest.raises(CodecError, match=match):
            decode_tdd(data)

    for raw in (b"{not json", b"\xff\xfe", b"[1, 2]", b"[" * 100000 + b"]" * 100000):
        bad("malformed header", raw_header=raw, version=1)
        bad("malformed header", raw_header=zlib.compress(raw))
    bad("malformed header: does not decompress", raw_header=b"{not zlib}")
    bad("malformed header: compressed header is incomplete",
        raw_header=zlib.compress(json.dumps(header).encode())[:-5])
    bad("too long", raw_header=zlib.compress(b" " * (2 << 20)))  # a header bomb
    bad("malformed header", h={k: v for k, v in header.items() if k != "seed"})
    bad("malformed header", h={**header, "compression": "bz2"})
    bad("malformed header", h={**header, "bits": True})
    bad("malformed header", h={**header, "tensors": [["w", [-1], "codes", 6, 1, 0, 0]]})
    bad("malformed header", h={**header, "tensors": [{"name": "w"}]})
    row = list(header["tensors"][0])
    bad("malformed header", h={**header, "tensors": [[*row[:4], "x", *row[5:]]]})
    bad("malformed header", h={**header, "tensors": [row, row]})
    bad("payload length mismatch", p=payload + b"\x00")
    bad("payload length mismatch", h={**header, "raw_bytes": header["raw_bytes"] + 1})
    rows = [list(r) for r in header["tensors"]]
    rows[0][6] += 1
    bad("payload length mismatch", h={**header, "tensors": rows})


@pytest.mark.parametrize("compression", ["lzma", "zlib"])
def test_crafted_undecodable_payload(compression):
    data = encode_tdd(HEADER, decoder_state(k=8, layers=1), 6, compression=compression)
    header, payload = split(data)
    for garbage in (bytes(len(payload)), b"\xff" * len(payload), payload[:-3] + b"abc"):
        with pytest.raises(CodecError, match="corrupt|payload length mismatch"):
            decode_tdd(reframe({**header, "payload_bytes": len(garbage)}, garbage))
    # a valid stream of the wrong length (another file's payload)
    other = split(encode_tdd(HEADER, {"w": np.arange(9.0)}, 6, compression=compression))[1]
    with pytest.raises(CodecError, match="payload length mismatch"):
        decode_tdd(reframe({**header, "payload_bytes": len(other)}, other))


def test_crafted_uncompressed_payload_checks():
    data = encode_tdd(HEADER, {"w": np.arange(4.0)}, 6, packing="planes", compression="none")
    header, payload = split(data)
    with pytest.raises(CodecError, match="out of range"):
        decode_tdd(reframe(header, bytes([0, 1, 2, 255])))
    with pytest.raises(CodecError, match="payload length mismatch"):
        decode_tdd(reframe({**header, "payload_bytes": 5}, payload + b"\x00"))


def test_every_truncation_is_reported(tiny_file):
    for n in range(len(tiny_file)):
        with pytest.raises(CodecError, match="truncated"):
            decode_tdd(tiny_file[:n])


def test_every_byte_flip_is_caught(tiny_file):
    rng = np.random.default_rng(0)
    for i in range(len(tiny_file)):
        for mask in (0x01, 0x80, int(rng.integers(1, 256))):
            data = bytearray(tiny_file)
            data[i] ^= mask
            with pytest.raises(CodecError):
                decode_tdd(bytes(data))


def test_random_multi_byte_damage(state):
    data = encode_tdd(HEADER, decoder_state(k=16, layers=2), 5)
    rng = np.random.default_rng(1)
    for _ in range(300):
        damaged = bytearray(data)
        idx = rng.integers(0, len(data), size=int(rng.integers(2, 9)))
        for i in idx:
            damaged[i] = (damaged[i] + int(rng.integers(1, 256))) % 256
        with pytest.raises(CodecError):
            decode_tdd(bytes(damaged))
