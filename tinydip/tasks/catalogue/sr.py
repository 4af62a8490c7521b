"""``sr``: super-resolution by 2, 4 or 8 (E = MSE after a fixed Lanczos downsampler)."""

from __future__ import annotations

import numpy as np

from ...degrade import bicubic_upsample
from ...fitting.stopping import VAL_TUNED, WMV_DEFAULT
from ...io import values
from ...io.images import load_input, to_image, to_tensor
from ...operators import Downsampler
from ..options import Option
from ..registry import Problem, Task, register
from ..runner import as_image


def sr_problem(lowres: np.ndarray, factor: int, *, truth: np.ndarray | None = None,
               kernel: str = "lanczos2") -> Problem:
    """Upscale an HxWxC image by ``factor`` (2, 4, 8): E = MSE(downsample(f(z)), lowres)."""
    op = Downsampler(factor, kernel)
    low = as_image(lowres, "observation")
    return Problem(low, op, truth, extra={"factor": op.factor}, psnr_border=op.factor,
                   baselines={"bicubic": lambda: bicubic_upsample(low, op.factor)})


OPTIONS = (
    Option("image", "low-resolution image", positional=True, required=True),
    Option("factor", "upscaling factor", values.positive_int, required=True,
           choices=Downsampler.FACTORS),
    Option("downsample", "IMAGE is high resolution: downsample it first and use it as the "
           "truth", None, default=False),
)


def _downsampled(img: np.ndarray, factor: int) -> np.ndarray:
    return np.clip(to_image(Downsampler(factor)(to_tensor(img))), 0, 1).astype(np.float32)


def from_options(v: dict) -> Problem:
    img = load_input(v["image"], "image")
    truth = None
    if v["downsample"]:
        h, w = img.shape[:2]
        if h % v["factor"] or w % v["factor"]:
            raise ValueError(f"--downsample: image size {h}x{w} is not divisible by "
                             f"{v['factor']}")
        truth, img = img, _downsampled(img, v["factor"])
    return sr_problem(img, v["factor"], truth=truth)


DEGRADATION = (Option("factor", "downsampling factor", values.positive_int, default=4,
                      choices=Downsampler.FACTORS),)


def simulate(clean: np.ndarray, p: dict, rng: np.random.Generator) -> Problem:
    """``clean`` cropped to a multiple of the factor (the truth), then downsampled."""
    f = p["factor"]
    h, w = clean.shape[:2]
    truth = clean[: h - h % f, : w - w % f]
    problem = sr_problem(_downsampled(truth, f), f, truth=truth)
    problem.extra["cropped_to"] = list(truth.shape[:2])
    return problem


register(Task(
    name="sr", api_name="super_resolve", help="super-resolution by a factor 2, 4 or 8",
    problem=sr_problem, options=OPTIONS, from_options=from_options,
    degradation=DEGRADATION, simulate=simulate, study_baseline="bicubic",
    label=lambda p: f"sr-x{p['factor']}",
    prior="skip5-128",
    fit_defaults={"iters": 2000, "lr": 0.01, "reg_noise_std": 0.03, "output": "best",
                  "stop": "auto"},
    stopping={"auto": "wmv", "val": VAL_TUNED, "wmv": WMV_DEFAULT},
))
