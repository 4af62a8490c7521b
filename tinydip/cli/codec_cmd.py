"""``tinydip compress | decompress``: the Deep Decoder image codec on the command line.

Added to the ``tinydip`` parser by :func:`add_commands` (called from ``tinydip.cli.main``);
the codec itself (:mod:`tinydip.codec`) is a library and never imports the CLI.
Errors are ``ValueError`` / ``OSError`` (``CodecError`` is a ``ValueError``), which the main
entry point prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ..argtypes import learning_rate, memory_size, nonnegative_int, positive_int
from ..codec.deepdecoder import CodecConfig, check_config, compress, decompress
from ..codec.quantize import VALID_BITS
from ..fileio import (
    FIGURE_EXTENSIONS,
    IMAGE_EXTENSIONS,
    check_outputs,
    write_bytes,
    write_json,
)
from ..images import sample_image, save_image
from ..tasks.registry import load
from .commands import INTERRUPT_STATUS

_DEFAULTS = CodecConfig()

COMPRESS_HELP = "compress an image into a .tdd file (a fitted, quantised Deep Decoder)"
COMPRESS_DESCRIPTION = f"""\
Compress an image by fitting a Deep Decoder (Heckel & Hand, 2019) to it and storing the
network. The .tdd file holds the image size and channels, the architecture (k, layers,
output channels, upsampling mode, input scale), the seed, and the weights quantised to
--bits bits per value (uniform per tensor): the 1x1 convolutions plus each BatchNorm
folded into a per-channel scale and shift -- 6k^2 + 12k + kc values for 6 layers and c
channels, plus a compressed header of about 0.5 KB. The network input z is NOT stored: it is
regenerated from the seed. k sets the rate (k=64 on a 256x256 RGB image: about 24 KB).

Encoding: {_DEFAULTS.iters} Adam steps (lr {_DEFAULTS.lr}) keeping the best-loss weights,
then quantisation and {_DEFAULTS.qat_iters} steps of quantisation-aware fine-tuning (the
network is run with its quantised weights, exactly as the decoder will run it). Encoding
takes minutes; decoding (tinydip decompress) well under a second. The reported PSNR is that
of decoding the written file; JPEG at the same file size and Haar wavelet thresholding with
as many coefficients as the decoder has parameters are reported beside it."""

DECOMPRESS_HELP = "decode a .tdd file to an image (deterministic)"


def _bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value not in VALID_BITS:
        raise argparse.ArgumentTypeError(f"bits must be 2..16 or 32, got {value}")
    return value


def _k_list(text: str) -> list[int]:
    try:
        ks = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return sorted(set(ks))


def _threads(value: int | None) -> None:
    if value is not None:
        import numba

        if value > numba.config.NUMBA_NUM_THREADS:
            raise ValueError(f"--threads {value}: at most {numba.config.NUMBA_NUM_THREADS} "
                             "threads are available")
        numba.set_num_threads(value)
        try:  # tinydip's own GEMM thread pool, where present
            from ..functional import gemm
        except ImportError:  # pragma: no cover
            return
        if hasattr(gemm, "set_threads"):
            gemm.set_threads(value)


def add_commands(subparsers) -> None:
    """Add ``compress`` and ``decompress`` to the ``tinydip`` subcommand parsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("compress", help=COMPRESS_HELP, description=COMPRESS_DESCRIPTION,
                              formatter_class=fmt)
    p.add_argument("image", nargs="?", help="image to compress (default: the built-in sample "
                   "image at --size)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.tdd",
                   help="write the compressed file here")
    p.add_argument("--size", type=positive_int, default=128,
                   help="side of the built-in sample image (default 128; ignored with IMAGE)")
    p.add_argument("--k", type=positive_int, default=_DEFAULTS.k,
                   help=f"channels per layer: the rate knob (default {_DEFAULTS.k})")
    p.add_argument("--layers", type=positive_int, default=_DEFAULTS.layers,
                   help=f"decoder layers (default {_DEFAULTS.layers}); the image must be at "
                   "least 2^(layers-1) pixels on each side")
    p.add_argument("--bits", type=_bits, default=_DEFAULTS.bits,
                   help=f"bits per stored value: 2..15 uniform codes, 16 = float16, "
                   f"32 = float32 (default {_DEFAULTS.bits})")
    p.add_argument("--iters", type=positive_int, default=_DEFAULTS.iters,
                   help=f"Adam steps of the fit (default {_DEFAULTS.iters})")
    p.add_argument("--finetune-iters", type=nonnegative_int, default=_DEFAULTS.qat_iters,
                   help=f"quantisation-aware fine-tuning steps (default "
                   f"{_DEFAULTS.qat_iters}; 0 = plain quantisation)")
    p.add_argument("--lr", type=learning_rate, default=_DEFAULTS.lr,
                   help=f"Adam learning rate of the fit (default {_DEFAULTS.lr})")
    p.add_argument("--seed", type=int, default=_DEFAULTS.seed,
                   help="seed of z (stored; z itself is not), initial weights and jitter "
                   f"(default {_DEFAULTS.seed})")
    p.add_argument("--report", metavar="R.json", help="write a JSON report here")
    p.add_argument("--plot", metavar="RD.png", help="write a rate-distortion figure here: "
                   "compresses again with every k of --plot-ks (slow), beside JPEG and Haar")
    p.add_argument("--plot-ks", type=_k_list, default=[16, 32, 64, 128], metavar="K,K,...",
                   help="k values of the --plot curve (default 16,32,64,128; --k is added)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="numba threads (default: all cores; 1 is often faster on a busy "
                   "machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_compress)

    d = subparsers.add_parser("decompress", help=DECOMPRESS_HELP, description=(
        "Decode a .tdd file written by 'tinydip compress': regenerate z from the stored seed "
        "and run the stored network (a fixed feed-forward computation, no batch statistics). "
        "The same file always gives the same pixels. A missing, truncated, corrupt, foreign "
        "or newer-version file is an error (exit status 2)."))
    d.add_argument("file", metavar="FILE.tdd", help="compressed file")
    d.add_argument("-o", "--output", required=True, metavar="OUT.png",
                   help="write the decoded image here (8 bits per channel)")
    d.add_argument("--threads", type=positive_int, default=None,
                   help="numba threads (default: all cores)")
    d.add_argument("--max-memory", type=memory_size, metavar="SIZE", default=None,
                   help="refuse a file whose decoding needs more memory than this (e.g. 4G; "
                   "default: 80%% of the memory available now)")
    d.set_defaults(func=run_decompress)


def run_compress(args) -> int:
    from ..codec.ratedistortion import compression_report, equal_size_baselines

    _threads(args.threads)
    check_outputs({"-o": (args.output, (".tdd",)), "--report": (args.report, (".json",)),
                   "--plot": (args.plot, FIGURE_EXTENSIONS)}, {"IMAGE": args.image})
    if args.image is None:
        img = sample_image(args.size)
        name = f"built-in sample {args.size}x{args.size}"
    else:
        img = load(args.image, "image")
        name = args.image
    out = Path(args.output)
    H, W, C = img.shape
    cfg = CodecConfig(k=args.k, layers=args.layers, bits=args.bits, iters=args.iters,
                      qat_iters=args.finetune_iters, lr=args.lr, seed=args.seed,
                      progress=False if args.quiet else None)
    check_config(cfg, img.shape)
    print(f"compress: {name} ({H}x{W}x{C}), k={cfg.k}, {cfg.layers} layers, {cfg.bits} bits, "
          f"{cfg.iters} + {cfg.qat_iters} iterations", file=sys.stderr)
    result = compress(img, cfg)
    if result.interrupted_by is not None:
        print(f"compress: interrupted ({result.interrupted_by}) after {result.fit_iters_run} "
              "fitting iterations: the file holds the best weights so far", file=sys.stderr)
    write_bytes(out, result.data)
    base = equal_size_baselines(img, result)
    rep = compression_report(img, result, base)
    rep["image"], rep["output"] = name, str(out)
    n = result.nbytes
    j, h = base["jpeg"], base["haar"]
    print(f"compress: wrote {out}: {n} bytes, {rep['bits_per_pixel']:.3f} bpp, ratio "
          f"{rep['compression_ratio']:.1f}:1 vs {rep['raw_bytes']} raw 8-bit bytes")
    print(f"  parameters {result.num_parameters}, stored values {result.stored_values} at "
          f"{cfg.bits} bits: payload {rep['payload_bytes']} bytes ({rep['payload']}), header "
          f"{rep['header_bytes']} bytes (z regenerated from seed {cfg.seed}, not stored)")
    print(f"  PSNR {result.psnr:.2f} dB after decoding (float network {result.psnr_float:.2f} "
          f"dB, quantised before fine-tuning {result.psnr_ptq:.2f} dB)")
    jpeg_note = " (even quality 1 is larger)" if j["exceeds"] else ""
    print(f"  JPEG at <= {n} bytes: quality {j['quality']}, {j['bytes']} bytes, "
          f"{j['psnr']:.2f} dB{jpeg_note}")
    print(f"  Haar keeping {h['keep']} coefficients: {h['psnr']:.2f} dB")
    print(f"  encode {result.encode_seconds:.1f} s (fit {result.fit_seconds:.1f} s, fine-tune "
          f"{result.qat_seconds:.1f} s), decode {result.decode_seconds:.2f} s")
    if args.plot:
        from ..codec.ratedistortion import markdown_table, plot_rate_distortion, rate_distortion

        ks = sorted(set(args.plot_ks) | {cfg.k})
        rd = rate_distortion(img, ks, cfg, done={cfg.k: result},
                             log=lambda msg: print(msg, file=sys.stderr))
        plot_rate_distortion(img, rd, args.plot, show_k=cfg.k)
        rep["rate_distortion"] = {"decoder": rd["decoder"], "jpeg_curve": rd["jpeg_curve"]}
        print(markdown_table(rd["decoder"]))
        print(f"  wrote {args.plot}")
    if args.report:
        rep["interrupted"] = result.interrupted_by is not None
        print(f"  wrote {write_json(args.report, rep)}")
    return INTERRUPT_STATUS[result.interrupted_by] if result.interrupted_by else 0


def run_decompress(args) -> int:
    _threads(args.threads)
    check_outputs({"-o": (args.output, IMAGE_EXTENSIONS)}, {"FILE": args.file})
    start = time.perf_counter()
    img, header = decompress(args.file, with_header=True, max_memory=args.max_memory)
    seconds = time.perf_counter() - start
    written = save_image(args.output, img.astype(np.float32))
    H, W, C = img.shape
    arch = header["architecture"]
    coding = (f"format 3, {header['coder']} coder" if header.get("format_version") == 3
              else f"format {2 if 'bits' in header else 1}, {header['bits']} bits")
    print(f"decompress: {args.file} -> {written}: {H}x{W}x{C}, k={arch['k']}, "
          f"{arch['layers']} layers, {coding}, decoded in {seconds:.2f} s")
    return 0
