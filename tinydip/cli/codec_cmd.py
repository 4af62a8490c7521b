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

from ..codec.allocation import ALLOCATIONS
from ..codec.encoder import (
    CodecConfig,
    check_config,
    compress,
    decompress,
    default_k,
    fitting_layers,
)
from ..codec.entropy import CODERS
from ..codec.fitting import SCHEDULES
from ..codec.quantize import VALID_BITS
from ..io.files import (
    FIGURE_EXTENSIONS,
    IMAGE_EXTENSIONS,
    check_outputs,
    write_bytes,
    write_json,
)
from ..io.images import load_input as load
from ..io.images import sample_image, save_image
from .argtypes import (
    learning_rate,
    memory_size,
    nonnegative_int,
    positive_float,
    positive_int,
)
from .commands import INTERRUPT_STATUS

_DEFAULTS = CodecConfig()
MISSED_TARGET = 3  # exit status: a --target-* search wrote its closest file, which misses it

COMPRESS_HELP = "compress an image into a .tdd file (a fitted, quantised Deep Decoder)"
COMPRESS_DESCRIPTION = f"""\
Compress an image by fitting a Deep Decoder (Heckel & Hand, 2019) to it and storing the
network. The .tdd file (format 3) holds the image size and channels, the architecture (k,
layers, output channels, upsampling mode, input scale), the seed, and the weights: the 1x1
convolutions plus each BatchNorm folded into a per-channel scale and shift -- 6k^2 + 12k + kc
values for 6 layers and c channels -- each tensor on its own quantisation grid (--bits sets
about 2^bits levels per tensor; --allocation rd moves precision to the tensors that matter),
entropy-coded with a fitted Laplace model per tensor (ANS, with the optional 'constriction'
package: pip install 'tinydip[codec]'; without it lzma/zlib), behind a ~0.1 KB binary header.
The network input z is NOT stored: it is regenerated from the seed. k sets the rate; or give
--target-bytes / --target-bpp / --target-psnr and the search chooses k and the step sizes.

Encoding: {_DEFAULTS.iters} Adam steps (lr {_DEFAULTS.lr}, cosine decay) keeping the best-loss
weights, then incremental quantisation (one layer at a time, {_DEFAULTS.incremental_iters} steps
of the rest after each) and {_DEFAULTS.qat_iters} steps of quantisation-aware fine-tuning
(the network is run with its quantised weights, exactly as the decoder will run it). Encoding
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
        try:  # tinydip's convolution products (and the BLAS limit), where present
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
    p.add_argument("--k", type=positive_int, default=None,
                   help="channels per layer: the rate knob (default: 16 per 256 pixels of "
                   "image side, at least 8 -- about 0.2-0.25 bits per pixel, where the codec "
                   "beats JPEG; with a --target-*, chosen by the search)")
    p.add_argument("--layers", type=positive_int, default=None,
                   help=f"decoder layers (default {_DEFAULTS.layers}, fewer for images below "
                   f"{2 ** _DEFAULTS.layers} pixels a side); the image must be at least "
                   "2^layers pixels on each side")
    p.add_argument("--bits", type=_bits, default=_DEFAULTS.bits,
                   help=f"precision: 2..15 = about 2^bits levels per tensor (a quantisation "
                   f"grid), 16 = float16, 32 = float32 (raw floats: format 2) (default "
                   f"{_DEFAULTS.bits})")
    p.add_argument("--allocation", choices=ALLOCATIONS, default=_DEFAULTS.allocation,
                   help="grid step per tensor: 'rd' = by measured rate-distortion "
                   f"sensitivity, 'uniform' = 2^bits levels each (default "
                   f"{_DEFAULTS.allocation})")
    p.add_argument("--coder", choices=("auto", *CODERS), default=_DEFAULTS.coder,
                   help="entropy coder: 'auto' = the smallest available (ANS if installed) "
                   "(default auto)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--target-bytes", type=positive_int, metavar="N",
                        help="search k and the step sizes for the best file of at most N "
                        "bytes (--k, if given, is kept); a target no file can meet is refused "
                        "before the fit (exit 2); if the search misses it, the closest file "
                        "is written and the exit status is 3")
    target.add_argument("--target-bpp", type=positive_float, metavar="X",
                        help="the same, at most X bits per pixel (exit 3 if missed)")
    target.add_argument("--target-psnr", type=positive_float, metavar="DB",
                        help="search k and the step sizes for the smallest file that "
                        "decodes to at least DB dB (above what 8-bit pixels can reach: exit "
                        "2 before the fit; missed by the search: the closest file, exit 3)")
    p.add_argument("--iters", type=positive_int, default=_DEFAULTS.iters,
                   help=f"Adam steps of the fit (default {_DEFAULTS.iters}; longer fits "
                   "pay at larger k: 20000 steps gave +0.8 dB at k=20, 256x256, ~7x the time)")
    p.add_argument("--finetune-iters", type=nonnegative_int, default=_DEFAULTS.qat_iters,
                   help=f"quantisation-aware fine-tuning steps (default "
                   f"{_DEFAULTS.qat_iters}; 0 = none)")
    p.add_argument("--incremental-iters", type=nonnegative_int,
                   default=_DEFAULTS.incremental_iters,
                   help="Adam steps of the still-float weights after each layer is rounded "
                   f"(default {_DEFAULTS.incremental_iters}; 0 = round all at once)")
    p.add_argument("--lr", type=learning_rate, default=_DEFAULTS.lr,
                   help=f"initial Adam learning rate of the fit (default {_DEFAULTS.lr})")
    p.add_argument("--schedule", choices=SCHEDULES, default=_DEFAULTS.schedule,
                   help=f"learning-rate schedule of the fit (default {_DEFAULTS.schedule})")
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
                   "default: 80%% of the memory available now, and at most 1 GiB or 256 KiB "
                   "per byte of the file, whichever is more: a tiny file cannot ask for "
                   "gigabytes unless you say so)")
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
    layers = args.layers or fitting_layers(H, W, _DEFAULTS.layers)
    cfg = CodecConfig(k=args.k or default_k(H, W), layers=layers, bits=args.bits,
                      iters=args.iters, qat_iters=args.finetune_iters,
                      incremental_iters=args.incremental_iters, lr=args.lr,
                      schedule=args.schedule, allocation=args.allocation, coder=args.coder,
                      seed=args.seed, progress=False if args.quiet else None)
    check_config(cfg, img.shape)
    max_bytes = args.target_bytes
    if args.target_bpp is not None:
        max_bytes = int(args.target_bpp * H * W / 8)
    targeted = max_bytes is not None or args.target_psnr is not None
    if targeted and cfg.bits >= 16:
        raise ValueError("--target-* searches step sizes: use --bits 2..15")
    if targeted:  # what no file can meet: refused now, not after minutes of fitting
        from ..codec.targets import check_target

        check_target(img, cfg, max_bytes=max_bytes, min_psnr=args.target_psnr,
                     choose_k=args.k is None)
    k_text = f"k={cfg.k}" if not targeted or args.k else "k chosen by the search"
    print(f"compress: {name} ({H}x{W}x{C}), {k_text}, {cfg.layers} layers, {cfg.bits} bits, "
          f"{cfg.iters} fitting steps, {cfg.incremental_iters} after each rounded layer, "
          f"{cfg.qat_iters} fine-tuning steps", file=sys.stderr)
    search = None
    if targeted:
        from ..codec.targets import compress_to_psnr, compress_to_size

        say = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
        if max_bytes is not None:
            result, search = compress_to_size(img, cfg, max_bytes, choose_k=args.k is None,
                                              log=say)
        else:
            result, search = compress_to_psnr(img, cfg, args.target_psnr,
                                              choose_k=args.k is None, log=say)
        cfg = result.config
        print(f"compress: chose k={search.k}, step factor {search.step_factor:.3g} after "
              f"{search.fits} fit(s) and {len(search.candidates)} encodes; target "
              f"{search.target} {'met' if search.met else 'NOT met'}", file=sys.stderr)
    else:
        result = compress(img, cfg)
    if result.interrupted_by is not None:
        when = (f"after {result.fit_iters_run} fitting iterations"
                if result.fit_iters_run < cfg.iters else "after the fit, while rounding or "
                "fine-tuning")
        print(f"compress: interrupted ({result.interrupted_by}) {when}: the file holds the "
              "best weights so far", file=sys.stderr)
    write_bytes(out, result.data)
    base = equal_size_baselines(img, result)
    rep = compression_report(img, result, base)
    rep["image"], rep["output"] = name, str(out)
    if search is not None:
        rep["search"] = search.as_dict()
    n = result.nbytes
    j, h = base["jpeg"], base["haar"]
    print(f"compress: wrote {out}: {n} bytes, {rep['bits_per_pixel']:.3f} bpp, ratio "
          f"{rep['compression_ratio']:.1f}:1 vs {rep['raw_bytes']} raw 8-bit bytes")
    print(f"  parameters {result.num_parameters}, stored values {result.stored_values} "
          f"({rep['bits_per_value']:.2f} bits each, header included): payload "
          f"{rep['payload_bytes']} bytes ({rep['payload']}), header {rep['header_bytes']} bytes "
          f"(z regenerated from seed {cfg.seed}, not stored)")
    print(f"  PSNR {result.psnr:.2f} dB after decoding (float network {result.psnr_float:.2f} "
          f"dB, all rounded at once {result.psnr_ptq:.2f} dB)")
    jpeg_note = " (even quality 1 is larger)" if j["exceeds"] else ""
    print(f"  JPEG at <= {n} bytes: quality {j['quality']}, {j['bytes']} bytes, "
          f"{j['psnr']:.2f} dB{jpeg_note}")
    print(f"  Haar keeping {h['keep']} coefficients: {h['psnr']:.2f} dB")
    print(f"  encode {result.encode_seconds:.1f} s (fit {result.fit_seconds:.1f} s, quantisation "
          f"and fine-tuning {result.qat_seconds:.1f} s), decode {result.decode_seconds:.2f} s")
    if args.plot:
        from ..codec.ratedistortion import markdown_table, plot_rate_distortion, rate_distortion

        ks = sorted(set(args.plot_ks) | {cfg.k})
        rd = rate_distortion(img, ks, cfg, done={cfg.k: result},
                             log=lambda msg: print(msg, file=sys.stderr))
        plot_rate_distortion(img, rd, args.plot, show_k=cfg.k)
        rep["rate_distortion"] = {"decoder": rd["decoder"], "jpeg_curve": rd["jpeg_curve"]}
        print(markdown_table(rd["decoder"]))
        print(f"  wrote {args.plot}")
    if search is not None:
        rep["target_met"] = search.met
        if not search.met:
            print(f"tinydip: warning: target {search.target} NOT met: {out} is the closest "
                  f"file found ({n} bytes, {result.psnr:.2f} dB); exit status {MISSED_TARGET}",
                  file=sys.stderr)
    if args.report:
        rep["interrupted"] = result.interrupted_by is not None
        print(f"  wrote {write_json(args.report, rep)}")
    if result.interrupted_by:
        return INTERRUPT_STATUS[result.interrupted_by]
    return MISSED_TARGET if search is not None and not search.met else 0


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
