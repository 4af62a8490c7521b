"""Deep Decoder image codec: fit, fold BatchNorm, quantise, fine-tune, store -- and decode.

Encoding (:func:`compress` = :func:`encode_fitted` of :func:`fit_image`):

1. Fit a ``deep_decoder`` to the image with Adam, the learning rate decaying on a cosine
   (:func:`tinydip.codec.fitting.fit_decoder`), and keep the weights of the lowest loss.
2. Fold every BatchNorm into a per-channel scale/shift (:func:`~.folded.fold_batchnorm`) and
   choose a quantisation step per stored tensor: ``2^bits`` levels over its range
   (``allocation="uniform"``) or redistributed by measured rate-distortion sensitivity at
   about the same rate (``"rd"``, the default; :mod:`tinydip.codec.allocation`).
3. Incremental quantisation (:mod:`tinydip.codec.incremental`): round the conv matrices one
   at a time from the input, then the per-channel scales and shifts; after each group the
   still-float tensors take a few Adam steps to absorb its rounding error. Then
   quantisation-aware fine-tuning of the folded network: float "shadow" copies of every
   stored tensor; each step runs the network with the QUANTISED shadows (exactly what the
   decoder will compute), and the straight-through gradient updates the shadows (Adam).
   The step with the lowest loss wins. (``incremental_iters=0``: the fine-tuning starts from
   the conv weights quantised and the BatchNorms of THAT network refolded, i.e. from plain
   post-training quantisation.)
4. Write the winner as format 3 (:func:`~.container.encode_tdd3`: binary header, ANS
   entropy coding with a fitted Laplace model per tensor when the optional ``constriction``
   package is installed, else the smallest of lzma/zlib); ``bits`` 16 / 32 (raw floats)
   write format 2. The reported image is the decode of the written bytes.

Decoding (:func:`decompress`, :mod:`tinydip.codec.decoding`) regenerates z from the stored
seed and runs the folded network: a fixed feed-forward computation, deterministic.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..fitting.fit import fit_step
from ..io.images import to_tensor
from ..metrics import psnr
from ..models import decoder_num_parameters
from ..nn import Conv2d, Sequential
from . import entropy
from .allocation import ALLOCATIONS, rd_steps, scale_steps, sensitivities, uniform_steps
from .container import describe_tdd, encode_tdd, encode_tdd3
from .decoding import MODEL, check_fields, check_header, decompress, layout
from .finetune import Quantiser, finetune, folded_psnr
from .fitting import SCHEDULES, DecoderFit, fit_decoder
from .folded import (
    build_decoder,
    check_architecture,
    decode_image,
    decoder_input,
    fold_batchnorm,
    folded_network,
    load_folded,
    tensor_shapes,
)
from .incremental import incremental_quantize
from .quantize import check_bits, dequantize, quantize, step_quantize, step_values

__all__ = ["MODEL", "CodecConfig", "CompressResult", "Fitted", "check_config", "check_fields",
           "check_header", "compress", "decompress", "encode_fitted", "fit_image", "quantised",
           "stats"]



@dataclass(frozen=True)
class CodecConfig:
    """Settings of :func:`compress`."""

    k: int = 64  # channels per layer
    layers: int = 6  # the output is 2^(layers-1) times larger than z
    bits: int = 8  # 2..15: about 2^bits levels per tensor (a step grid); 16/32: raw floats
    iters: int = 3000  # Adam steps of the main fit (1500 -> 3000: +0.4 dB, measured)
    lr: float = 0.02  # initial learning rate (0.01 -> 0.02 with the cosine: +0.5 dB, measured)
    schedule: str = "cosine"  # "cosine" (decay to final_lr * lr) or "constant"
    final_lr: float = 0.01  # last learning rate of the cosine, as a fraction of lr
    allocation: str = "rd"  # steps per tensor: "rd" (rate-distortion) or "uniform"
    coder: str = "auto"  # "auto" (ANS if installed, else the smallest), "ans", "lzma", ...
    qat_iters: int = 300  # quantisation-aware fine-tuning steps (0: post-training quantisation)
    # Adam learning rate of the fine-tuning: measured at 256x256, 8 bits (benchmarks/README.md,
    # "Compression"): 3e-5 beats 1e-4 by 0.07 / 0.11 / 0.11 dB at k = 16 / 20 / 24
    # (the best iterate of 1e-4 comes within ~25 steps, then the rounding noise wins)
    qat_lr: float = 3e-5
    # incremental quantisation before the fine-tuning: Adam steps after each rounded group
    # (0: off) and their learning rate; +0.06-0.09 dB at 256x256, k = 16-24 (measured)
    incremental_iters: int = 100
    incremental_lr: float = 1e-3
    seed: int = 0  # z and initial weights
    upsample_mode: str = "bilinear"
    input_scale: float = 0.1  # z ~ U(0, input_scale)
    progress: bool | None = None  # progress bar of the main fit (None: when it is long)

    def architecture(self, channels: int) -> dict:
        return check_architecture({"k": self.k, "layers": self.layers,
                                   "out_channels": channels,
                                   "upsample_mode": self.upsample_mode,
                                   "input_scale": self.input_scale})


@dataclass
class CompressResult:
    """A compressed image and what it cost."""

    data: bytes  # the .tdd file
    image: np.ndarray  # HxWxC float32: what decompress(data) returns
    header: dict
    psnr: float  # of the decoded image rounded to 8 bits (as written to PNG), vs the input
    psnr_float: float  # the fitted float network (folded, clean z), before quantisation
    psnr_ptq: float  # quantised without fine-tuning
    num_parameters: int  # of the Deep Decoder (= stored values)
    stored_values: int
    fit_seconds: float
    qat_seconds: float  # the incremental quantisation and the fine-tuning
    encode_seconds: float  # fit + step allocation + fine-tuning + writing the bytes
    decode_seconds: float  # decoding the bytes (= decompress)
    best_iter: int
    qat_best_iter: int
    config: CodecConfig
    fit_iters_run: int = 0  # < config.iters if the fit was interrupted (Ctrl-C)
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM": the file holds the best so far
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # the stored values, decoded
    steps: dict[str, float] = field(default_factory=dict)  # format 3: step per tensor
    history: list[dict] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return len(self.data)


@dataclass
class Fitted:
    """A Deep Decoder fitted to one image, before quantisation (:func:`fit_image`)."""

    image: np.ndarray  # HxWxC float32, the input
    arch: dict
    net: Sequential  # holds the best-loss weights (train mode: batch statistics)
    z: np.ndarray
    tensors: dict[str, np.ndarray]  # folded, float
    psnr_float: float
    fit: DecoderFit


def quantised(a: np.ndarray, bits: int) -> np.ndarray:
    """``dequantize(quantize(a, bits))``: the values a ``.tdd`` file stores for ``a``."""
    return dequantize(quantize(a, bits))


def _check_image(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"compress: expected an HxWxC image with C = 1 or 3, got {arr.shape}")
    if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
        raise ValueError("compress: image must be a finite float array in [0, 1]")
    return arr.astype(np.float32)


def check_config(cfg: CodecConfig, shape: tuple[int, ...]) -> dict:
    """Validate settings for an image of ``shape`` (H, W, C); return the architecture dict."""
    check_bits(cfg.bits)
    if cfg.iters < 1:
        raise ValueError(f"compress: iters must be >= 1, got {cfg.iters}")
    if cfg.qat_iters < 0:
        raise ValueError("compress: qat_iters must be >= 0")
    if cfg.incremental_iters < 0:
        raise ValueError("compress: incremental_iters must be >= 0")
    for name, value, allowed in (("schedule", cfg.schedule, SCHEDULES),
                                 ("allocation", cfg.allocation, ALLOCATIONS),
                                 ("coder", cfg.coder, ("auto", *entropy.CODERS))):
        if value not in allowed:
            raise ValueError(f"compress: {name} must be one of {allowed}, got {value!r}")
    if cfg.coder == "ans" and not entropy.ans_available():
        raise ValueError("compress: coder 'ans' needs the optional 'constriction' package: "
                         f"pip install 'tinydip[{entropy.EXTRA}]'")
    H, W, C = shape
    if C not in (1, 3):
        raise ValueError(f"compress: expected 1 or 3 channels, got {C}")
    arch = cfg.architecture(C)
    m = 2 ** (cfg.layers - 1)
    if H < 2 * m or W < 2 * m:  # below a 2x2 input the fit stalls (32x32, 6 layers: 11 dB)
        raise ValueError(f"compress: a {cfg.layers}-layer decoder needs an image of at least "
                         f"{2 * m}x{2 * m} pixels (its input is 1/{m} of the image, at least "
                         f"2x2), got {H}x{W}: use --layers {fitting_layers(H, W)} or fewer")
    return arch


def default_k(H: int, W: int) -> int:
    """The CLI's default ``--k``: 16 channels per 256 pixels of image side (at least 8).

    That keeps the file near 0.2-0.25 bits per pixel at any size, the low rates where the
    Deep Decoder beats JPEG with the default 3000 fitting steps (benchmarks/README.md,
    "Compression": at 256x256, k = 16 is 0.23 bpp and +0.7 dB over JPEG; at 0.33 bpp
    3000 steps tie with JPEG and 20000 steps beat it by 0.9 dB), and the encode time of a
    256x256 image at a few minutes on 2 cores (k = 64 took ~7).
    """
    return max(8, int(round(16 * np.sqrt(H * W) / 256)))


def fitting_layers(H: int, W: int, most: int = 6) -> int:
    """The most decoder layers (at most ``most``) whose input, 1/2^(layers-1) of an HxW image,
    is at least 2x2 (the CLI's default ``--layers``)."""
    return max(1, min(most, int(np.log2(max(min(H, W), 2)))))


def fit_image(img: np.ndarray, config: CodecConfig | None = None, **overrides) -> Fitted:
    """Step 1 of :func:`compress`: fit a Deep Decoder to ``img`` (Ctrl-C ends the fit early
    and keeps the best weights so far)."""
    cfg = replace(config or CodecConfig(), **overrides)
    arr = _check_image(img)
    H, W, _ = arr.shape
    arch = check_config(cfg, arr.shape)
    target = to_tensor(arr)
    z = decoder_input(arch, H, W, cfg.seed)
    net = build_decoder(arch, cfg.seed)
    res = fit_decoder(net, target, z, iters=cfg.iters, lr=cfg.lr, schedule=cfg.schedule,
                      final_lr=cfg.final_lr, progress=cfg.progress)
    net.load_state_dict(res.state)
    tensors = fold_batchnorm(net, z)
    psnr_float = psnr(decode_image(arch, tensors, H, W, cfg.seed), target)
    return Fitted(arr, arch, net, z, tensors, psnr_float, res)


def compress(img: np.ndarray, config: CodecConfig | None = None, **overrides) -> CompressResult:
    """Compress an HxWxC float image in [0, 1] into a ``.tdd`` file (bytes in the result).

    ``config`` / ``overrides``: :class:`CodecConfig` fields.
    """
    cfg = replace(config or CodecConfig(), **overrides)
    return encode_fitted(fit_image(img, cfg), cfg)


def choose_steps(fitted: Fitted, cfg: CodecConfig) -> dict[str, float]:
    """Step per stored tensor (format 3): uniform at ``cfg.bits`` or rate-distortion."""
    steps = uniform_steps(fitted.tensors, cfg.bits)
    if cfg.allocation == "uniform":
        return steps
    H, W, _ = fitted.image.shape
    net = folded_network(fitted.arch)
    target = to_tensor(fitted.image)

    def mse(tensors: dict[str, np.ndarray]) -> float:
        load_folded(net, tensors)
        return fit_step(net, None, fitted.z, target).loss

    return rd_steps(fitted.tensors, steps, sensitivities(fitted.tensors, steps, mse))


def encode_fitted(fitted: Fitted, config: CodecConfig | None = None, *,
                  steps: dict[str, float] | None = None, step_factor: float = 1.0,
                  **overrides) -> CompressResult:
    """Steps 2-4 of :func:`compress` for a :func:`fit_image` result (which is not changed).

    ``steps``: the step per tensor (default :func:`choose_steps`), each multiplied by
    ``step_factor`` (> 1: a smaller file) -- the knob of a size search
    (:mod:`tinydip.codec.targets`). ``config.k``/``layers``/``seed`` must be the fit's.
    """
    cfg = replace(config or CodecConfig(), **overrides)
    arr, arch, z = fitted.image, fitted.arch, fitted.z
    H, W, C = arr.shape
    if check_config(cfg, arr.shape) != arch:
        raise ValueError("encode_fitted: the config's architecture is not the fitted one's")
    start = time.perf_counter()
    target = to_tensor(arr)
    res = fitted.fit
    raw_floats = cfg.bits >= 16
    if raw_floats:
        quant: Quantiser = lambda name, a: quantised(a, cfg.bits)  # noqa: E731
        steps = {}
    else:
        steps = scale_steps(steps if steps is not None else choose_steps(fitted, cfg),
                            step_factor, fitted.tensors)
        quant = lambda name, a: step_values(a, steps[name])  # noqa: E731

    # 2. quantise the convs, fold the BNs of THAT network (a copy: `fitted` stays as it is)
    net = build_decoder(arch, cfg.seed)
    net.load_state_dict(fitted.net.state_dict())
    convs = [mm for mm in net.layers if isinstance(mm, Conv2d)]
    for i, conv in enumerate(convs):
        conv.weight.data[...] = quant(f"w{i}", fitted.tensors[f"w{i}"])[:, :, None, None]
    start_tensors = fold_batchnorm(net, z)
    for name, value in fitted.tensors.items():  # shadows of the convs stay un-quantised
        if name[0] == "w":
            start_tensors[name] = value

    # 3. incremental quantisation, then quantisation-aware fine-tuning of the folded network
    #    (both skipped after an interrupted fit: whoever pressed Ctrl-C wants the file now; a
    #    signal during either ends it early and skips what follows)
    t0 = time.perf_counter()
    psnr_ptq = folded_psnr(arch, {n: quant(n, v) for n, v in start_tensors.items()}, z, target)
    inc_hist: list[dict] = []
    signal = res.interrupted_by
    if cfg.incremental_iters and not raw_floats and signal is None:
        inc = incremental_quantize(arch, fitted.tensors, target, z, quant,
                                   iters=cfg.incremental_iters, lr=cfg.incremental_lr)
        start_tensors, inc_hist, signal = inc.tensors, inc.history, inc.interrupted_by
    best, qat_best_iter, qat_hist, qat_signal = finetune(
        arch, start_tensors, target, z, quant, iters=0 if signal else cfg.qat_iters,
        lr=cfg.qat_lr)
    qat_seconds = time.perf_counter() - t0

    # 4. write, then decode the bytes
    header = {"model": MODEL, "height": H, "width": W, "channels": C, "architecture": arch,
              "seed": int(cfg.seed)}
    if raw_floats:
        data = encode_tdd(header, best, cfg.bits)
    else:
        data = encode_tdd3(header, {n: step_quantize(v, steps[n]) for n, v in best.items()},
                           coder=cfg.coder, layout=layout)
    encode_seconds = time.perf_counter() - start + res.seconds
    t0 = time.perf_counter()
    decoded, header_read = decompress(data, with_header=True)
    decode_seconds = time.perf_counter() - t0
    u8 = np.round(np.clip(decoded.astype(np.float64), 0, 1) * 255) / 255
    n_params = decoder_num_parameters(cfg.k, cfg.layers, C)
    stored = sum(int(np.prod(s)) for s in tensor_shapes(arch).values())
    assert n_params == net.num_parameters() == stored, (n_params, net.num_parameters(), stored)
    assert cfg.layers != 6 or n_params == 6 * cfg.k**2 + 12 * cfg.k + cfg.k * C
    history = [{"stage": "fit", **r} for r in res.history] + \
        [{"stage": "incremental", **r} for r in inc_hist] + \
        [{"stage": "qat", **r} for r in qat_hist]
    return CompressResult(
        data=data, image=decoded, header=header_read, psnr=psnr(u8, arr),
        psnr_float=fitted.psnr_float, psnr_ptq=psnr_ptq, num_parameters=n_params,
        stored_values=stored, fit_seconds=res.seconds, qat_seconds=qat_seconds,
        encode_seconds=encode_seconds, decode_seconds=decode_seconds,
        best_iter=res.best_iter, qat_best_iter=qat_best_iter, config=cfg,
        fit_iters_run=res.iters_run, interrupted_by=signal or qat_signal,
        tensors={n: quant(n, v) for n, v in best.items()}, steps=steps, history=history)


def stats(result: CompressResult) -> dict:
    """The numbers worth reporting about one compression (JSON-serialisable)."""
    H, W, C = result.image.shape
    raw = H * W * C
    n = result.nbytes
    cfg = result.config
    desc = describe_tdd(result.data, layout=layout)
    return {
        "height": H, "width": W, "channels": C, "k": cfg.k, "layers": cfg.layers,
        "bits": cfg.bits, "allocation": cfg.allocation, "file_bytes": n,
        "bits_per_pixel": 8 * n / (H * W), "raw_bytes": raw, "compression_ratio": raw / n,
        "num_parameters": result.num_parameters, "stored_values": result.stored_values,
        "format_version": desc["version"],
        "header_bytes": desc["prefix_bytes"] + desc["header_bytes"],
        "payload_bytes": desc["payload_bytes"], "payload": desc["coder"],
        "bits_per_value": desc["bits_per_value"],
        "psnr": result.psnr, "psnr_float": result.psnr_float,
        "psnr_before_finetune": result.psnr_ptq,
        "encode_seconds": result.encode_seconds, "decode_seconds": result.decode_seconds,
        "fit_seconds": result.fit_seconds,
        "finetune_seconds": result.qat_seconds, "fit_best_iter": result.best_iter,
        "finetune_best_iter": result.qat_best_iter, "fit_iters_run": result.fit_iters_run,
        "config": {k: v for k, v in asdict(cfg).items() if k != "progress"},
    }
