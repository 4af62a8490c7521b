"""The ONE place that maps a study's task spec to tinydip: degradation, fit call, baseline.

A task spec is ``{kind = "denoise", sigma = 25}``, ``{kind = "inpaint", mask = "random",
fraction = 0.5}`` or ``{kind = "sr", factor = 4}``. Given the clean image and the run's seed,
:func:`degrade` makes the observation, :func:`fit` calls ``tinydip.tasks.denoise / inpaint /
super_resolve`` with the setting's options and :func:`baseline` computes the task's classical
baseline on the same observation. Adding a task kind (e.g. deblurring) means adding it here.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field, fields

import numpy as np

from .. import tasks as dip_tasks
from ..degrade import Downsampler, add_noise, bicubic_upsample, hole_mask, text_mask
from ..images import to_image, to_tensor
from ..masks import random_mask
from ..models import deep_decoder
from ..models.unet import UNetConfig
from . import baselines

# parameters of each task kind and their defaults
TASK_KINDS: dict[str, dict] = {
    "denoise": {"sigma": 25.0},
    "inpaint": {"mask": "random", "fraction": 0.5},
    "sr": {"factor": 4},
}
MASKS = ("random", "hole", "text")
SR_FACTORS = (2, 4, 8)
STOPS = ("auto", "wmv", "val", "none")

# options a setting may give to the network: U-Net config fields plus the shorthands
# channels (every level's width), levels (depth) and skip (every skip's width); Deep Decoder args
UNET_SHORTHANDS = ("channels", "levels", "skip")
NET_OPTIONS = {
    "unet": set(UNET_SHORTHANDS) | {f.name for f in fields(UNetConfig)} - {"out_channels"},
    "decoder": set(inspect.signature(deep_decoder).parameters) - {"out_channels", "rng",
                                                                    "dtype"},
}


@dataclass
class TaskSpec:
    """One task of a study: kind, its degradation parameters, and a label."""

    kind: str
    params: dict = field(default_factory=dict)
    name: str = ""

    def identity(self) -> dict:
        """What the run key depends on (not the label)."""
        return {"kind": self.kind, **self.params}


def default_name(kind: str, params: dict) -> str:
    if kind == "denoise":
        return f"denoise-s{params['sigma']:g}"
    if kind == "inpaint":
        return f"inpaint-{params['mask']}{params['fraction']:g}" if params["mask"] != "text" \
            else "inpaint-text"
    return f"sr-x{params['factor']}"


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def task_spec(table: dict, where: str) -> tuple[TaskSpec | None, list[str]]:
    """Validate one ``[[tasks]]`` table: ``(spec, [])`` or ``(None, problems)``."""
    problems: list[str] = []
    kind = table.get("kind")
    if kind not in TASK_KINDS:
        return None, [f"{where}: kind must be one of {', '.join(TASK_KINDS)}, got {kind!r}"]
    allowed = set(TASK_KINDS[kind]) | {"kind", "name"}
    problems += [f"{where}: unknown key {k!r} for a {kind} task (allowed: "
                 f"{', '.join(sorted(allowed))})" for k in table if k not in allowed]
    params = {k: table.get(k, d) for k, d in TASK_KINDS[kind].items()}
    if kind == "denoise":
        if not _number(params["sigma"]) or not 0 < params["sigma"] <= 255:
            problems.append(f"{where}: sigma must be a number in (0, 255], got "
                            f"{params['sigma']!r}")
        else:
            params["sigma"] = float(params["sigma"])
    elif kind == "inpaint":
        if params["mask"] not in MASKS:
            problems.append(f"{where}: mask must be one of {', '.join(MASKS)}, got "
                            f"{params['mask']!r}")
        if params["mask"] == "text":
            params.pop("fraction")
        elif not _number(params["fraction"]) or not 0 < params["fraction"] < 1:
            problems.append(f"{where}: fraction must be a number in (0, 1), got "
                            f"{params['fraction']!r}")
        else:
            params["fraction"] = float(params["fraction"])
    elif params["factor"] not in SR_FACTORS or isinstance(params["factor"], bool):
        problems.append(f"{where}: factor must be one of {SR_FACTORS}, got {params['factor']!r}")
    name = table.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(f"{where}: name must be a non-empty string")
    if problems:
        return None, problems
    return TaskSpec(kind, params, name or default_name(kind, params)), []


def check_setting(opts: dict, where: str) -> list[str]:
    """Problems with one setting's options (net, iters, lr, reg_noise_std, stop, ...)."""
    p: list[str] = []
    net = opts.get("net", "unet")
    nets = getattr(dip_tasks, "NETS", tuple(NET_OPTIONS))
    if net not in nets:
        p.append(f"{where}: net must be one of {', '.join(nets)}, got {net!r}")
    if "iters" in opts and (not isinstance(opts["iters"], int) or isinstance(opts["iters"], bool)
                            or opts["iters"] < 1):
        p.append(f"{where}: iters must be a positive integer, got {opts['iters']!r}")
    for k in ("lr", "input_scale"):
        if k in opts and (not _number(opts[k]) or opts[k] <= 0):
            p.append(f"{where}: {k} must be a positive number, got {opts[k]!r}")
    if "reg_noise_std" in opts and (not _number(opts["reg_noise_std"])
                                    or opts["reg_noise_std"] < 0):
        p.append(f"{where}: reg_noise_std must be a number >= 0, got {opts['reg_noise_std']!r}")
    if "ema" in opts and (not _number(opts["ema"]) or not 0 <= opts["ema"] < 1):
        p.append(f"{where}: ema must be a number in [0, 1), got {opts['ema']!r}")
    if "stop" in opts and opts["stop"] not in STOPS:
        p.append(f"{where}: stop must be one of {', '.join(STOPS)}, got {opts['stop']!r}")
    no = opts.get("net_options", {})
    if not isinstance(no, dict):
        p.append(f"{where}: net_options must be a table, e.g. {{ channels = 16, levels = 3 }}")
    elif net in NET_OPTIONS:
        bad = sorted(set(no) - NET_OPTIONS[net])
        if bad:
            p.append(f"{where}: unknown net_options {', '.join(map(repr, bad))} for net "
                     f"{net!r} (allowed: {', '.join(sorted(NET_OPTIONS[net]))})")
        for k in ("channels", "levels", "skip", "k", "layers", "in_channels"):
            v = no.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0
                                  or (v == 0 and k != "skip")):
                p.append(f"{where}: net_options.{k} must be a positive integer, got {v!r}")
    return p


SETTING_KEYS = ("net", "iters", "lr", "reg_noise_std", "stop", "ema", "input_scale",
                "net_options")


def net_options(net: str, options: dict) -> dict:
    """Expand the U-Net shorthands (channels, levels, skip) into config fields."""
    opts = dict(options)
    if net != "unet" or not set(UNET_SHORTHANDS) & set(opts):
        return opts
    levels = opts.pop("levels", None)
    width = opts.pop("channels", None)
    skip = opts.pop("skip", None)
    base = UNetConfig()
    levels = levels or len(tuple(opts.get("channels_down", base.channels_down)))
    if width is not None or levels is not None:
        opts.setdefault("channels_down", (width or 128,) * levels)
        opts.setdefault("channels_up", (width or 128,) * levels)
        opts.setdefault("channels_skip", (4 if skip is None else skip,) * levels)
    return opts


@dataclass
class Observation:
    """A degraded image and what the fit and the baseline need besides it."""

    truth: np.ndarray
    observation: np.ndarray
    mask: np.ndarray | None = None  # inpainting: HxW bool, True = known
    factor: int | None = None  # super-resolution
    info: dict = field(default_factory=dict)


def degrade(task: TaskSpec, clean: np.ndarray, seed: int) -> Observation:
    """The observation of ``clean`` for ``task``; the degradation draws from ``seed`` only,
    so every setting of a study sees the same noisy/masked/low-resolution image."""
    rng = np.random.default_rng(seed)
    h, w = clean.shape[:2]
    if task.kind == "denoise":
        return Observation(clean, add_noise(clean, task.params["sigma"], rng))
    if task.kind == "inpaint":
        kind = task.params["mask"]
        if kind == "random":
            mask = random_mask(h, w, task.params["fraction"], rng)  # as `inpaint --drop`
        elif kind == "hole":
            mask = hole_mask(h, w, task.params["fraction"], rng)
        else:
            mask = text_mask(h, w, rng)
        obs = np.where(mask[:, :, None], clean, 0).astype(np.float32)
        return Observation(clean, obs, mask=mask,
                           info={"known_fraction": round(float(mask.mean()), 4)})
    f = task.params["factor"]
    truth = clean[: h - h % f, : w - w % f]  # crop to a multiple of the factor
    low = np.clip(to_image(Downsampler(f)(to_tensor(truth))), 0, 1).astype(np.float32)
    return Observation(truth, low, factor=f, info={"cropped_to": list(truth.shape[:2])})


def fit(task: TaskSpec, obs: Observation, setting: dict, seed: int) -> dip_tasks.TaskResult:
    """Run DIP / the Deep Decoder on ``obs`` with a setting's options (no progress bar)."""
    opts = {k: v for k, v in setting.items() if k not in ("net", "net_options")}
    net = setting.get("net", "unet")
    common = dict(truth=obs.truth, net=net, seed=seed, progress=False,
                  net_options=net_options(net, setting.get("net_options", {})), **opts)
    if task.kind == "denoise":  # a study compares fits: one per run, no Wiener pass after it
        return dip_tasks.denoise(obs.observation, quality="paper", **common)
    if task.kind == "inpaint":
        return dip_tasks.inpaint(obs.observation, obs.mask, **common)
    return dip_tasks.super_resolve(obs.observation, obs.factor, **common)


def baseline(task: TaskSpec, obs: Observation) -> tuple[str, np.ndarray]:
    """``(name, image)`` of the task's classical baseline on the same observation."""
    if task.kind == "denoise":
        return "haar-ti-hard", baselines.haar_denoise(obs.observation, task.params["sigma"])
    if task.kind == "inpaint":
        return "harmonic", baselines.harmonic_fill(obs.observation, obs.mask)
    return "bicubic", bicubic_upsample(obs.observation, obs.factor)


def psnr_y_border(task: TaskSpec) -> int:
    """Pixels cropped at each border for the Y-channel PSNR (the SR convention: the factor)."""
    return int(task.params["factor"]) if task.kind == "sr" else 0


def identity_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
