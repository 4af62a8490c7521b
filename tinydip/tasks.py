"""The four jobs on HxWxC images: denoise, inpaint, super-resolve (and the nets they use).

Each task builds the prior (the DIP skip U-Net with the paper's preset for the task, or a Deep
Decoder), fits it with :func:`tinydip.fit.fit` and returns a :class:`TaskResult` holding HxWxC
images, PSNRs against the ground truth when one is given, and a JSON-ready report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .degrade import Downsampler
from .fit import FitConfig, FitResult, fit
from .images import check_min_size, to_image, to_tensor
from .metrics import psnr
from .models import deep_decoder, skip_unet, unet_config
from .nn import Module
from .stopping import auto_rule_spec

NETS = ("unet", "decoder")

# The paper's settings per task (Ulyanov et al. 2018, supplementary material and code):
# iterations, learning rate and input jitter. The "output" choices are tinydip's own, not the
# paper's: the official denoising code keeps an exponential average of the outputs and, when
# the PSNR to the noisy image drops by more than 5 dB in one step, backtracks to the previous
# weights; its inpainting and super-resolution code return the final output. tinydip returns
# the smoothed average for denoising and, for inpainting and SR, the lowest-loss output (which
# is never a blown-up iterate, so no backtracking is needed).
# "stop": "auto" -- early stopping is on by default and ``iters`` is an upper bound; what auto
# means per task (rule, options, watched output stream) is ``stopping.AUTO_RULES[task]``.
TASK_DEFAULTS: dict[str, dict] = {
    "denoise": {"iters": 3000, "lr": 0.01, "reg_noise_std": 1.0 / 30, "output": "smoothed",
                "stop": "auto"},
    "inpaint": {"iters": 3000, "lr": 0.01, "reg_noise_std": 0.03, "output": "best",
                "stop": "auto"},
    "sr": {"iters": 2000, "lr": 0.01, "reg_noise_std": 0.03, "output": "best", "stop": "auto"},
}


def resolve_stop(task: str, settings: dict) -> dict:
    """Settings with ``stop`` resolved for ``task`` (``"auto"`` -> the task's rule).

    ``"auto"``, ``"wmv"`` and ``"val"`` get the task's tuned options and watched stream from
    :func:`tinydip.stopping.auto_rule_spec`; explicit ``stop_options`` / ``stop_on`` win.
    The requested name is kept as ``stop_requested``.
    """
    out = dict(settings)
    requested = str(out.get("stop", "none")).strip().lower()
    name, opts, stream = auto_rule_spec(task, requested)
    out["stop_requested"], out["stop"] = requested, name
    if name != "none":
        out["stop_options"] = {**opts, **(out.get("stop_options") or {})}
        out.setdefault("stop_on", stream)
    return out


def build_net(net: str, task: str, channels: int, seed: int = 0, **options) -> Module:
    """The prior for ``task``: ``"unet"`` (paper preset for the task) or ``"decoder"``.

    ``options`` override fields of the U-Net config or arguments of ``deep_decoder``.
    """
    rng = np.random.default_rng(seed)
    if net == "unet":
        return skip_unet(unet_config(task, out_channels=channels, **options), rng=rng)
    if net == "decoder":
        return deep_decoder(out_channels=channels, rng=rng, **options)
    raise ValueError(f"unknown network {net!r}; choose one of {NETS}")


def _as_image(img: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{name} must be HxW, HxWx1 or HxWx3, got shape {np.shape(img)}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be a float image in [0, 1], got dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


@dataclass
class TaskResult:
    """What a task returns: HxWxC images, PSNRs and the underlying :class:`FitResult`."""

    task: str
    net: str
    params: int
    fit: FitResult
    images: dict[str, np.ndarray]  # observation, [truth], last, best, smoothed, output
    psnr: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)

    @property
    def output(self) -> np.ndarray:
        return self.images["output"]

    def report(self, history_every: int = 10) -> dict:
        """A JSON-ready summary (the CLI's ``--report``)."""
        f = self.fit
        h, w = self.output.shape[:2]
        rep = {"task": self.task, "net": self.net, "iters": f.iters_run,
               "max_iters": self.settings.get("iters"), "seed": self.settings.get("seed"),
               "seconds": round(f.seconds, 3),
               "seconds_per_iter": round(f.seconds_per_iter, 5), "params": self.params,
               "height": h, "width": w, "channels": self.output.shape[2],
               "best_iter": f.best_iter, "output": f.output_kind, "output_iter": f.output_iter,
               "stop_rule": self.settings.get("stop"),
               "stop_requested": self.settings.get("stop_requested"),
               "stop_on": self.settings.get("stop_on"),
               "stop_options": self.settings.get("stop_options"), "stopped_iter": f.stopped_iter,
               "stop_reason": f.stop_reason, "interrupted": f.interrupted,
               "settings": self.settings}
        for k, v in self.psnr.items():
            rep[f"psnr_{k}"] = None if not math.isfinite(v) else round(v, 4)
        keep = {"iter", "loss", "psnr", "psnr_smoothed", "stat", "val_loss"}
        rep["history"] = [{k: v for k, v in r.items() if k in keep}
                          for r in f.history if r["iter"] % history_every == 0
                          or r["iter"] == f.iters_run - 1]
        return rep


def _run(task: str, observation: np.ndarray, *, truth=None, mask=None, operator=None,
         net: str = "unet", seed: int = 0, net_options: dict | None = None,
         **fit_options) -> TaskResult:
    obs = _as_image(observation, "observation")
    factor = getattr(operator, "factor", 1)
    H, W, C = obs.shape[0] * factor, obs.shape[1] * factor, obs.shape[2]
    check_min_size(H, W)
    if truth is not None:
        truth = _as_image(truth, "truth")
        if truth.shape != (H, W, C):
            raise ValueError(f"truth is {truth.shape[0]}x{truth.shape[1]}x{truth.shape[2]} but "
                             f"the output is {H}x{W}x{C}")
    model = build_net(net, task, C, seed, **(net_options or {}))
    # The Deep Decoder is fitted without input jitter (Heckel & Hand): with the U-Net's 0.03
    # it barely fits (measured ~14 dB vs ~24 dB on text inpainting at 64x64).
    net_defaults = {"reg_noise_std": 0.0} if net == "decoder" else {}
    settings = resolve_stop(task, {**TASK_DEFAULTS[task], **net_defaults, **fit_options,
                                   "seed": seed})
    requested = settings.pop("stop_requested")
    cfg = FitConfig(**settings)
    res = fit(model, to_tensor(obs), mask=mask, operator=operator,
              truth=None if truth is None else to_tensor(truth), config=cfg)
    images = {"observation": obs}
    if truth is not None:
        images["truth"] = truth
    for k in ("last", "best", "smoothed", "output"):
        images[k] = np.clip(to_image(getattr(res, k)), 0, 1)
    scores = {}
    if truth is not None:
        if obs.shape == truth.shape:
            known = None if mask is None else np.broadcast_to(mask.reshape(H, W, -1), obs.shape)
            scores["input"] = psnr(obs if known is None else np.where(known, obs, 0), truth)
        for k in ("last", "best", "smoothed", "output"):
            scores[k] = psnr(images[k], truth)
    settings.update(stop=cfg.stop, stop_requested=requested, stop_on=cfg.stop_on,
                    stop_options=dict(cfg.stop_options))
    return TaskResult(task, net, model.num_parameters(), res, images, scores, settings)


def denoise(noisy: np.ndarray, *, truth: np.ndarray | None = None, net: str = "unet",
            seed: int = 0, **options) -> TaskResult:
    """Denoise an HxWxC image in [0, 1] (E = MSE to the noisy image).

    ``options``: :class:`~tinydip.fit.FitConfig` fields (iters, lr, stop, ...) and
    ``net_options`` (U-Net config fields or Deep Decoder arguments).
    """
    return _run("denoise", noisy, truth=truth, net=net, seed=seed, **options)


def inpaint(image: np.ndarray, mask: np.ndarray, *, truth: np.ndarray | None = None,
            net: str = "unet", seed: int = 0, **options) -> TaskResult:
    """Fill the pixels where ``mask`` (HxW, True/1 = known) is False (E = masked MSE)."""
    img = _as_image(image, "image")
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
    mask4 = known[None, None].astype(np.float32)  # (1, 1, H, W)
    return _run("inpaint", observed, truth=truth, mask=mask4, net=net, seed=seed, **options)


def super_resolve(lowres: np.ndarray, factor: int, *, truth: np.ndarray | None = None,
                  net: str = "unet", seed: int = 0, kernel: str = "lanczos2",
                  **options) -> TaskResult:
    """Upscale an HxWxC image by ``factor`` (2, 4, 8): E = MSE(downsample(f(z)), lowres)."""
    op = Downsampler(factor, kernel)
    return _run("sr", lowres, truth=truth, operator=op, net=net, seed=seed, **options)
