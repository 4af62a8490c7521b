"""``tinydip denoise | inpaint | sr``: load, degrade (optionally), fit, write results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .. import tasks
from ..degrade import Downsampler, add_noise, hole_mask, text_mask
from ..images import load_image, sample_image, save_image, to_image, to_tensor
from ..metrics import psnr
from ..plotting import plot_training
from .argtypes import positive_float, positive_int

# what each early-stopping rule's statistic is, for the plot's second loss axis
STAT_LABELS = {"val": "held-out MSE (val rule)", "wmv": "output variance (wmv rule)"}


def _common(p: argparse.ArgumentParser, iters_default: str) -> None:
    p.add_argument("--truth", metavar="GT", help="ground-truth image: enables PSNR")
    p.add_argument("--net", choices=tasks.NETS, default="unet",
                   help="prior: the DIP skip U-Net (default) or the Deep Decoder")
    p.add_argument("--iters", type=positive_int, default=None,
                   help=f"iteration budget (default {iters_default}; with --stop auto, an "
                   "upper bound)")
    p.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate "
                   "(default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed for z, jitter, init (default 0)")
    p.add_argument("--stop", choices=("auto", "wmv", "val", "none"), default="auto",
                   help="ground-truth-free early stopping (default auto; none = run all "
                   "iterations)")
    p.add_argument("--out", metavar="OUT.png", help="write the output image here")
    p.add_argument("--report", metavar="REPORT.json", help="write a JSON report here")
    p.add_argument("--plot", metavar="FIG.png", help="write training curves and images here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_denoise(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", nargs="?", help="noisy image (default: the built-in sample with "
                   "noise added)")
    p.add_argument("--add-noise", type=float, metavar="SIGMA", default=None,
                   help="add Gaussian noise of this sigma (0-255 scale) first; the clean "
                   "image is then the truth")
    p.add_argument("--size", type=positive_int, default=128,
                   help="size of the built-in sample image (default 128)")
    _common(p, "3000")
    p.set_defaults(func=run_denoise)


def add_inpaint(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image to inpaint")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--mask", metavar="MASK.png", help="mask image: white = known pixel")
    group.add_argument("--hole", type=float, metavar="FRAC",
                       help="cut a rectangular hole of FRAC of each side (e.g. 0.25)")
    group.add_argument("--text", action="store_true", help="overlay random text as the mask")
    _common(p, "3000")
    p.set_defaults(func=run_inpaint)


def add_sr(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="low-resolution image")
    p.add_argument("--factor", type=int, required=True, choices=(2, 4, 8),
                   help="upscaling factor")
    p.add_argument("--downsample", action="store_true",
                   help="IMAGE is high resolution: downsample it first and use it as the truth")
    _common(p, "2000")
    p.set_defaults(func=run_sr)


def _load(path: str, what: str) -> np.ndarray:
    if not Path(path).exists():
        raise ValueError(f"{what} file not found: {path}")
    return load_image(path)


def _options(args) -> dict:
    opts = {"stop": args.stop, "progress": False if args.quiet else None}
    if args.iters is not None:
        opts["iters"] = args.iters
    if args.lr is not None:
        opts["lr"] = args.lr
    return opts


def _truth(args, shape) -> np.ndarray | None:
    if not args.truth:
        return None
    truth = _load(args.truth, "truth")
    if truth.shape[:2] != tuple(shape[:2]):
        raise ValueError(f"truth {args.truth} is {truth.shape[0]}x{truth.shape[1]} but the "
                         f"output is {shape[0]}x{shape[1]}")
    if truth.shape[2] != shape[2]:
        raise ValueError(f"truth {args.truth} has {truth.shape[2]} channel(s), the image has "
                         f"{shape[2]}")
    return truth


def _finish(args, result: tasks.TaskResult, extra: dict | None = None) -> int:
    rep = result.report()
    if extra:
        rep.update(extra)
    f = result.fit
    line = (f"{result.task}: {f.iters_run} iterations in {f.seconds:.1f} s "
            f"({f.seconds_per_iter * 1000:.0f} ms/it), output = {f.output_kind} "
            f"(iteration {f.output_iter})")
    print(line)
    if f.stopped_iter is not None:
        print(f"  stopped early: {f.stop_reason}")
    if f.interrupted:
        print("  interrupted: writing the results so far")
    if result.psnr:
        print("  PSNR " + ", ".join(f"{k} {v:.2f} dB" for k, v in result.psnr.items()))
    if args.out:
        print(f"  wrote {save_image(args.out, result.output)}")
    if args.report:
        Path(args.report).write_text(json.dumps(rep, indent=1))
        print(f"  wrote {args.report}")
    if args.plot:
        names = ["observation", "truth", "last", "best", "smoothed", "output"]
        imgs = {k: result.images[k] for k in names if k in result.images}
        marks = {}
        if f.stopped_iter is not None:
            marks["auto stop"] = f.stopped_iter
        if "selected by" in f.output_kind:
            marks["selected"] = f.output_iter
        if result.psnr and f.history and "psnr" in f.history[0]:
            # the truth's best iterate of the stream the output comes from
            stream = result.settings.get("stop_on") if "selected by" in f.output_kind else (
                "smoothed" if f.output_kind == "smoothed" else "raw")
            key = "psnr_smoothed" if stream == "smoothed" else "psnr"
            marks["oracle best"] = max(f.history, key=lambda r: r[key])["iter"]
        rule = result.settings.get("stop")
        plot_training(f.history, imgs, args.plot, title=f"{result.task} ({result.net})",
                      marks=marks, stat_label=STAT_LABELS.get(rule, "stopping statistic"))
        print(f"  wrote {args.plot}")
    return 130 if f.interrupted else 0


def run_denoise(args) -> int:
    truth = None
    if args.image is None:
        clean = sample_image(args.size)
        sigma = 25.0 if args.add_noise is None else args.add_noise
        noisy = add_noise(clean, sigma, np.random.default_rng(args.seed))
        truth = clean
        print(f"denoise: built-in sample image {args.size}x{args.size}, noise sigma {sigma:g}",
              file=sys.stderr)
    else:
        img = _load(args.image, "image")
        if args.add_noise is not None:
            noisy = add_noise(img, args.add_noise, np.random.default_rng(args.seed))
            truth = img
        else:
            noisy = img
    if args.truth:
        truth = _truth(args, noisy.shape)
    result = tasks.denoise(noisy, truth=truth, net=args.net, seed=args.seed, **_options(args))
    return _finish(args, result)


def run_inpaint(args) -> int:
    img = _load(args.image, "image")
    h, w = img.shape[:2]
    rng = np.random.default_rng(args.seed)
    if args.mask:
        m = _load(args.mask, "mask")
        if m.shape[:2] != (h, w):
            raise ValueError(f"mask {args.mask} is {m.shape[0]}x{m.shape[1]} but the image is "
                             f"{h}x{w}")
        mask = m.mean(axis=2) > 0.5
        truth = _truth(args, img.shape)
    else:
        if args.hole is not None and not 0 < args.hole < 1:
            raise ValueError(f"--hole must be a fraction between 0 and 1, got {args.hole}")
        mask = hole_mask(h, w, args.hole, rng) if args.hole is not None else text_mask(h, w, rng)
        truth = _truth(args, img.shape) if args.truth else img
    result = tasks.inpaint(img, mask, truth=truth, net=args.net, seed=args.seed,
                           **_options(args))
    return _finish(args, result, {"known_fraction": round(float(mask.mean()), 4)})


def run_sr(args) -> int:
    img = _load(args.image, "image")
    truth = None
    if args.downsample:
        h, w = img.shape[:2]
        if h % args.factor or w % args.factor:
            raise ValueError(f"--downsample: image size {h}x{w} is not divisible by "
                             f"{args.factor}")
        truth = img
        img = np.clip(to_image(Downsampler(args.factor)(to_tensor(img))), 0, 1)
    f = args.factor
    out_shape = (img.shape[0] * f, img.shape[1] * f, img.shape[2])
    if args.truth:
        truth = _truth(args, out_shape)
    result = tasks.super_resolve(img, f, truth=truth, net=args.net, seed=args.seed,
                                 **_options(args))
    extra = {"factor": f}
    if truth is not None:
        from ..degrade import bicubic_upsample

        extra["psnr_bicubic"] = round(psnr(bicubic_upsample(img, f), truth), 4)
        print(f"  bicubic baseline PSNR {extra['psnr_bicubic']:.2f} dB")
    return _finish(args, result, extra)
