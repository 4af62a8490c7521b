"""Rate-distortion benchmark of the Deep Decoder codec against JPEG and Haar wavelets.

    python benchmarks/bench_compression.py                  # 256x256 and 512x512, k 16..128
    python benchmarks/bench_compression.py --sizes 256 --ks 32 64 --iters 3000
    python benchmarks/bench_compression.py --quick          # smoke run: 64x64, k 16 32, 100 its

For every size, the built-in sample image (tinydip.images.sample_image) is compressed with each
k (`tinydip.codec.compress`, 8-bit weights by default), and compared with JPEG at the same
file size and Haar thresholding with as many coefficients as the decoder has parameters.
Prints a markdown table (one row per size and k) and writes to --out:

    rd_<size>.png     PSNR vs bits per pixel + decoded images at the middle k
    results.json      every number in the table, the JPEG quality sweeps and the settings

The full run takes long (one Deep Decoder fit per size and k; 512x512 with k=128 is the
slowest). Encode times depend on the machine's load: run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numba
import numpy as np

from tinydip.codec.deepdecoder import CodecConfig
from tinydip.codec.ratedistortion import markdown_table, plot_rate_distortion, rate_distortion
from tinydip.images import sample_image

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512],
                   help="image sides (default 256 512)")
    p.add_argument("--ks", type=int, nargs="+", default=[16, 32, 64, 128],
                   help="decoder widths (default 16 32 64 128)")
    p.add_argument("--bits", type=int, default=CodecConfig.bits)
    p.add_argument("--iters", type=int, default=None,
                   help=f"fit iterations (default {CodecConfig.iters})")
    p.add_argument("--finetune-iters", type=int, default=None,
                   help=f"fine-tuning iterations (default {CodecConfig.qat_iters})")
    p.add_argument("--layers", type=int, default=CodecConfig.layers)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    p.add_argument("--out", type=Path, default=HERE / "results" / "compression",
                   help="folder for figures and results.json")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64x64, k 8 and 16, 100 + 20 iterations, 4 layers")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.ks = [64], [16, 32]
        args.iters = args.iters or 100
        args.finetune_iters = args.finetune_iters if args.finetune_iters is not None else 20
    if args.threads:
        numba.set_num_threads(args.threads)
    cfg = CodecConfig(bits=args.bits, layers=args.layers, seed=args.seed, progress=False,
                      iters=args.iters or CodecConfig.iters,
                      qat_iters=CodecConfig.qat_iters if args.finetune_iters is None
                      else args.finetune_iters)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("k", "progress")}
    env = {"numba_threads": numba.get_num_threads(), "python": platform.python_version(),
           "numpy": np.__version__, "machine": platform.machine(), "quick": args.quick}
    print(f"# Deep Decoder codec benchmark{' (SMOKE RUN, --quick)' if args.quick else ''}\n")
    print(f"settings: {json.dumps(settings)}; {env['numba_threads']} numba thread(s)\n",
          flush=True)
    all_points, sweeps = [], {}
    start = time.perf_counter()
    for size in args.sizes:
        img = sample_image(size)
        rd = rate_distortion(img, args.ks, cfg, log=lambda m: print(m, file=sys.stderr,
                                                                     flush=True))
        fig = plot_rate_distortion(img, rd, args.out / f"rd_{size}.png",
                                   title=f"built-in sample {size}x{size}, {cfg.bits}-bit weights"
                                   + (" (smoke run)" if args.quick else ""))
        print(f"wrote {fig}", file=sys.stderr)
        all_points += rd["decoder"]
        sweeps[str(size)] = rd["jpeg_curve"]
    print(markdown_table(all_points))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; figures in {args.out}")
    (args.out / "results.json").write_text(json.dumps(
        {"settings": settings, "environment": env, "points": all_points,
         "jpeg_sweeps": sweeps}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
