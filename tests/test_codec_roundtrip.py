"""Tests for tinydip.codec.encoder: compress -> .tdd bytes -> decompress, exactly."""

import os
import subprocess
import sys

import numpy as np
import pytest

from tinydip.codec import CodecError, decode_tdd, describe_tdd, encode_tdd
from tinydip.codec.encoder import CodecConfig, compress, decompress, quantised, stats
from tinydip.codec.folded import build_decoder, decode_image, decoder_input, fold_batchnorm
from tinydip.codec.quantize import step_values
from tinydip.functional import mse_loss
from tinydip.io.images import load_image, sample_image, to_tensor
from tinydip.metrics import psnr

TINY = CodecConfig(k=8, layers=4, iters=40, qat_iters=10, progress=False)


@pytest.fixture(scope="module")
def image():
    return sample_image((32, 40))


@pytest.fixture(scope="module")
def result(image):
    return compress(image, TINY)


def test_round_trip_gives_the_encoders_quantised_forward(image, result):
    header, tensors = decode_tdd(result.data)
    # the file holds exactly the quantised tensors the encoder evaluated ...
    assert list(tensors) == list(result.tensors)
    for name, value in result.tensors.items():
        assert np.array_equal(tensors[name], value), name
    # ... and decoding it gives exactly the encoder's best fine-tuning output
    img = decompress(result.data)
    assert img.shape == image.shape and img.dtype == np.float32
    assert np.array_equal(img, result.image)
    ref = decode_image(header["architecture"], result.tensors, 32, 40, header["seed"])
    assert np.array_equal(to_tensor(img), ref)
    best_qat = min(h["loss"] for h in result.history if h["stage"] == "qat")
    assert mse_loss(to_tensor(img), to_tensor(image))[0] == best_qat


def test_decompress_twice_in_process_is_identical(result, tmp_path):
    path = tmp_path / "a.tdd"
    path.write_bytes(result.data)
    a, b = decompress(path), decompress(result.data)
    assert np.array_equal(a, b)
    with open(path, "rb") as f:
        assert np.array_equal(decompress(f), a)


def untrained_file(k: int, size: int) -> bytes:
    """A valid .tdd of an initialised (unfitted) decoder: no fitting needed."""
    arch = {"k": k, "layers": 4, "out_channels": 3, "upsample_mode": "bilinear",
            "input_scale": 0.1}
    net = build_decoder(arch, seed=0)
    tensors = fold_batchnorm(net, decoder_input(arch, size, size, 5))
    header = {"model": "deep_decoder", "height": size, "width": size, "channels": 3,
              "architecture": arch, "seed": 5}
    return encode_tdd(header, tensors, 8)


@pytest.mark.parametrize("which", ["fitted", "wide"])
def test_decompress_is_deterministic_across_processes(result, tmp_path, which):
    """Two fresh processes, 1 and 2 threads ("wide": big enough for blocked products)."""
    data = result.data if which == "fitted" else untrained_file(64, 64)
    path = tmp_path / "a.tdd"
    path.write_bytes(data)
    outs = []
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_NUM_THREADS"}
    for i, threads in enumerate(("1", "2")):
        out = tmp_path / f"out{i}.png"
        proc = subprocess.run([sys.executable, "-m", "tinydip.cli.main", "decompress", str(path),
                               "-o", str(out), "--threads", threads],
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 0, proc.stderr
        outs.append(load_image(out))
    assert np.array_equal(outs[0], outs[1])
    u8 = np.round(np.clip(decompress(data).astype(np.float64), 0, 1) * 255) / 255
    assert np.array_equal(outs[0], u8.astype(np.float32))


def test_encoder_is_deterministic(image, result):
    again = compress(image, TINY)
    assert again.data == result.data


def test_header_and_counts(image, result):
    header, _ = decode_tdd(result.data)
    assert header["model"] == "deep_decoder"
    assert (header["height"], header["width"], header["channels"]) == (32, 40, 3)
    assert header["architecture"] == {"k": 8, "layers": 4, "out_channels": 3,
                                      "upsample_mode": "bilinear", "input_scale": 0.1}
    assert header["seed"] == 0 and header["format_version"] == 3
    assert header["coder"] in ("ans", "lzma", "zlib", "none")
    assert result.num_parameters == 4 * 64 + 2 * 4 * 8 + 8 * 3 == result.stored_values
    info = describe_tdd(result.data)
    assert info["num_values"] == result.stored_values
    assert info["total_bytes"] == result.nbytes
    s = stats(result)
    assert s["file_bytes"] == result.nbytes
    assert s["bits_per_pixel"] == pytest.approx(8 * result.nbytes / (32 * 40))
    assert s["compression_ratio"] == pytest.approx(32 * 40 * 3 / result.nbytes)
    u8 = np.round(np.clip(result.image.astype(np.float64), 0, 1) * 255) / 255
    assert s["psnr"] == psnr(u8, image)


def test_finetuning_never_hurts(result):
    qat = [h for h in result.history if h["stage"] == "qat"]
    assert len(qat) == TINY.qat_iters + 1
    assert min(h["loss"] for h in qat) <= qat[0]["loss"]


def test_without_incremental_rounding_finetuning_starts_from_plain_quantisation(image):
    r = compress(image, TINY, incremental_iters=0)
    assert not [h for h in r.history if h["stage"] == "incremental"]
    qat = [h for h in r.history if h["stage"] == "qat"]
    assert r.psnr_ptq == qat[0]["psnr"]


@pytest.mark.parametrize("allocation", ["uniform", "rd"])
def test_step_grid_files(image, allocation):
    """bits 2..15: format 3, every tensor on its own grid step * q (step from the header)."""
    # (no incremental rounding: its steps keep fitting this 5-step fit and widen the ranges)
    r = compress(image, TINY, bits=4, iters=5, qat_iters=2, allocation=allocation,
                 incremental_iters=0)
    header, tensors = decode_tdd(r.data)
    assert header["format_version"] == 3 and describe_tdd(r.data)["bits"] is None
    steps = {t["name"]: t["step"] for t in header["tensors"]}
    assert steps == r.steps
    for name, value in tensors.items():
        assert np.array_equal(value, r.tensors[name])
        assert np.array_equal(step_values(value, steps[name]), value)  # on the grid
    if allocation == "uniform":  # 2^4 levels over each fitted tensor's range; fine-tuning
        # and the BatchNorm refold move the stored values a little beyond it
        assert all(t["hi"] - t["lo"] <= 24 for t in header["tensors"])
    assert np.array_equal(decompress(r.data), r.image)


@pytest.mark.parametrize("bits", [16, 32])
def test_raw_float_bits_write_format_2(image, bits):
    r = compress(image, TINY, bits=bits, iters=5, qat_iters=2)
    header, tensors = decode_tdd(r.data)
    assert header["bits"] == bits and describe_tdd(r.data)["version"] == 2
    assert {t["kind"] for t in header["tensors"]} == {f"float{bits}"}
    for name, value in tensors.items():
        assert np.array_equal(value, r.tensors[name])
        assert np.array_equal(quantised(value, bits), value)
    assert np.array_equal(decompress(r.data), r.image)


def test_fewer_bits_smaller_file(image):
    sizes = [compress(image, TINY, bits=b, iters=3, qat_iters=0).nbytes for b in (4, 8, 16)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_grayscale_and_odd_size():
    img = sample_image((33, 47), gray=True)
    r = compress(img, TINY, iters=5, qat_iters=2)
    out = decompress(r.data)
    assert out.shape == (33, 47, 1)
    assert np.array_equal(out, r.image)


def test_compress_rejects_bad_input(image):
    with pytest.raises(ValueError, match="at least 64x64"):
        compress(image[:16], TINY, layers=6)
    with pytest.raises(ValueError, match="bits"):
        compress(image, TINY, bits=1)
    with pytest.raises(ValueError, match="HxWxC"):
        compress(np.zeros((32, 32, 2), np.float32), TINY)


def test_foreign_tdd_is_rejected(result):
    header, tensors = decode_tdd(result.data)
    other = encode_tdd({**header, "model": "something_else"}, tensors, 8)
    with pytest.raises(CodecError, match="not a Deep Decoder file"):
        decompress(other)
    del tensors["w0"]
    with pytest.raises(CodecError, match="do not match"):
        decompress(encode_tdd(header, tensors, 8))
    with pytest.raises(CodecError, match="architecture"):
        decompress(encode_tdd({**header, "architecture": {"k": 8}}, tensors, 8))


def test_fit_keep_best_state_reproduces_best_output(image):
    """The fit option the codec relies on: best_state holds the weights that made `best`."""
    from tinydip.fitting.fit import fit

    a = TINY.architecture(3)
    net = build_decoder(a, seed=0)
    z = decoder_input(a, 32, 40, 0)
    res = fit(net, to_tensor(image), z=z, iters=25, lr=0.05, reg_noise_std=0, output="best",
              progress=False, keep_best_state=True)
    assert res.best_state is not None and res.best_iter < 25
    net.load_state_dict(res.best_state)
    assert np.array_equal(net.train()(z)[:, :, :32, :40], res.best)
    plain = fit(build_decoder(a, seed=0), to_tensor(image), z=z, iters=2, progress=False)
    assert plain.best_state is None
