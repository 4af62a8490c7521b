"""A study's runs through the task registry: any registered task, no study-side table.

A task spec is ``{kind = "denoise", sigma = 25}``, ``{kind = "inpaint", mask = "random",
fraction = 0.5}``, ``{kind = "sr", factor = 4}``, ``{kind = "deblur", kernel =
"gaussian:2", sigma = 5}``: ``kind`` is a registered task's name and the other keys are its
declared ``degradation`` options (:class:`tinydip.tasks.options.Option`). Given the clean
image and the run's seed, :func:`degrade` makes the task's :class:`~tinydip.tasks.Problem`
(``Task.simulate``), :func:`fit` runs it with a setting's options and :func:`baseline`
scores the task's classical baseline (``Task.study_baseline``) on the same observation.
A task registered in :mod:`tinydip.tasks` is available in studies with nothing added here.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field, fields

import numpy as np

from .. import tasks as dip_tasks
from ..fitting.stopping import RULE_NAMES
from ..models import NETS, Net, deep_decoder
from ..models.unet import UNetConfig
from ..tasks.options import check_values
from ..tasks.registry import Problem

STOPS = RULE_NAMES

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
    """One task of a study: kind (a registered task), its degradation parameters, a label."""

    kind: str
    params: dict = field(default_factory=dict)
    name: str = ""

    def identity(self) -> dict:
        """What the run key depends on (not the label)."""
        return {"kind": self.kind, **self.params}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def task_spec(table: dict, where: str) -> tuple[TaskSpec | None, list[str]]:
    """Validate one ``[[tasks]]`` table: ``(spec, [])`` or ``(None, problems)``."""
    kind = table.get("kind")
    if kind not in dip_tasks.TASKS:
        return None, [f"{where}: kind must be one of {', '.join(dip_tasks.TASKS)}, got {kind!r}"]
    task = dip_tasks.TASKS[kind]
    given = {k: v for k, v in table.items() if k not in ("kind", "name")}
    params, problems = check_values(task.degradation, given, f"{where} ({kind})")
    name = table.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        problems.append(f"{where}: name must be a non-empty string")
    if problems:
        return None, problems
    label = task.label(params) if task.label else "-".join([kind, *map(str, params.values())])
    return TaskSpec(kind, params, name or label), []


def check_setting(opts: dict, where: str) -> list[str]:
    """Problems with one setting's options (net, iters, lr, reg_noise_std, stop, ...)."""
    p: list[str] = []
    net = opts.get("net", "unet")
    if net not in NETS:
        p.append(f"{where}: net must be one of {', '.join(NETS)}, got {net!r}")
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
    if Net.of(net) is not Net.UNET or not set(UNET_SHORTHANDS) & set(opts):
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


def degrade(task: TaskSpec, clean: np.ndarray, seed: int) -> Problem:
    """The task's problem for ``clean`` (its truth); the degradation draws from ``seed`` only,
    so every setting of a study sees the same noisy/masked/low-resolution image."""
    return dip_tasks.TASKS[task.kind].simulate(clean, dict(task.params),
                                               np.random.default_rng(seed))


def fit(task: TaskSpec, problem: Problem, setting: dict, seed: int) -> dip_tasks.TaskResult:
    """Run DIP / the Deep Decoder on ``problem`` with a setting's options (no progress bar;
    restarts one after the other: a study's run has its one core)."""
    opts = {"workers": 1, **{k: v for k, v in setting.items() if k not in ("net", "net_options")}}
    net = setting.get("net", "unet")
    return dip_tasks.run(task.kind, problem, net=net, seed=seed, progress=False,
                         net_options=net_options(net, setting.get("net_options", {})), **opts)


def baseline(task: TaskSpec, problem: Problem) -> tuple[str, np.ndarray] | None:
    """``(name, image)`` of the task's classical baseline on the same observation (None: the
    task names none)."""
    name = dip_tasks.TASKS[task.kind].study_baseline
    if name is None:
        return None
    return name, np.clip(problem.baselines[name](), 0, 1).astype(np.float32)


def identity_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
