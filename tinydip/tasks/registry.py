"""The task registry: one :class:`Task` declaration per job (denoise, inpaint, sr, ...).

A task says how its observation and :class:`~tinydip.operators.LinearOperator` are built --
from Python arguments (``problem``), from its declared options (``options`` +
``from_options``: the command line's flags) and from a clean image (``degradation`` +
``simulate``: what a study runs) -- which prior it fits (a U-Net preset), its fit defaults
and what its automatic stopping rule is. The ``tinydip`` CLI makes one subcommand per
registered task, ``tinydip.tasks.<api_name>`` is its Python function, and a study runs any
registered task by name. The declarations are in :mod:`tinydip.tasks.catalogue` (a module
per task); see DEVELOPERS.md, "How to add a task". Nothing here knows argparse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..fitting.stopping import GENERIC_STOPPING, rule_spec
from ..operators import LinearOperator
from .options import Option


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
    ``preview``: if set, images that REPLACE the fit: ``{label: (path asked for, image)}``
    (e.g. ``inpaint --preview-mask``: the mask and the masked image); the caller writes them
    and does not fit. ``psnr_border``: pixels a study crops at each border for its Y-channel
    PSNR (super-resolution's convention: the factor). ``fit_options``:
    :class:`~tinydip.fitting.fit.FitConfig` fields of the variant (over the task's
    ``fit_defaults``; the caller's options win);
    ``net_options``: the variant's network options per prior kind (``{"unet": {...}}``;
    the caller's ``net_options`` win);
    ``restarts``: fit this many times (seeds ``seed``, ``seed + 1``, ...) and average the
    outputs (``denoise --quality best``; :mod:`tinydip.tasks.ensemble`);
    ``postfilter``: ``(observation, output) -> (image, report fields)``, a classical pass
    applied to the (averaged) output, which becomes the ``pilot`` image (e.g. the denoiser's
    Wiener pass, :mod:`tinydip.denoising.grouped_wiener`).
    """

    observation: np.ndarray
    operator: LinearOperator
    truth: np.ndarray | None = None
    baselines: dict[str, Callable[[], np.ndarray]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopping: dict | None = None
    loss_fn: Callable | None = None
    preview: dict[str, tuple[str, np.ndarray]] | None = None
    psnr_border: int = 0
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
    """A job of the library: everything the CLI, the Python API, studies and the runner need.

    * ``name``: the CLI subcommand, the report's ``task`` and a study's ``kind``;
      ``api_name``: the function in :mod:`tinydip.tasks` (default: ``name``); ``help``: one
      line for ``tinydip --help``.
    * ``problem(*args, truth=None, **kw) -> Problem``: the Python side (documented
      arguments: its docstring becomes the API function's).
    * ``options``: the task's own :class:`~.options.Option` s (the options every task shares
      -- truth, net, iters, stop, out ... -- are the CLI's); ``from_options(values) ->
      Problem``: load/degrade from their values (a dict by option name, plus ``seed``);
      ``required_groups``: option groups of which one option must be given.
    * ``degradation``: the parameters of a study's runs (``{kind = "denoise", sigma = 25}``);
      ``simulate(clean, params, rng) -> Problem``: ``clean`` degraded so, the truth known;
      ``study_baseline``: the name of the problem's baseline a study reports; ``label``:
      a run's default name from its parameters.
    * ``prior``: the U-Net preset (``tinydip.models.PRESETS``) of ``net="unet"``.
    * ``fit_defaults``: :class:`~tinydip.fitting.fit.FitConfig` fields (iters, lr,
      reg_noise_std, output, stop).
    * ``stopping``: what ``stop="auto"`` means, and each rule's tuned options and watched
      stream: ``{"auto": "wmv", "wmv": (opts, stream), "val": (opts, stream)}``.
    """

    name: str
    help: str
    problem: Callable[..., Problem]
    options: tuple[Option, ...]
    from_options: Callable[[dict], Problem]
    degradation: tuple[Option, ...]
    simulate: Callable[[np.ndarray, dict, np.random.Generator], Problem]
    study_baseline: str | None = None
    label: Callable[[dict], str] | None = None
    required_groups: tuple[str, ...] = ()
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
    :func:`~tinydip.fitting.fit.fit` (:data:`~tinydip.fitting.stopping.GENERIC_STOPPING`). An
    unknown task is
    an error, never a silent fallback. ``spec``: a problem's own stopping spec (overrides)."""
    if spec is not None:
        if task is not None:
            get_task(task)  # still an error if unknown
        return rule_spec(spec, rule)
    if task is None:
        return rule_spec(GENERIC_STOPPING, rule)
    return get_task(task).stop_spec(rule)
