"""``inpaint``: fill the unknown pixels (E = MSE over the known ones)."""

from __future__ import annotations

import numpy as np

from ...degrade import biharmonic_fill, harmonic_fill, hole_mask, text_mask
from ...degrade.masks import DEFAULT_TOL, mask_from_spec, random_mask
from ...fitting.stopping import VAL_TUNED, WMV_DEFAULT
from ...io import values
from ...io.images import load_input
from ...operators import Mask
from ..options import Option
from ..registry import Problem, Task, register
from ..runner import as_image


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


OPTIONS = (
    Option("image", "image to inpaint", positional=True, required=True),
    Option("mask", "mask image: white = known pixel", metavar="MASK.png", group="mask"),
    Option("hole", "cut a rectangular hole of FRAC of each side (e.g. 0.25)",
           values.open_fraction, metavar="FRAC", group="mask"),
    Option("text", "overlay random text as the mask", None, default=False, group="mask"),
    Option("drop", "drop this fraction of the pixels at random (same pixels in every channel, "
           "chosen by --seed), e.g. 0.5; the clean IMAGE is the truth", values.open_fraction,
           metavar="FRAC", group="mask"),
    Option("mask_from", "the unknown pixels are read off IMAGE itself: COLOR[,TOL] (a name "
           "such as white, or #rrggbb; pixels whose every channel is within TOL, default "
           f"{DEFAULT_TOL:g}, of it), threshold:T (pixels brighter than T in [0, 1)), or alpha "
           "(transparent pixels)", metavar="SPEC", group="mask"),
    Option("preview_mask", "write PREFIX_mask.png (white = known) and PREFIX_masked.png "
           "(unknown pixels black), then exit without fitting", metavar="PREFIX"),
)

# random-pixel restoration (--drop): wmv measured 23.44 dB at 64x64 (biharmonic 22.74) and
# 26.25 dB at 128x128 (stopped 1168/3000; biharmonic 25.49, val 26.05): benchmarks/README.md
DROP_STOPPING = {"auto": "wmv", "val": VAL_TUNED, "wmv": WMV_DEFAULT}


def _from_mask_file(img: np.ndarray, v: dict) -> Problem:
    m = load_input(v["mask"], "mask")
    if m.shape[:2] != img.shape[:2]:
        raise ValueError(f"mask {v['mask']} is {m.shape[0]}x{m.shape[1]} but the image is "
                         f"{img.shape[0]}x{img.shape[1]}")
    return inpaint_problem(img, m.mean(axis=2) > 0.5)  # a given mask: IMAGE is damaged


def _from_spec(img: np.ndarray, v: dict) -> Problem:
    known = mask_from_spec(v["mask_from"], img, v["image"])
    if known.all():
        raise ValueError(f"--mask-from {v['mask_from']}: no pixel of {v['image']} matches "
                         "(nothing to inpaint)")
    if not known.any():
        raise ValueError(f"--mask-from {v['mask_from']}: every pixel matches (no known "
                         "pixel left)")
    problem = inpaint_problem(img, known)  # the unknown pixels are damaged: no truth
    problem.extra["mask_from"] = v["mask_from"]
    return problem


def from_options(v: dict) -> Problem:
    img = load_input(v["image"], "image")
    if v["mask"]:
        problem = _from_mask_file(img, v)
    elif v["mask_from"]:
        problem = _from_spec(img, v)
    else:
        kind = "random" if v["drop"] is not None else "hole" if v["hole"] is not None else \
            "text"
        fraction = v["drop"] if v["drop"] is not None else v["hole"]
        problem = simulate(img, {"mask": kind, "fraction": fraction},
                           np.random.default_rng(v["seed"]))
    if v["preview_mask"]:
        known = problem.operator.measured[0, 0] > 0
        prefix = v["preview_mask"]
        flag = OPTIONS[-1].flag
        problem.preview = {f"{flag} (mask)": (f"{prefix}_mask.png", known.astype(np.float32)),
                           f"{flag} (masked)": (f"{prefix}_masked.png", problem.observation)}
        problem.notes.append(f"inpaint: {int((~known).sum())} unknown pixels "
                             f"({(~known).mean():.1%})")
    return problem


DEGRADATION = (
    Option("mask", "which pixels are lost: random (as --drop), hole or text",
           default="random", choices=("random", "hole", "text")),
    Option("fraction", "the fraction dropped (random) or each side's share of the hole "
           "(hole); not used by text", values.open_fraction, default=0.5),
)


def simulate(clean: np.ndarray, p: dict, rng: np.random.Generator) -> Problem:
    """``clean`` with pixels lost as ``p["mask"]`` says; the clean image is the truth."""
    h, w = clean.shape[:2]
    if p["mask"] == "random":
        mask = random_mask(h, w, p["fraction"], rng)
    elif p["mask"] == "hole":
        mask = hole_mask(h, w, p["fraction"], rng)
    else:
        mask = text_mask(h, w, rng)
    problem = inpaint_problem(clean, mask, truth=clean)
    if p["mask"] == "random":  # random pixels: held-out pixels are like the missing ones
        problem.stopping = DROP_STOPPING
        problem.extra["drop"] = p["fraction"]
    return problem


def _label(p: dict) -> str:
    return "inpaint-text" if p["mask"] == "text" else f"inpaint-{p['mask']}{p['fraction']:g}"


register(Task(
    name="inpaint", help="fill masked pixels (text overlays, holes, random pixels)",
    problem=inpaint_problem, options=OPTIONS, from_options=from_options,
    required_groups=("mask",), degradation=DEGRADATION, simulate=simulate,
    study_baseline="harmonic", label=_label,
    prior="skip5-128-wide-nearest",
    fit_defaults={"iters": 3000, "lr": 0.01, "reg_noise_std": 0.03, "output": "best",
                  "stop": "auto"},
    # noise-free observation: little to overfit; the variance knee ends the run
    stopping={"auto": "wmv", "val": VAL_TUNED, "wmv": WMV_DEFAULT},
))
