"""Rate-distortion benchmark of the Deep Decoder codec against Pillow's codecs and wavelets.

    python benchmarks/bench_compression.py                  # 256 and 512, DEFAULT_POINTS
    python benchmarks/bench_compression.py --long           # + more points (the crossover)
    python benchmarks/bench_compression.py --sizes 256 --points 16:7 16:8
    python benchmarks/bench_compression.py --quick          # smoke run: 64x64, 4 layers, 60 its

A point is K:BITS (decoder width, --bits of the step grids) or K:BITS:STEPS (its own number
of fitting steps instead of --iters); points with the same k and steps share one fit.
For every size and point the built-in sample image (tinydip.io.images.sample_image)
is compressed (`tinydip.codec`: fit, rd step allocation, fine-tuning, format 3), the .tdd
file is WRITTEN to --out, read back and decoded; its PSNR (8-bit pixels) is compared with,
at equal or smaller bytes: JPEG (optimised Huffman, 4:2:0), WebP (method 6), JPEG 2000
(OpenJPEG 9/7), AVIF (libavif), Haar thresholding charged for its coefficients (uniform
step + LZMA), and Haar with as many coefficients as the decoder has weights (the paper's
count-only rule).

Fits are cached in --cache (npz of the network state; key: size, k, layers, iters, lr,
schedule, seed), so another --bits/--allocation re-uses them; "fit s" is the cached fit's
time. Writes to --out: rd_<size>.png (PSNR vs bpp, every codec), crops_<size>.png (a crop of
every codec's image at one rate), <size>_k<k>.tdd and results.json; prints markdown tables
(PSNR per codec; payload bytes per entropy coder, zstd/brotli when installed).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numba
import numpy as np

from tinydip.codec import entropy
from tinydip.codec.baselines import haar_at_size, haar_compress
from tinydip.codec.encoder import (
    CodecConfig,
    Fitted,
    choose_steps,
    decompress,
    encode_fitted,
    fit_image,
    stats,
)
from tinydip.codec.fitting import DecoderFit
from tinydip.codec.folded import build_decoder, decode_image, decoder_input, fold_batchnorm
from tinydip.codec.pillow_codecs import CODECS, available, codec_at_size
from tinydip.codec.quantize import step_quantize
from tinydip.io.images import sample_image, to_tensor
from tinydip.metrics import psnr

HERE = Path(__file__).resolve().parent
# the table of benchmarks/README.md: the 3000-step default fit at the lowest rates, longer
# fits (K:BITS:STEPS) where 3000 steps lose to JPEG
DEFAULT_POINTS = {256: ["12:8", "16:7", "16:8", "20:8:20000", "24:8:20000"],
                  512: ["24:8", "32:8", "40:8:12000"]}
LONG_POINTS = {256: ["12:8", "16:6", "16:7", "16:8", "20:8", "24:8", "20:8:20000",
                     "24:8:20000", "32:8"],
               512: ["20:8", "24:7", "24:8", "32:7", "32:8", "40:8", "40:8:12000", "48:8"]}


def cached_fit(img: np.ndarray, cfg: CodecConfig, cache: Path) -> Fitted:
    """fit_image, or its cached state (same settings)."""
    key = (f"s{img.shape[0]}x{img.shape[1]}_k{cfg.k}_L{cfg.layers}_i{cfg.iters}_lr{cfg.lr}_"
           f"{cfg.schedule}_f{cfg.final_lr}_seed{cfg.seed}")
    path = cache / f"{key}.npz"
    if path.exists():
        with np.load(path) as npz:
            state = {k[6:]: npz[k] for k in npz.files if k.startswith("state.")}
            info = json.loads(str(npz["info"]))
        arch = cfg.architecture(img.shape[2])
        net = build_decoder(arch, cfg.seed)
        net.load_state_dict(state)
        z = decoder_input(arch, img.shape[0], img.shape[1], cfg.seed)
        tensors = fold_batchnorm(net, z)
        p = psnr(decode_image(arch, tensors, img.shape[0], img.shape[1], cfg.seed),
                 to_tensor(img))
        fit = DecoderFit(state, info["best_iter"], info["best_loss"], info["iters_run"],
                         info["seconds"])
        return Fitted(img, arch, net, z, tensors, p, fit)
    fitted = fit_image(img, cfg)
    f = fitted.fit
    info = {"best_iter": f.best_iter, "best_loss": f.best_loss, "iters_run": f.iters_run,
            "seconds": f.seconds}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, info=json.dumps(info),
             **{f"state.{k}": v for k, v in fitted.net.state_dict().items()})
    return fitted


def coder_bytes(result, fitted: Fitted, cfg: CodecConfig) -> dict[str, int]:
    """Payload bytes of this file's codes under every coder (and zstd/brotli if installed)."""
    steps = result.steps
    streams = []
    for name, value in result.tensors.items():
        sc = step_quantize(value, steps[name])
        mean, scale = entropy.fit_laplace(sc.codes)
        streams.append(entropy.Stream(sc.codes, sc.lo, sc.hi, mean, scale))
    out = {c: len(entropy.encode(streams, c)) for c in entropy.CODERS
           if c != "ans" or entropy.ans_available()}
    raw = entropy.encode(streams, "none")
    try:
        import zstandard
        out["zstd-22"] = len(zstandard.ZstdCompressor(level=22).compress(raw))
    except ImportError:
        pass
    try:
        import brotli
        out["brotli-11"] = len(brotli.compress(raw, quality=11))
    except ImportError:
        pass
    return out


def u8(img: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(np.asarray(img, np.float64), 0, 1) * 255) / 255)


def measure(img: np.ndarray, cfg: CodecConfig, cache: Path, out: Path) -> tuple[dict, dict]:
    """One Deep Decoder point and every baseline at its size; (row, images by codec)."""
    fitted = cached_fit(img, cfg, cache)
    t0 = time.perf_counter()
    steps = choose_steps(fitted, cfg)
    alloc_s = time.perf_counter() - t0
    r = encode_fitted(fitted, cfg, steps=steps)
    path = out / f"{img.shape[0]}_k{cfg.k}_b{cfg.bits}_i{cfg.iters}.tdd"
    path.write_bytes(r.data)
    t0 = time.perf_counter()
    decoded = decompress(path)  # from the written file
    decode_s = time.perf_counter() - t0
    truth = u8(img)
    row = stats(r)
    row["config_iters"] = row.pop("config")["iters"]
    assert np.array_equal(decoded, r.image), "the written file decodes to another image"
    row["psnr_vs_float_input"] = row["psnr"]
    row["psnr"] = psnr(u8(decoded), truth)  # what every codec is measured by
    row["allocation_seconds"], row["decode_seconds"] = alloc_s, decode_s
    row["encode_seconds"] = fitted.fit.seconds + alloc_s + r.qat_seconds
    row["coders"] = coder_bytes(r, fitted, cfg)
    images = {"original": img, "deep decoder": decoded}
    row["baselines"] = {}
    for codec in CODECS:
        if not available(codec):
            continue
        b = codec_at_size(img, r.nbytes, codec)
        images[codec] = b["image"]
        row["baselines"][codec] = {"bytes": b["bytes"], "quality": b["quality"],
                                   "exceeds": b["exceeds"], "psnr": psnr(b["image"], truth),
                                   "encode_seconds": b["encode_seconds"],
                                   "decode_seconds": b["decode_seconds"]}
    h = haar_at_size(img, r.nbytes)
    images["haar (charged)"] = h["image"]
    row["baselines"]["haar_charged"] = {"bytes": h["bytes"], "exceeds": h["exceeds"],
                                        "psnr": psnr(h["image"], truth)}
    row["baselines"]["haar_count"] = {"keep": r.num_parameters, "psnr": psnr(
        u8(haar_compress(img, r.num_parameters)), truth)}
    return row, images


def curves(img: np.ndarray, sizes: list[int]) -> dict[str, list[dict]]:
    truth = u8(img)
    out: dict[str, list[dict]] = {}
    for codec in [c for c in CODECS if available(c)]:
        pts = [codec_at_size(img, n, codec) for n in sizes]
        out[codec] = [{"bytes": p["bytes"], "psnr": psnr(p["image"], truth)}
                      for p in pts if not p["exceeds"]]
    hs = [haar_at_size(img, n) for n in sizes]
    out["haar_charged"] = [{"bytes": h["bytes"], "psnr": psnr(h["image"], truth)} for h in hs]
    return out


def psnr_table(rows: list[dict]) -> str:
    names = [c for c in CODECS if any(c in r["baselines"] for r in rows)]
    head = ("| image | k | bits | steps | bytes (header) | bpp | Deep Decoder | " +
            " | ".join(names) +
            " | Haar charged | Haar count-only | encode s (fit) | decode s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        b = r["baselines"]
        cells = []
        for n in names:
            x = b.get(n)
            cells.append("-" if x is None else f"{x['psnr']:.2f}" + (" (over)" if x["exceeds"]
                                                                     else ""))
        hc = b["haar_charged"]
        lines.append(
            f"| {r['height']}x{r['width']} | {r['k']} | {r['bits']} | {r['config_iters']} "
            f"| {r['file_bytes']} "
            f"({r['header_bytes']})"
            f" | {r['bits_per_pixel']:.3f} | **{r['psnr']:.2f}** | " + " | ".join(cells) +
            f" | {hc['psnr']:.2f}{' (over)' if hc['exceeds'] else ''} | "
            f"{b['haar_count']['psnr']:.2f} | {r['encode_seconds']:.0f} "
            f"({r['fit_seconds']:.0f}) | {r['decode_seconds']:.2f} |")
    return "\n".join(lines)


def coder_table(rows: list[dict]) -> str:
    names = sorted({c for r in rows for c in r["coders"]}, key=lambda c: (len(c), c))
    lines = ["| image | k | bits | values | " + " | ".join(names) + " |",
             "|" + "---|" * (4 + len(names))]
    for r in rows:
        lines.append(f"| {r['height']}x{r['width']} | {r['k']} | {r['bits']} | "
                     f"{r['stored_values']} | " +
                     " | ".join(str(r["coders"].get(n, "-")) for n in names) + " |")
    return "\n".join(lines)


def figures(img, rows, images, crv, out: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = img.shape[0]
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.add_subplot()
    pix = img.shape[0] * img.shape[1]
    for name, pts in crv.items():
        ax.plot([8 * p["bytes"] / pix for p in pts], [p["psnr"] for p in pts], ".--",
                label=name, alpha=0.8)
    ax.plot([r["bits_per_pixel"] for r in rows], [r["psnr"] for r in rows], "o-", color="k",
            lw=2, label="Deep Decoder (.tdd, format 3)")
    for r in rows:
        steps = "" if r["config_iters"] == CodecConfig.iters else f", {r['config_iters']} steps"
        ax.annotate(f"k={r['k']}/{r['bits']}b{steps}", (r["bits_per_pixel"], r["psnr"]),
                    xytext=(4, -11), textcoords="offset points", fontsize=8)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.set_xlim(0, max(r["bits_per_pixel"] for r in rows) * 1.8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    FigureCanvasAgg(fig)
    fig.savefig(out / f"rd_{size}.png", dpi=100)

    c = size // 4  # a crop of half the side, from the centre
    fig = Figure(figsize=(2.2 * len(images), 2.6), layout="constrained")
    for i, (name, im) in enumerate(images.items()):
        a = fig.add_subplot(1, len(images), i + 1)
        a.imshow(np.clip(im, 0, 1)[c:3 * c, c:3 * c], interpolation="nearest")
        a.set_title(name, fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
    FigureCanvasAgg(fig)
    fig.savefig(out / f"crops_{size}.png", dpi=100)


def parse_point(text: str, iters: int) -> tuple[int, int, int]:
    """``K:BITS`` or ``K:BITS:STEPS`` -> (k, bits, fitting steps; ``iters`` if not given)."""
    parts = [int(x) for x in text.split(":")]
    if len(parts) not in (2, 3) or min(parts) < 1:
        raise SystemExit(f"bench_compression: bad point {text!r} (K:BITS or K:BITS:STEPS)")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else iters


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--points", nargs="+", default=None, metavar="K:BITS[:STEPS]",
                   help=f"decoder width, bits and (optional) fitting steps per point "
                   f"(default per size: {DEFAULT_POINTS})")
    p.add_argument("--allocation", default=CodecConfig.allocation)
    p.add_argument("--iters", type=int, default=CodecConfig.iters)
    p.add_argument("--lr", type=float, default=CodecConfig.lr)
    p.add_argument("--finetune-iters", type=int, default=CodecConfig.qat_iters)
    p.add_argument("--incremental-iters", type=int, default=CodecConfig.incremental_iters,
                   help="steps after each rounded layer (0: round all at once)")
    p.add_argument("--layers", type=int, default=CodecConfig.layers)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    p.add_argument("--out", type=Path, default=HERE / "results" / "compression")
    p.add_argument("--cache", type=Path, default=None, help="fit cache (default OUT/fits)")
    p.add_argument("--crop-k", type=int, default=None, help="k of the crop grid (default: "
                   "the middle one)")
    p.add_argument("--long", action="store_true", help="more k per size (up to the rate "
                   "where JPEG wins)")
    p.add_argument("--quick", action="store_true", help="smoke run: 64x64, k 8 12, 4 layers")
    args = p.parse_args(argv)
    cfg = CodecConfig(allocation=args.allocation, layers=args.layers,
                      seed=args.seed, iters=args.iters, lr=args.lr,
                      qat_iters=args.finetune_iters,
                      incremental_iters=args.incremental_iters, progress=False)
    table = LONG_POINTS if args.long else DEFAULT_POINTS
    if args.quick:
        args.sizes, args.points = [64], ["8:8", "12:6"]
        cfg = replace(cfg, layers=4, iters=60, qat_iters=10)
    if args.threads:
        numba.set_num_threads(args.threads)
    cache = args.cache or args.out / "fits"
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("k", "progress")}
    env = {"numba_threads": numba.get_num_threads(), "python": platform.python_version(),
           "numpy": np.__version__, "ans": entropy.ans_available(), "quick": args.quick}
    print(f"settings: {json.dumps(settings)}; {json.dumps(env)}\n", flush=True)
    rows, all_curves, start = [], {}, time.perf_counter()
    for size in args.sizes:
        img = sample_image(size)
        points = [parse_point(pt, cfg.iters) for pt in
                  (args.points or table.get(size, ["16:8", "32:8"]))]
        crop = len(points) // 2 if args.crop_k is None else \
            next(i for i, (k, _, _) in enumerate(points) if k == args.crop_k)
        size_rows, crop_images = [], {}
        for i, (k, bits, iters) in enumerate(points):
            print(f"{size}x{size}, k = {k}, {bits} bits, {iters} steps ...", file=sys.stderr,
                  flush=True)
            row, images = measure(img, replace(cfg, k=k, bits=bits, iters=iters), cache,
                                  args.out)
            size_rows.append(row)
            if i == crop:
                crop_images = images
            print(psnr_table([row]).splitlines()[-1], file=sys.stderr, flush=True)
        top = max(r["file_bytes"] for r in size_rows)
        grid = sorted({int(x) for x in np.geomspace(top / 4, top * 2, 12)})
        crv = curves(img, grid)
        all_curves[str(size)] = crv
        figures(img, size_rows, crop_images, crv, args.out,
                f"built-in sample {size}x{size}" + (" (smoke run)" if args.quick else ""))
        rows += size_rows
    print(psnr_table(rows))
    print()
    print(coder_table(rows))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; figures and files in {args.out}")
    (args.out / "results.json").write_text(json.dumps(
        {"settings": settings, "environment": env, "points": rows, "curves": all_curves},
        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
