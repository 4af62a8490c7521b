"""The Deep Image Prior fitting loop: Adam on one image, with the tricks that matter.

    theta* = argmin_theta E(A(f(z + sigma_t * eta_t; theta)), x0),  eta_t ~ N(0, I) each step

E is the MSE over the measured entries, A a :class:`~tinydip.operators.LinearOperator`
(identity, mask, downsampler, ...). :func:`fit` checks its arguments, draws z and the
held-out pixels, puts the tricks together as hooks (:mod:`.hooks`: input jitter, the
smoothed/best/last outputs, the stopping rule, rollback, the history) and runs the one loop
(:func:`.loop.fit_loop`), whose step is :func:`fit_step` (:mod:`.step`, re-exported here).
It returns the last output, the output with the lowest training loss, an exponential moving
average of outputs, and the output it recommends, with a typed :class:`Selection` saying
which one that is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from ..functional import mse_loss
from ..models.prior import Prior
from ..nn import Module
from ..operators import Identity, LinearOperator, Mask
from ..optim import Adam
from ..runtime.choice import Choice
from ..runtime.jit_notice import compile_notice
from .hooks import FiniteLoss, History, Jitter, KeepBest, Track, Watch
from .loop import LoopResult, fit_loop, show_progress
from .rollback import Rollback
from .step import Step, fit_step
from .stopping import NoStop, Rule, StoppingRule, Stream, make_holdout, make_rule

__all__ = ["OUTPUTS", "Output", "FitConfig", "FitResult", "Selection", "Step", "fit", "fit_step"]

class Output(Choice):
    """Which image :attr:`FitResult.output` is when no stopping rule selects one."""

    SMOOTHED = "smoothed"  # the exponential moving average of the outputs
    BEST = "best"  # the output of the lowest training loss
    LAST = "last"  # the last output


OUTPUTS: tuple[str, ...] = Output.values()


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit` (defaults: the paper's denoising settings)."""

    iters: int = 3000
    lr: float = 0.01
    reg_noise_std: float = 1.0 / 30  # sigma of the input jitter (0: off)
    reg_noise_decay: float = 1.0  # multiply the jitter sigma by this ...
    reg_noise_every: int = 0  # ... every this many steps (0: never)
    ema: float = 0.99  # weight of the exponential moving average of outputs
    input_scale: float = 0.1  # z ~ U(0, input_scale)
    seed: int = 0
    output: Output = Output.SMOOTHED  # `FitResult.output` without a stopping rule
    stop: Rule = Rule.NONE  # "auto" means stopping.GENERIC_STOPPING's rule for a bare fit
    stop_on: Stream = Stream.SMOOTHED  # the stream the rule watches (and "val" validates)
    stop_options: dict = field(default_factory=dict)  # passed to the rule's constructor
    holdout: float = 0.05  # fraction of known pixels held out by the "val" rule
    progress: bool | None = None  # None: a progress bar when the run is long
    keep_best_state: bool = False  # also return the weights that produced `best` (best_state)
    # rollback (the official DIP denoising code): when the loss jumps above rollback_factor
    # times the last accepted loss (10**0.5: the PSNR to the observation drops by > 5 dB) or
    # is not finite, the step is undone -- weights AND Adam state restored -- and the loop
    # goes on (the jumped iterate never reaches the outputs nor the stopping rule). Costs a
    # copy of weights and Adam state per step.
    rollback: bool = False
    rollback_factor: float = 10 ** 0.5
    rollback_limit: int = 20  # this many rollbacks in a row: stop as diverged

    def __post_init__(self) -> None:  # text from callers and files -> the members, checked
        for name, kind, what in (("output", Output, "fit: output"),
                                 ("stop", Rule, "fit: the stopping rule"),
                                 ("stop_on", Stream, "fit: stop_on")):
            object.__setattr__(self, name, kind.of(str(getattr(self, name)).strip().lower(),
                                                    what))


@dataclass(frozen=True)
class Selection:
    """Which image :attr:`FitResult.output` is.

    ``stream``: "smoothed", "best" or "last" for a fixed choice (``FitConfig.output``), or
    the stream a stopping rule watched ("smoothed" or "raw"); ``iteration``: the iteration
    that produced it; ``rule``: the stopping rule's name if a rule selected it, else None.
    """

    stream: str
    iteration: int
    rule: str | None = None

    @property
    def by_rule(self) -> bool:
        return self.rule is not None

    @property
    def smoothed(self) -> bool:
        """Whether the output is an EMA of outputs (else one raw network output)."""
        return self.stream == Stream.SMOOTHED

    def describe(self) -> str:
        """Display text, e.g. ``"smoothed selected by the wmv rule"`` (reports, messages)."""
        return f"{self.stream} selected by the {self.rule} rule" if self.rule else self.stream


@dataclass
class FitResult:
    """Outputs (NCHW, cropped to the requested size) and the history of a fit."""

    last: np.ndarray
    best: np.ndarray
    smoothed: np.ndarray
    output: np.ndarray  # the image the run recommends (see `selection`)
    selection: Selection
    best_iter: int
    best_loss: float
    iters_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    stopped_iter: int | None = None
    stop_reason: str = "iteration budget reached"
    interrupted: bool = False
    interrupted_by: str | None = None  # "SIGINT" (Ctrl-C) or "SIGTERM" when interrupted
    diverged: bool = False  # the loss became NaN/inf: stopped there, the finite result kept
    z: np.ndarray | None = None
    net: Module | None = None
    best_state: dict[str, np.ndarray] | None = None  # state_dict at best_iter (keep_best_state)
    rollbacks: list[int] = field(default_factory=list)  # iterations undone (FitConfig.rollback)

    @property
    def seconds_per_iter(self) -> float:
        return self.seconds / max(self.iters_run, 1)

    @property
    def budget_limited(self) -> bool:
        """Whether the step budget, not the stopping rule, ended a fit a rule was watching.

        The rule had not stopped, so it still saw the fit improving within its patience:
        more steps (``iters`` / ``--iters``) may give a better output (at 256x256, sigma 15,
        a 6000-step budget bought 0.35 dB: benchmarks/README.md, *The step budget*). False
        without a rule, and when the run was interrupted or diverged."""
        return (self.selection.by_rule and self.stopped_iter is None
                and not self.interrupted and not self.diverged)

    @property
    def output_kind(self) -> str:
        """Display text of :attr:`selection` (the report's ``output`` field)."""
        return self.selection.describe()

    @property
    def output_iter(self) -> int:
        return self.selection.iteration


def fit(net: Prior, observation: np.ndarray, *, mask: np.ndarray | None = None,
        operator: LinearOperator | None = None, truth: np.ndarray | None = None,
        config: FitConfig | None = None,
        z: np.ndarray | None = None, callback: Callable[[int, dict], None] | None = None,
        callback_every: int = 100, loss_fn: Callable = mse_loss,
        rule: StoppingRule | None = None, **overrides) -> FitResult:
    """Fit ``net`` to one degraded observation and return its outputs.

    Parameters
    ----------
    net : a :class:`~tinydip.models.Prior` (``skip_unet`` / ``deep_decoder``), float32.
    observation : (1, C, h, w) float32, the degraded image x0.
    operator : a :class:`~tinydip.operators.LinearOperator` A (None: the identity); the
        output's size is ``operator.input_shape(observation.shape)`` and the loss counts the
        entries of ``operator.measured``.
    mask : shorthand for ``operator=Mask(mask)`` (1 = known pixel; inpainting).
    truth : optional (1, C, H, W) ground truth of the OUTPUT, for PSNR curves only.
    config / overrides : :class:`FitConfig` fields.
    z : optional fixed network input; by default ``net.make_input`` (U(0, input_scale)).
    callback : called as ``callback(it, info)`` every ``callback_every`` iterations.
    loss_fn : the energy E, :func:`~tinydip.functional.mse_loss`'s contract (default MSE).
    rule : a stopping rule object (any :class:`~.stopping.StoppingRule`), used instead of the
        named ``stop`` -- the way to try a new rule before it gets a name.

    Output sizes that are not a multiple of ``net.downsampling`` are handled by generating a
    larger image and cropping it (the loss never sees the extra border). The returned
    ``selection`` says which image ``output`` is (stream, iteration, rule). BatchNorm uses batch
    statistics throughout, so every returned image is exactly an output seen during fitting.
    Ctrl-C stops the loop cleanly: the result so far is returned with ``interrupted=True``.
    """
    cfg = _checked(replace(config or FitConfig(), **overrides))
    obs, op = _problem(observation, mask, operator, truth)
    H, W = op.input_shape(obs.shape)[2:]
    rng = np.random.default_rng(cfg.seed)
    if z is None:
        if not isinstance(net, Prior):
            raise ValueError("fit: net is not a Prior (skip_unet / deep_decoder): pass z")
        z = net.make_input((H, W), cfg.input_scale, rng)
    z = z.astype(np.float32, copy=False)
    if rule is None:
        rule = make_rule(cfg.stop, **cfg.stop_options) if cfg.stop is not Rule.NONE else \
            NoStop()
    train_mask, val_mask = op.measured, None
    if rule.needs_val:
        train_mask, val_mask = make_holdout(op.measured, obs.shape, cfg.holdout, rng,
                                            channel_axis=1)

    net.train()
    opt = Adam(net.parameters(), lr=cfg.lr)
    track, guard = Track(cfg.ema), FiniteLoss(opt)
    watch = Watch(rule, track, cfg.stop_on, op, obs, val_mask)
    history = History(track, watch, truth, callback, callback_every, cfg.iters)
    keep = KeepBest(net.state_dict) if cfg.keep_best_state else None
    rollback = Rollback(net, opt, cfg.rollback_factor, cfg.rollback_limit) if cfg.rollback \
        else None
    jitter = Jitter(cfg.reg_noise_std, cfg.reg_noise_decay, cfg.reg_noise_every, rng)
    hooks = [h for h in (jitter, keep, rollback, guard, track, watch, history) if h is not None]
    quiet = cfg.progress is False  # else one line above the bar if this run compiles kernels
    with compile_notice(None if quiet else lambda s: tqdm.write(s, file=sys.stderr)):
        run = fit_loop(net, opt, z, obs, iters=cfg.iters, hooks=hooks, operator=op,
                       weights=train_mask, loss_fn=loss_fn,
                       progress=show_progress(cfg.progress, cfg.iters, H * W))
    if track.last is None:  # nothing to keep
        if run.interrupt is not None:  # let the caller see the very same signal
            raise run.interrupt
        raise ValueError(f"fit: the loss is not finite at the first iteration (is the learning "
                         f"rate {cfg.lr:g} too high?); nothing to keep")
    return _result(cfg, run, track, rule, guard, rollback, keep, history.records, z, net)


def _checked(cfg: FitConfig) -> FitConfig:
    if cfg.iters < 1:
        raise ValueError(f"fit: iters must be >= 1, got {cfg.iters}")
    if cfg.rollback and not cfg.rollback_factor > 1:
        raise ValueError(f"fit: rollback_factor must be > 1, got {cfg.rollback_factor}")
    return cfg


def _problem(observation: np.ndarray, mask: np.ndarray | None,
             operator: LinearOperator | None, truth: np.ndarray | None
             ) -> tuple[np.ndarray, LinearOperator]:
    """The float32 observation and the operator, checked against each other and ``truth``."""
    obs = np.asarray(observation)
    if obs.ndim != 4 or obs.shape[0] != 1:
        raise ValueError(f"fit: observation must have shape (1, C, H, W), got {obs.shape}")
    obs = obs.astype(np.float32, copy=False)
    if mask is not None:
        if operator is not None:
            raise ValueError("fit: give either mask or operator (a mask is the operator Mask)")
        operator = Mask(mask)
    op = operator if operator is not None else Identity()
    H, W = op.input_shape(obs.shape)[2:]
    if truth is not None and truth.shape[2:] != (H, W):
        raise ValueError(f"fit: truth is {truth.shape[2]}x{truth.shape[3]}, the output is {H}x{W}")
    return obs, op


def _result(cfg: FitConfig, run: LoopResult, track: Track, rule: StoppingRule,
            guard: FiniteLoss, rollback: Rollback | None, keep: KeepBest | None,
            history: list[dict], z: np.ndarray, net: Module) -> FitResult:
    """The :class:`FitResult` of a run: what the hooks kept, and which output to recommend."""
    iters_run = run.iterations if guard.at is None else guard.at  # the NaN step never counts
    last = track.last.copy()
    if rule.best_output is not None:
        output = rule.best_output
        selection = Selection(cfg.stop_on, int(rule.best_iter), rule.name)
    else:
        output = {Output.LAST: last, Output.BEST: track.best,
                  Output.SMOOTHED: track.smoothed}[cfg.output]
        selection = Selection(cfg.output,
                              track.best_iter if cfg.output is Output.BEST else iters_run - 1)
    return FitResult(last=last, best=track.best, smoothed=track.smoothed, output=output,
                     selection=selection, best_iter=track.best_iter,
                     best_loss=float(track.best_loss), iters_run=iters_run,
                     seconds=run.seconds, history=history, stopped_iter=run.stopped_at,
                     stop_reason=run.stop_reason, interrupted=run.interrupt is not None,
                     interrupted_by=run.interrupted_by,
                     diverged=guard.at is not None or (rollback is not None and rollback.gave_up),
                     z=z, net=net, best_state=None if keep is None else keep.state,
                     rollbacks=[] if rollback is None else rollback.undone)
