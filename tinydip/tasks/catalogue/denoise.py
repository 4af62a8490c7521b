"""``denoise``: remove noise (E = MSE, or the Poisson likelihood, to the noisy image)."""

from __future__ import annotations

from functools import partial

import numpy as np

from ...degrade import add_noise, add_poisson_noise, parse_noise
from ...denoising.grouped_wiener import MAX_GROUP, PATCH, RADIUS, STEP, grouped_wiener
from ...denoising.haar import haar_denoise
from ...denoising.noise_estimate import estimate_sigma
from ...fitting.stopping import VAL_TUNED, WMV_DEFAULT
from ...functional import mse_loss, poisson_loss
from ...functional.tv import with_tv
from ...io import values
from ...io.images import check_min_size, load_input, sample_image
from ...operators import Identity
from ..options import Option
from ..quality import QUALITY
from ..registry import Problem, Task, register
from ..runner import as_image

LOSSES = {"mse": mse_loss, "poisson": poisson_loss}

# what --loss auto means with --noise poisson: chosen by measurement (benchmarks/README.md,
# "Poisson noise"): built-in sample 64x64, PEAK 30, val stop, 2 noise seeds: Poisson NLL
# 25.46 / 25.77 dB vs MSE 25.09 / 25.01 dB
POISSON_AUTO_LOSS = "poisson"


def denoise_problem(noisy: np.ndarray, *, truth: np.ndarray | None = None,
                    loss: str = "mse", quality: str = "default",
                    noise_sigma: float | None = None) -> Problem:
    """Denoise an HxWxC image in [0, 1] (E = MSE to the noisy image).

    ``loss``: ``"mse"`` (Gaussian noise) or ``"poisson"`` (the Poisson negative
    log-likelihood, :func:`~tinydip.functional.poisson_loss`, for shot noise).
    ``quality``: one of :data:`QUALITY` (the U-Net's width, how many fits from consecutive
    seeds are averaged, and whether a Wiener pass guided by the fit follows; time for PSNR;
    ``"paper"`` is the DIP paper's single fit).
    ``noise_sigma`` (0-255 scale): the Gaussian noise level the Wiener pass and the Haar
    baseline assume; default (and reported as ``noise_sigma_estimate``): estimated from the
    noisy image alone (:func:`~tinydip.denoising.noise_estimate.estimate_sigma`).
    ``options``: :class:`~tinydip.fitting.fit.FitConfig` fields (iters, lr, stop, ...) and
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
                   baselines={"haar-ti-hard": lambda: haar_denoise(img, sigma)},
                   loss_fn=loss_fn, net_options=q.net_options(), fit_options=q.fit_options(),
                   restarts=q.restarts, postfilter=postfilter)


def wiener_postfilter(noisy: np.ndarray, pilot: np.ndarray, sigma: float
                      ) -> tuple[np.ndarray, dict]:
    """The denoiser's last pass: :func:`~tinydip.denoising.grouped_wiener.grouped_wiener`
    (``sigma`` on the 0-1 scale) and its report fields."""
    return grouped_wiener(noisy, pilot, sigma), {
        "method": f"Wiener pass guided by the fit (groups of up to {MAX_GROUP} similar "
                  f"{PATCH}x{PATCH} patches, the fit's power calibrated per frequency, noise "
                  f"sigma {255 * sigma:.1f})",
        "sigma": round(255 * sigma, 2), "patch": PATCH, "step": STEP, "max_group": MAX_GROUP,
        "search_radius": RADIUS, "calibrated": True}


OPTIONS = (
    Option("image", "noisy image (default: the built-in sample with noise added)",
           positional=True),
    Option("add_noise", "add Gaussian noise of this sigma (0-255 scale) first; the clean "
           "image is then the truth", values.nonnegative_float, metavar="SIGMA", group="noise"),
    Option("noise", "add this noise first (the clean image is then the truth): "
           "gaussian:SIGMA (as --add-noise) or poisson:PEAK (shot noise: Poisson(PEAK x) / "
           "PEAK, e.g. poisson:30)", metavar="SPEC", group="noise"),
    Option("loss", "energy: mse, or poisson (negative log-likelihood for shot noise); auto = "
           f"{POISSON_AUTO_LOSS} for --noise poisson, else mse", default="auto",
           choices=("auto", *LOSSES)),
    Option("size", "size of the built-in sample image (default 128)", values.positive_int,
           default=128),
    Option("quality", "time for PSNR: fast (a width-16 U-Net, at most 1000 steps), default "
           "(width 32) or best (two width-32 fits averaged), each followed by a Wiener pass "
           "guided by the fit; paper = the DIP paper's single width-128 fit, no pass (see the "
           "README for measured seconds and dB)", default="default", choices=tuple(QUALITY)),
)


def from_options(v: dict) -> Problem:
    notes = []
    kind, level = parse_noise(v["noise"]) if v["noise"] else ("gaussian", v["add_noise"])
    rng = np.random.default_rng(v["seed"])

    def degrade(img):
        return add_noise(img, level, rng) if kind == "gaussian" else \
            add_poisson_noise(img, level, rng)

    if v["image"] is None:
        truth = sample_image(v["size"])
        if level is None:
            level = 25.0
        noisy = degrade(truth)
        notes.append(f"denoise: built-in sample image {v['size']}x{v['size']}, "
                     + (f"noise sigma {level:g}" if kind == "gaussian" else
                        f"Poisson noise, peak {level:g}"))
    else:
        img = load_input(v["image"], "image")
        noisy, truth = (degrade(img), img) if level is not None else (img, None)
    loss = v["loss"] if v["loss"] != "auto" else \
        (POISSON_AUTO_LOSS if kind == "poisson" else "mse")
    problem = denoise_problem(noisy, truth=truth, loss=loss, quality=v["quality"])
    problem.notes[:0] = notes
    if level is not None:
        problem.extra["noise"] = f"{kind}:{level:g}"
    return problem


DEGRADATION = (Option("sigma", "Gaussian noise level (0-255 scale)", values.noise_sigma,
                      default=25.0),)


def simulate(clean: np.ndarray, p: dict, rng: np.random.Generator) -> Problem:
    """Gaussian noise of ``sigma``; a study compares fits: one fit per run, no Wiener pass."""
    noisy = add_noise(clean, p["sigma"], rng)
    return denoise_problem(noisy, truth=clean, quality="paper", noise_sigma=p["sigma"])


register(Task(
    name="denoise", help="remove noise from an image (Deep Image Prior)",
    problem=denoise_problem, options=OPTIONS, from_options=from_options,
    degradation=DEGRADATION, simulate=simulate, study_baseline="haar-ti-hard",
    label=lambda p: f"denoise-s{p['sigma']:g}",
    prior="skip5-128",
    fit_defaults={"iters": 3000, "lr": 0.01, "reg_noise_std": 1.0 / 30, "output": "smoothed",
                  "stop": "auto"},
    # noisy observation: the held-out loss tracks the error and adapts to the noise level
    stopping={"auto": "val", "val": VAL_TUNED, "wmv": WMV_DEFAULT},
))
