"""The registered tasks: one declaration each (a :class:`~tinydip.tasks.registry.Task`).

Each block holds a task's Python problem builder, its CLI options and how a problem is made
from them, then the ``register(Task(...))`` entry: the prior preset, the paper's fit
settings (Ulyanov et al. 2018, supplementary material and code) and the automatic stopping
rule, chosen by measurement (benchmarks/bench_stopping.py, benchmarks/README.md).
``stop: "auto"`` makes early stopping the default, so ``iters`` is an upper bound.

The paper's settings are the iterations, learning rate and input jitter. The "output"
choices are tinydip's own, not the paper's: the official denoising code keeps an
exponential average of the outputs and, when the PSNR to the noisy image drops by more than
5 dB in one step, backtracks to the previous weights; its inpainting and super-resolution
code return the final output. tinydip returns the smoothed average for denoising (and
deblurring, whose observation is noisy too) and, for inpainting and SR, the lowest-loss
output (which is never a blown-up iterate, so no backtracking is needed).
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np

from ..argtypes import nonnegative_float, open_fraction, positive_int
from ..degrade import (
    add_noise,
    add_poisson_noise,
    bicubic_upsample,
    biharmonic_fill,
    harmonic_fill,
    hole_mask,
    parse_noise,
    text_mask,
)
from ..fileio import check_outputs
from ..functional import mse_loss, poisson_loss
from ..functional.tv import with_tv
from ..grouped_wiener import MAX_GROUP, PATCH, RADIUS, grouped_wiener
from ..images import check_min_size, sample_image, save_image, to_image, to_tensor
from ..masks import DEFAULT_TOL, mask_from_spec, random_mask
from ..noise_estimate import estimate_sigma
from ..operators import Blur, Downsampler, Identity, Mask, parse_kernel
from ..stopping import VAL_TUNED, WMV_DEFAULT
from .quality import QUALITY
from .registry import Problem, Task, load, register
from .runner import as_image

# ---------------------------------------------------------------------------------- denoise


LOSSES = {"mse": mse_loss, "poisson": poisson_loss}


def denoise_problem(noisy: np.ndarray, *, truth: np.ndarray | None = None,
                    loss: str = "mse", quality: str = "default",
                    noise_sigma: float | None = None) -> Problem:
    """Denoise an HxWxC image in [0, 1] (E = MSE to the noisy image).

    ``loss``: ``"mse"`` (Gaussian noise) or ``"poisson"`` (the Poisson negative
    log-likelihood, :func:`~tinydip.functional.poisson_loss`, for shot noise).
    ``quality``: one of :data:`QUALITY` (the U-Net's width, how many fits from consecutive
    seeds are averaged, and whether a Wiener pass guided by the fit follows; time for PSNR;
    ``"paper"`` is the DIP paper's single fit).
    ``noise_sigma`` (0-255 scale): the Gaussian noise level the Wiener pass assumes; default
    (and reported as ``noise_sigma_estimate``): estimated from the noisy image alone
    (:func:`~tinydip.noise_estimate.estimate_sigma`).
    ``options``: :class:`~tinydip.fit.FitConfig` fields (iters, lr, stop, ...) and
    ``net_options`` (U-Net config fields or Deep Decoder arguments).
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    if quality not in QUALITY:
        raise ValueError(f"unknown quality {quality!r}; choose one of {', '.join(QUALITY)}")
    q = QUALITY[quality]
    img = as_image(noisy, "noisy image")
    check_min_size(*img.shape[:2])
    estimate = 255.0 * estimate_sigma(img)
    sigma = estimate if noise_sigma is None else float(noise_sigma)
    if not (np.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma!r}")
    loss_fn = None if loss == "mse" else LOSSES[loss]
    if q.tv:
        loss_fn = with_tv(LOSSES[loss], q.tv)
    # the Wiener pass assumes white Gaussian noise: not for the Poisson loss
    postfilter = partial(wiener_postfilter, sigma=sigma / 255) if q.wiener and \
        loss == "mse" else None
    return Problem(noisy, Identity(), truth, extra={"loss": loss, "quality": quality,
                                                     "noise_sigma_estimate": round(estimate, 2)},
                   loss_fn=loss_fn, net_options=q.net_options(), fit_options=q.fit_options(),
                   restarts=q.restarts, postfilter=postfilter)


def wiener_postfilter(noisy: np.ndarray, pilot: np.ndarray, sigma: float
                      ) -> tuple[np.ndarray, dict]:
    """The denoiser's last pass: :func:`~tinydip.grouped_wiener.grouped_wiener` (``sigma``
    on the 0-1 scale) and its report fields."""
    return grouped_wiener(noisy, pilot, sigma), {
        "method": f"Wiener pass guided by the fit (groups of up to {MAX_GROUP} similar "
                  f"{PATCH}x{PATCH} patches, the fit's power calibrated per frequency, noise "
                  f"sigma {255 * sigma:.1f})",
        "sigma": round(255 * sigma, 2), "patch": PATCH, "max_group": MAX_GROUP,
        "search_radius": RADIUS, "calibrated": True}


def _denoise_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", nargs="?", help="noisy image (default: the built-in sample with "
                   "noise added)")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--add-noise", type=nonnegative_float, metavar="SIGMA", default=None,
                       help="add Gaussian noise of this sigma (0-255 scale) first; the clean "
                       "image is then the truth")
    noise.add_argument("--noise", metavar="SPEC", default=None,
                       help="add this noise first (the clean image is then the truth): "
                       "gaussian:SIGMA (as --add-noise) or poisson:PEAK (shot noise: "
                       "Poisson(PEAK x) / PEAK, e.g. poisson:30)")
    p.add_argument("--loss", choices=("auto", *LOSSES), default="auto",
                   help="energy: mse, or poisson (negative log-likelihood for shot noise); "
                   f"auto = {POISSON_AUTO_LOSS} for --noise poisson, else mse")
    p.add_argument("--size", type=positive_int, default=128,
                   help="size of the built-in sample image (default 128)")
    p.add_argument("--quality", choices=tuple(QUALITY), default="default",
                   help="time for PSNR: fast (a width-16 U-Net, at most 1000 steps), default "
                   "(width 32) or best "
                   "(two width-32 fits averaged), each followed by a Wiener pass guided by "
                   "the fit; paper = the DIP paper's single width-128 fit, no pass (see the "
                   "README for measured seconds and dB)")


# what --loss auto means with --noise poisson: chosen by measurement (benchmarks/README.md,
# "Poisson noise"): built-in sample 64x64, PEAK 30, val stop, 2 noise seeds: Poisson NLL
# 25.46 / 25.77 dB vs MSE 25.09 / 25.01 dB
POISSON_AUTO_LOSS = "poisson"


def _denoise_from_args(args: argparse.Namespace) -> Problem:
    notes = []
    kind, level = parse_noise(args.noise) if args.noise else ("gaussian", args.add_noise)
    rng = np.random.default_rng(args.seed)

    def degrade(img):
        return add_noise(img, level, rng) if kind == "gaussian" else \
            add_poisson_noise(img, level, rng)

    if args.image is None:
        truth = sample_image(args.size)
        if level is None:
            level = 25.0
        noisy = degrade(truth)
        notes.append(f"denoise: built-in sample image {args.size}x{args.size}, "
                     + (f"noise sigma {level:g}" if kind == "gaussian" else
                        f"Poisson noise, peak {level:g}"))
    else:
        img = load(args.image, "image")
        truth = None
        if level is not None:
            noisy, truth = degrade(img), img
        else:
            noisy = img
    loss = args.loss if args.loss != "auto" else \
        (POISSON_AUTO_LOSS if kind == "poisson" else "mse")
    problem = denoise_problem(noisy, truth=truth, loss=loss, quality=args.quality)
    problem.notes[:0] = notes
    if level is not None:
        problem.extra["noise"] = f"{kind}:{level:g}"
    return problem


register(Task(
    name="denoise", help="remove noise from an image (Deep Image Prior)",
    problem=denoise_problem, add_arguments=_denoise_arguments, from_args=_denoise_from_args,
    prior="skip5-128",
    fit_defaults={"iters": 3000, "lr": 0.01, "reg_noise_std": 1.0 / 30, "output": "smoothed",
                  "stop": "auto"},
    # noisy observation: the held-out loss tracks the error and adapts to the noise level
    stopping={"auto": "val", "val": VAL_TUNED, "wmv": WMV_DEFAULT},
))

# ---------------------------------------------------------------------------------- inpaint


def inpaint_problem(image: np.ndarray, mask: np.ndarray, *,
                    truth: np.ndarray | None = None) -> Problem:
    """Fill the pixels where ``mask`` (HxW, True/1 = known) is False (E = masked MSE).

    The report gets ``known_fraction``; with a truth, the harmonic and biharmonic fills
    (:func:`tinydip.degrade.smooth_fill`) are scored as ``psnr_harmonic`` / ``psnr_biharmonic``.
    """
    img = as_image(image, "image")
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[:, :, 0]
    if m.shape != img.shape[:2]:
        raise ValueError(f"mask is {'x'.join(map(str, m.shape))} but the image is "
                         f"{img.shape[0]}x{img.shape[1]}")
    known = m.astype(bool)
    if not known.any():
        raise ValueError("mask has no known pixel (white = known)")
    observed = np.where(known[:, :, None], img, 0).astype(np.float32)
    return Problem(observed, Mask(known[None, None].astype(np.float32)), truth,
                   baselines={"biharmonic": lambda: biharmonic_fill(observed, known),
                              "harmonic": lambda: harmonic_fill(observed, known)},
                   extra={"known_fraction": round(float(known.mean()), 4)})


def _inpaint_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="image to inpaint")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--mask", metavar="MASK.png", help="mask image: white = known pixel")
    group.add_argument("--hole", type=float, metavar="FRAC",
                       help="cut a rectangular hole of FRAC of each side (e.g. 0.25)")
    group.add_argument("--text", action="store_true", help="overlay random text as the mask")
    group.add_argument("--drop", type=open_fraction, metavar="FRAC",
                       help="drop this fraction of the pixels at random (same pixels in every "
                       "channel, chosen by --seed), e.g. 0.5; the clean IMAGE is the truth")
    group.add_argument("--mask-from", metavar="SPEC",
                       help="the unknown pixels are read off IMAGE itself: COLOR[,TOL] (a name "
                       "such as white, or #rrggbb; pixels whose every channel is within TOL, "
                       f"default {DEFAULT_TOL:g}, of it), threshold:T (pixels brighter than T "
                       "in [0, 1)), or alpha (transparent pixels)")
    p.add_argument("--preview-mask", metavar="PREFIX",
                   help="write PREFIX_mask.png (white = known) and PREFIX_masked.png (unknown "
                   "pixels black), then exit without fitting")


def _inpaint_from_args(args: argparse.Namespace) -> Problem:
    img = load(args.image, "image")
    h, w = img.shape[:2]
    rng = np.random.default_rng(args.seed)
    extra = {}
    if args.mask:
        m = load(args.mask, "mask")
        if m.shape[:2] != (h, w):
            raise ValueError(f"mask {args.mask} is {m.shape[0]}x{m.shape[1]} but the image is "
                             f"{h}x{w}")
        problem = inpaint_problem(img, m.mean(axis=2) > 0.5)  # a given mask: IMAGE is damaged
    elif args.mask_from:
        known = mask_from_spec(args.mask_from, img, args.image)
        if known.all():
            raise ValueError(f"--mask-from {args.mask_from}: no pixel of {args.image} matches "
                             "(nothing to inpaint)")
        if not known.any():
            raise ValueError(f"--mask-from {args.mask_from}: every pixel matches (no known "
                             "pixel left)")
        problem = inpaint_problem(img, known)  # the unknown pixels are damaged: no truth
        extra["mask_from"] = args.mask_from
    else:
        if args.hole is not None and not 0 < args.hole < 1:
            raise ValueError(f"--hole must be a fraction between 0 and 1, got {args.hole}")
        if args.drop is not None:
            mask = random_mask(h, w, args.drop, rng)
            extra["drop"] = args.drop
        elif args.hole is not None:
            mask = hole_mask(h, w, args.hole, rng)
        else:
            mask = text_mask(h, w, rng)
        problem = inpaint_problem(img, mask, truth=img)  # the clean IMAGE is the truth
    problem.extra.update(extra)
    if args.drop is not None:  # random pixels: held-out pixels are like the missing ones
        problem.stopping = DROP_STOPPING
    if args.preview_mask:
        problem.preview = partial(_preview_mask, problem, args.preview_mask)
    return problem


def _preview_mask(problem: Problem, prefix: str) -> list[str]:
    """--preview-mask: write PREFIX_mask.png and PREFIX_masked.png (instead of the fit)."""
    known = problem.operator.measured[0, 0] > 0
    paths = {"mask": f"{prefix}_mask.png", "masked": f"{prefix}_masked.png"}
    check_outputs({f"--preview-mask ({k})": (v, (".png",)) for k, v in paths.items()})
    save_image(paths["mask"], known.astype(np.float32))
    save_image(paths["masked"], problem.observation)
    return [f"inpaint: {int((~known).sum())} unknown pixels ({(~known).mean():.1%}); wrote "
            f"{paths['mask']} and {paths['masked']}"]


# random-pixel restoration (--drop): wmv measured 23.44 dB at 64x64 (biharmonic 22.74) and
# 26.25 dB at 128x128 (stopped 1168/3000; biharmonic 25.49, val 26.05): benchmarks/README.md
DROP_STOPPING = {"auto": "wmv", "val": VAL_TUNED, "wmv": WMV_DEFAULT}


register(Task(
    name="inpaint", help="fill masked pixels (text overlays, holes, random pixels)",
    problem=inpaint_problem, add_arguments=_inpaint_arguments, from_args=_inpaint_from_args,
    prior="skip5-128-wide-nearest",
    fit_defaults={"iters": 3000, "lr": 0.01, "reg_noise_std": 0.03, "output": "best",
                  "stop": "auto"},
    # noise-free observation: little to overfit; the variance knee ends the run
    stopping={"auto": "wmv", "val": VAL_TUNED, "wmv": WMV_DEFAULT},
))

# --------------------------------------------------------------------------------------- sr


def sr_problem(lowres: np.ndarray, factor: int, *, truth: np.ndarray | None = None,
               kernel: str = "lanczos2") -> Problem:
    """Upscale an HxWxC image by ``factor`` (2, 4, 8): E = MSE(downsample(f(z)), lowres)."""
    op = Downsampler(factor, kernel)
    low = as_image(lowres, "observation")
    return Problem(low, op, truth, extra={"factor": op.factor},
                   baselines={"bicubic": lambda: bicubic_upsample(low, op.factor)})


def _sr_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="low-resolution image")
    p.add_argument("--factor", type=int, required=True, choices=Downsampler.FACTORS,
                   help="upscaling factor")
    p.add_argument("--downsample", action="store_true",
                   help="IMAGE is high resolution: downsample it first and use it as the truth")


def _sr_from_args(args: argparse.Namespace) -> Problem:
    img = load(args.image, "image")
    truth = None
    if args.downsample:
        h, w = img.shape[:2]
        if h % args.factor or w % args.factor:
            raise ValueError(f"--downsample: image size {h}x{w} is not divisible by "
                             f"{args.factor}")
        truth = img
        img = np.clip(to_image(Downsampler(args.factor)(to_tensor(img))), 0, 1)
    return sr_problem(img, args.factor, truth=truth)


register(Task(
    name="sr", api_name="super_resolve", help="super-resolution by a factor 2, 4 or 8",
    problem=sr_problem, add_arguments=_sr_arguments, from_args=_sr_from_args,
    prior="skip5-128",
    fit_defaults={"iters": 2000, "lr": 0.01, "reg_noise_std": 0.03, "output": "best",
                  "stop": "auto"},
    stopping={"auto": "wmv", "val": VAL_TUNED, "wmv": WMV_DEFAULT},
))


# ----------------------------------------------------------------------------------- deblur


def deblur_problem(blurred: np.ndarray, kernel, *, truth: np.ndarray | None = None,
                   noise_sigma: float | None = None) -> Problem:
    """Deblur an HxWxC image blurred by a known ``kernel`` (E = MSE(k * f(z), blurred)).

    ``kernel``: a :class:`~tinydip.operators.Blur`, a spec (``"gaussian:2"``, ``"box:5"``,
    ``"motion:9,30"``, a .npy/.png path) or a 2-D array; convolution with reflect boundary.
    ``noise_sigma`` (0-255 scale) sets the Wiener baseline's noise-to-signal ratio; default:
    estimated from the image. ``options``: FitConfig fields and ``net_options``.
    """
    if isinstance(kernel, Blur):
        op = kernel
    else:
        op = parse_kernel(kernel) if isinstance(kernel, str) else Blur(kernel)
    obs = as_image(blurred, "observation")
    op.output_shape((1, obs.shape[2], obs.shape[0], obs.shape[1]))  # kernel fits the image
    sigma = estimate_sigma(obs) if noise_sigma is None else float(noise_sigma) / 255

    def wiener() -> np.ndarray:  # Wiener with a flat noise-to-signal ratio
        nsr = max(sigma, 1e-3) ** 2 / max(float(obs.var()) - sigma**2, 1e-6)
        return to_image(op.wiener(to_tensor(obs), nsr))

    return Problem(obs, op, truth, baselines={"wiener": wiener},
                   extra={"kernel": op.name, "kernel_size": list(op.kernel.shape),
                          "noise_sigma": round(sigma * 255, 3)})


def _deblur_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", nargs="?", help="blurred image (default: the built-in sample, "
                   "blurred with --kernel)")
    p.add_argument("--kernel", required=True, metavar="SPEC",
                   help="the known blur: gaussian:SIGMA, box:N, motion:LENGTH,ANGLE (degrees) "
                   "or a kernel file (.npy, or an image whose grey levels are the weights); "
                   "normalised to sum 1, reflect boundary")
    p.add_argument("--blur", action="store_true",
                   help="IMAGE is sharp: blur it with --kernel first and use it as the truth")
    p.add_argument("--add-noise", type=nonnegative_float, metavar="SIGMA", default=None,
                   help="add Gaussian noise of this sigma (0-255 scale) after blurring")
    p.add_argument("--size", type=positive_int, default=128,
                   help="size of the built-in sample image (default 128)")


def _deblur_from_args(args: argparse.Namespace) -> Problem:
    op = parse_kernel(args.kernel)
    notes, truth = [], None
    if args.image is None:
        img = sample_image(args.size)
        notes.append(f"deblur: built-in sample image {args.size}x{args.size}, blurred with "
                     f"{op.name}" + (f", noise sigma {args.add_noise:g}" if args.add_noise
                                     else ""))
    else:
        img = load(args.image, "image")
    if args.image is None or args.blur:
        truth = img
        img = np.clip(to_image(op(to_tensor(img))), 0, 1)
    if args.add_noise is not None:
        img = add_noise(img, args.add_noise, np.random.default_rng(args.seed))
    problem = deblur_problem(img, op, truth=truth, noise_sigma=args.add_noise)
    problem.notes[:0] = notes
    return problem


register(Task(
    name="deblur", help="remove a known blur (Gaussian, box, motion or a kernel file)",
    problem=deblur_problem, add_arguments=_deblur_arguments, from_args=_deblur_from_args,
    prior="skip5-128",
    fit_defaults={"iters": 3000, "lr": 0.01, "reg_noise_std": 1.0 / 30, "output": "smoothed",
                  "stop": "auto"},
    # measured (benchmarks/README.md, "Deblurring"): 64x64 sample, Gaussian sigma 2 + noise 5,
    # 2000-iteration budget: the output still improves at 2000; wmv stops at its knee
    # (1102: 19.25 dB, below Wiener's 19.43), val keeps going while the held-out loss falls
    # (2000: 19.96 dB = the oracle best)
    stopping={"auto": "val", "val": VAL_TUNED, "wmv": WMV_DEFAULT},
))
