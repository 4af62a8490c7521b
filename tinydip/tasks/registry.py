"""The task registry: one :class:`Task` declaration per job (denoise, inpaint, sr, ...).

A task says how its observation and :class:`~tinydip.operators.LinearOperator` are built --
from Python arguments (``problem``) and from the command line (``add_arguments`` +
``from_args``) -- which prior it fits (a U-Net preset), its fit defaults and what its
automatic stopping rule is. The ``tinydip`` CLI makes one subcommand per registered task,
and ``tinydip.tasks.<api_name>`` is its Python function. The declarations are in
:mod:`tinydip.tasks.catalogue`; see DEVELOPERS.md, "How to add a task".
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..images import load_image
from ..operators import LinearOperator
from ..stopping import GENERIC_STOPPING, rule_spec


@dataclass
class Problem:
    """One inverse problem: fit the prior so that ``operator(f)`` matches ``observation``.

    ``observation``: HxWxC float32 in [0, 1] (the observation's own size: for SR the low
    resolution); ``truth``: the clean OUTPUT-size image if known (PSNRs only); ``baselines``:
    classical reconstructions, name -> function returning an output-size HxWxC image, scored
    (``psnr_<name>``) when the truth is known; ``extra``: fields added to the report;
    ``notes``: lines the CLI prints on stderr before fitting. Variants of a task may differ
    from its declaration: ``stopping`` (a stopping spec, as ``Task.stopping``) and
    ``loss_fn`` (the energy, ``mse_loss``'s contract) override the task's when given.
    ``preview``: if set, an action that REPLACES the fit (e.g. ``inpaint --preview-mask``
    writing the mask and the masked image): the CLI calls it, prints the lines it returns
    and exits 0 without fitting. ``fit_options``: :class:`~tinydip.fit.FitConfig` fields of
    the variant (over the task's ``fit_defaults``; the caller's options win);
    ``net_options``: the variant's network options per prior kind (``{"unet": {...}}``;
    the caller's ``net_options`` win);
    ``restarts``: fit this many times (seeds ``seed``, ``seed + 1``, ...) and average the
    outputs (``denoise --quality best``; :mod:`tinydip.tasks.ensemble`);
    ``postfilter``: ``(observation, output) -> (image, report fields)``, a classical pass
    applied to the (averaged) output, which becomes the ``pilot`` image (e.g. the denoiser's
    Wiener pass, :mod:`tinydip.grouped_wiener`).
    """

    observation: np.ndarray
    operator: LinearOperator
    truth: np.ndarray | None = None
    baselines: dict[str, Callable[[], np.ndarray]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopping: dict | None = None
    loss_fn: Callable | None = None
    preview: Callable[[], list[str]] | None = None
    fit_options: dict = field(default_factory=dict)
    net_options: dict[str, dict] = field(default_factory=dict)
    restarts: int = 1
    postfilter: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, dict]] | None = None

    def output_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of the reconstruction: ``operator.input_shape`` of the observation."""
        h, w, c = self.observation.shape
        _, C, H, W = self.operator.input_shape((1, c, h, w))
        return H, W, C


@dataclass(frozen=True)
class Task:
    """A job of the library: everything the CLI, the Python API and the runner need.

    * ``name``: the CLI subcommand and the report's ``task``; ``api_name``: the function in
      :mod:`tinydip.tasks` (default: ``name``); ``help``: one line for ``tinydip --help``.
    * ``problem(*args, truth=None, **kw) -> Problem``: the Python side (documented
      arguments: its docstring becomes the API function's).
    * ``add_arguments(parser)``: the task's own CLI options (the common ones -- --truth, --net,
      --iters, --stop, --out ... -- are added by the CLI); ``from_args(args) -> Problem``:
      load/degrade from parsed arguments (``--truth`` is applied afterwards by the CLI).
    * ``prior``: the U-Net preset (``tinydip.models.PRESETS``) of ``--net unet``.
    * ``fit_defaults``: :class:`~tinydip.fit.FitConfig` fields (iters, lr, reg_noise_std,
      output, stop).
    * ``stopping``: what ``stop="auto"`` means, and each rule's tuned options and watched
      stream: ``{"auto": "wmv", "wmv": (opts, stream), "val": (opts, stream)}``.
    """

    name: str
    help: str
    problem: Callable[..., Problem]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    from_args: Callable[[argparse.Namespace], Problem]
    prior: str = "skip5-128"
    fit_defaults: dict = field(default_factory=dict)
    stopping: dict = field(default_factory=lambda: dict(GENERIC_STOPPING))
    api_name: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.api_name:
            object.__setattr__(self, "api_name", self.name)
        rule_spec(self.stopping, "auto")  # a spec that resolves, or ValueError now

    def stop_spec(self, rule: str = "auto") -> tuple[str, dict, str]:
        """``(rule name, options, stream)`` that ``rule`` means for this task."""
        return rule_spec(self.stopping, rule)


TASKS: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task to the registry (its name and API name must be new)."""
    if task.name in TASKS or any(t.api_name == task.api_name for t in TASKS.values()):
        raise ValueError(f"task {task.name!r} ({task.api_name}) is already registered")
    TASKS[task.name] = task
    return task


def get_task(task: str | Task) -> Task:
    """The registered task of this name (a :class:`Task` is returned as is)."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; registered: {', '.join(TASKS)}")
    return TASKS[task]


def auto_rule_spec(task: str | Task | None, rule: str = "auto",
                   spec: dict | None = None) -> tuple[str, dict, str]:
    """``(rule name, options, stream)`` that ``rule`` means for ``task``; ``None``: a bare
    :func:`~tinydip.fit.fit` (:data:`~tinydip.stopping.GENERIC_STOPPING`). An unknown task is
    an error, never a silent fallback. ``spec``: a problem's own stopping spec (overrides)."""
    if spec is not None:
        if task is not None:
            get_task(task)  # still an error if unknown
        return rule_spec(spec, rule)
    if task is None:
        return rule_spec(GENERIC_STOPPING, rule)
    return get_task(task).stop_spec(rule)


def load(path: str, what: str) -> np.ndarray:
    """Load an image given on the command line; a missing file is a one-line ValueError."""
    if not Path(path).exists():
        raise ValueError(f"{what} file not found: {path}")
    return load_image(path)
