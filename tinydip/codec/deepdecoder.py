"""Deep Decoder image codec: fit, fold BatchNorm, quantise, fine-tune, store -- and decode.

Encoding (:func:`compress`):

1. Fit a ``deep_decoder`` to the image with Adam (:func:`tinydip.fit.fit`, input jitter
   decaying to zero) and keep the weights of the lowest training loss.
2. Quantise the conv weights to ``bits``, run one train-mode forward on the clean z and fold
   every BatchNorm's batch statistics and affine parameters into a per-channel scale/shift
   (:func:`tinydip.codec.folded.fold_batchnorm`).
3. Quantisation-aware fine-tuning of the folded network: float "shadow" copies of every
   stored tensor; each step runs the network with the QUANTISED shadows (exactly what the
   decoder will compute), and the straight-through gradient updates the shadows (Adam).
   The step with the lowest loss wins; step 0 is plain post-training quantisation, so the
   fine-tuning can only help.
4. Write the winner with :func:`tinydip.codec.container.encode_tdd`; the reported image is
   the decode of those bytes.

Decoding (:func:`decompress`) regenerates z from the stored seed and runs the folded network:
a fixed feed-forward computation, no batch statistics, deterministic.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..fit import fit, fit_step
from ..images import to_image, to_tensor
from ..interrupt import Terminated
from ..memory import default_budget, format_bytes
from ..metrics import psnr
from ..models import decoder_num_parameters
from ..nn import Conv2d, Parameter
from ..optim import Adam
from .container import CodecError, decode_tdd, describe_tdd, encode_tdd, read_tdd
from .folded import (
    build_decoder,
    check_architecture,
    decode_image,
    decode_memory,
    decoder_input,
    fold_batchnorm,
    folded_network,
    folded_parameters,
    load_folded,
    tensor_shapes,
)
from .quantize import check_bits, dequantize, quantize

MODEL = "deep_decoder"
"""Value of the ``model`` header key of files written by this codec."""


@dataclass(frozen=True)
class CodecConfig:
    """Settings of :func:`compress`."""

    k: int = 64  # channels per layer
    layers: int = 6  # the output is 2^(layers-1) times larger than z
    bits: int = 8  # precision of every stored tensor (2..15 codes, 16 float16, 32 float32)
    iters: int = 1500  # Adam steps of the main fit
    lr: float = 0.01  # learning rate of the main fit
    reg_noise_std: float = 0.0  # input jitter sigma at the start of the fit (0: none) ...
    reg_noise_decay: float = 0.5  # ... multiplied by this every reg_noise_every steps
    reg_noise_every: int = 200
    qat_iters: int = 300  # quantisation-aware fine-tuning steps (0: post-training quantisation)
    qat_lr: float = 1e-4  # Adam learning rate of the fine-tuning
    seed: int = 0  # z, initial weights and jitter
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
    qat_seconds: float
    encode_seconds: float  # fit + fine-tuning + writing the bytes
    decode_seconds: float  # decoding the bytes (= decompress)
    best_iter: int
    qat_best_iter: int
    config: CodecConfig
    fit_iters_run: int = 0  # < config.iters if the fit was interrupted (Ctrl-C)
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM": the file holds the best so far
    tensors: dict[str, np.ndarray] = field(default_factory=dict)  # the stored values, decoded
    history: list[dict] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return len(self.data)


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
    if cfg.qat_iters < 0 or cfg.reg_noise_every < 0:
        raise ValueError("compress: qat_iters and reg_noise_every must be >= 0")
    H, W, C = shape
    if C not in (1, 3):
        raise ValueError(f"compress: expected 1 or 3 channels, got {C}")
    arch = cfg.architecture(C)
    m = 2 ** (cfg.layers - 1)
    if H < m or W < m:
        raise ValueError(f"compress: a {cfg.layers}-layer decoder needs an image of at least "
                         f"{m}x{m} pixels, got {H}x{W}")
    return arch


def compress(img: np.ndarray, config: CodecConfig | None = None, **overrides) -> CompressResult:
    """Compress an HxWxC float image in [0, 1] into a ``.tdd`` file (bytes in the result).

    ``config`` / ``overrides``: :class:`CodecConfig` fields.
    """
    cfg = replace(config or CodecConfig(), **overrides)
    arr = _check_image(img)
    H, W, C = arr.shape
    arch = check_config(cfg, arr.shape)
    start = time.perf_counter()
    target = to_tensor(arr)
    z = decoder_input(arch, H, W, cfg.seed)
    net = build_decoder(arch, cfg.seed)

    # 1. fit, keeping the weights of the best training loss (Ctrl-C ends it early: the best
    #    weights so far are then compressed)
    res = fit(net, target, z=z, iters=cfg.iters, lr=cfg.lr, reg_noise_std=cfg.reg_noise_std,
              reg_noise_decay=cfg.reg_noise_decay, reg_noise_every=cfg.reg_noise_every,
              output="best", seed=cfg.seed, progress=cfg.progress, keep_best_state=True)
    net.load_state_dict(res.best_state)
    fit_seconds = res.seconds
    float_tensors = fold_batchnorm(net, z)
    psnr_float = psnr(decode_image(arch, float_tensors, H, W, cfg.seed), target)

    # 2. quantise the convs, fold the BNs of THAT network
    convs = [mm for mm in net.layers if isinstance(mm, Conv2d)]
    for i, conv in enumerate(convs):
        conv.weight.data[...] = quantised(float_tensors[f"w{i}"], cfg.bits)[:, :, None, None]
    start_tensors = fold_batchnorm(net, z)
    for name, value in float_tensors.items():  # shadows of the convs stay un-quantised
        if name[0] == "w":
            start_tensors[name] = value

    # 3. quantisation-aware fine-tuning of the folded network (skipped after an interrupted
    #    fit: whoever pressed Ctrl-C wants the file now; a signal during it ends it early)
    t0 = time.perf_counter()
    qat_cfg = replace(cfg, qat_iters=0) if res.interrupted else cfg
    best, qat_best_iter, qat_hist, qat_signal = _finetune(arch, start_tensors, target, z,
                                                          qat_cfg)
    qat_seconds = time.perf_counter() - t0
    psnr_ptq = qat_hist[0]["psnr"]

    # 4. write, then decode the bytes
    header = {"model": MODEL, "height": H, "width": W, "channels": C, "architecture": arch,
              "seed": int(cfg.seed)}
    data = encode_tdd(header, best, cfg.bits)
    encode_seconds = time.perf_counter() - start
    t0 = time.perf_counter()
    decoded, header_read = decompress(data, with_header=True)
    decode_seconds = time.perf_counter() - t0
    u8 = np.round(np.clip(decoded.astype(np.float64), 0, 1) * 255) / 255
    n_params = decoder_num_parameters(cfg.k, cfg.layers, C)
    stored = sum(int(np.prod(s)) for s in tensor_shapes(arch).values())
    assert n_params == net.num_parameters() == stored, (n_params, net.num_parameters(), stored)
    assert cfg.layers != 6 or n_params == 6 * cfg.k**2 + 12 * cfg.k + cfg.k * C
    history = [{"stage": "fit", **r} for r in res.history] + \
        [{"stage": "qat", **r} for r in qat_hist]
    return CompressResult(
        data=data, image=decoded, header=header_read, psnr=psnr(u8, arr), psnr_float=psnr_float,
        psnr_ptq=psnr_ptq, num_parameters=n_params, stored_values=stored,
        fit_seconds=fit_seconds, qat_seconds=qat_seconds, encode_seconds=encode_seconds,
        decode_seconds=decode_seconds,
        best_iter=res.best_iter, qat_best_iter=qat_best_iter, config=cfg,
        fit_iters_run=res.iters_run, interrupted_by=res.interrupted_by or qat_signal,
        tensors={n: quantised(v, cfg.bits) for n, v in best.items()}, history=history)


def _finetune(arch: dict, start: dict[str, np.ndarray], target: np.ndarray, z: np.ndarray,
              cfg: CodecConfig) -> tuple[dict[str, np.ndarray], int, list[dict], str | None]:
    """Straight-through quantisation-aware fine-tuning; returns the best SHADOW tensors, the
    iteration, the history and ``"SIGINT"``/``"SIGTERM"`` if a signal ended it early.

    Storing the shadows (not their quantised values) lets :func:`encode_tdd` quantise them
    with the very same arithmetic, so the file holds exactly the tensors evaluated here.
    """
    net = folded_network(arch)
    params = folded_parameters(net)
    shadows = {name: Parameter(np.array(start[name], dtype=np.float32)) for name in params}
    opt = Adam(list(shadows.values()), lr=cfg.qat_lr)
    best_loss, best_iter, best = np.inf, 0, None
    history: list[dict] = []

    def record(loss: float) -> None:  # the shadows still hold the values just evaluated
        nonlocal best_loss, best_iter, best
        it = len(history)
        history.append({"iter": it, "loss": loss,
                        "psnr": float(10 * np.log10(1 / loss)) if loss > 0 else np.inf})
        if loss < best_loss:
            best_loss, best_iter = loss, it
            best = {n: s.data.copy() for n, s in shadows.items()}

    def straight_through(loss: float) -> None:
        record(loss)
        for name, p in params.items():  # d loss / d shadow = d loss / d quantised value
            shadows[name].grad[...] = p.grad.reshape(shadows[name].data.shape)

    signal = None
    try:
        for it in range(cfg.qat_iters + 1):
            load_folded(net, {n: quantised(s.data, cfg.bits) for n, s in shadows.items()})
            if it < cfg.qat_iters:  # the network's grads -> the shadows, then Adam on them
                fit_step(net, opt, z, target, before_update=straight_through)
            else:  # the last step only evaluates
                record(fit_step(net, None, z, target).loss)
    except KeyboardInterrupt as exc:  # keep the best evaluated so far
        signal = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
    if best is None:  # interrupted before anything was evaluated: the starting point
        load_folded(net, {n: quantised(s.data, cfg.bits) for n, s in shadows.items()})
        record(fit_step(net, None, z, target).loss)
    names = list(tensor_shapes(arch))
    return {n: best[n] for n in names}, best_iter, history, signal


def decompress(source, *, with_header: bool = False, max_memory: int | None = None):
    """Decode a ``.tdd`` file (bytes, a path or a binary file object) to an HxWxC image.

    Returns the float32 image in (0, 1), or ``(image, header)`` with ``with_header=True``.
    Raises :class:`CodecError` for files that are not readable Deep Decoder files, and
    before anything large is allocated if decoding would need more than ``max_memory``
    bytes (default: :func:`tinydip.memory.default_budget`; see :func:`decode_memory`).
    """
    def check(header: dict) -> None:
        check_fields(header, max_memory)

    if isinstance(source, (bytes, bytearray, memoryview)):
        header, tensors = decode_tdd(bytes(source), check)
    else:
        header, tensors = read_tdd(source, check)
    arch, H, W, seed = check_header(header, tensors)
    img = to_image(decode_image(arch, tensors, H, W, seed))
    return (img, header) if with_header else img


def check_fields(header: dict, max_memory: int | None = None) -> tuple[dict, int, int, int]:
    """Validate a header's Deep Decoder fields before its payload is decompressed.

    Refuses (CodecError, one line) another model, a bad architecture, sizes out of range,
    and a file whose decoding would need more memory than ``max_memory`` (default
    :func:`tinydip.memory.default_budget`): the limit follows from the estimate, not from a
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


def stats(result: CompressResult) -> dict:
    """The numbers worth reporting about one compression (JSON-serialisable)."""
    H, W, C = result.image.shape
    raw = H * W * C
    n = result.nbytes
    cfg = result.config
    layout = describe_tdd(result.data)
    return {
        "height": H, "width": W, "channels": C, "k": cfg.k, "layers": cfg.layers,
        "bits": cfg.bits, "file_bytes": n, "bits_per_pixel": 8 * n / (H * W),
        "raw_bytes": raw, "compression_ratio": raw / n,
        "num_parameters": result.num_parameters, "stored_values": result.stored_values,
        "header_bytes": layout["prefix_bytes"] + layout["header_bytes"],
        "payload_bytes": layout["payload_bytes"], "payload": layout["packing"] + "+" +
        layout["compression"],
        "psnr": result.psnr, "psnr_float": result.psnr_float,
        "psnr_before_finetune": result.psnr_ptq,
        "encode_seconds": result.encode_seconds, "decode_seconds": result.decode_seconds,
        "fit_seconds": result.fit_seconds,
        "finetune_seconds": result.qat_seconds, "fit_best_iter": result.best_iter,
        "finetune_best_iter": result.qat_best_iter, "fit_iters_run": result.fit_iters_run,
        "config": {k: v for k, v in asdict(cfg).items() if k != "progress"},
    }

