"""The Deep Image Prior fitting loop: Adam on one image, with the tricks that matter.

    theta* = argmin_theta E(A(f(z + sigma_t * eta_t; theta)), x0),  eta_t ~ N(0, I) each step

E is the MSE over the measured entries, A a :class:`~tinydip.operators.LinearOperator`
(identity, mask, downsampler, ...). :func:`fit_step` is one Adam step on that energy, shared
by :func:`fit`, the codec's fine-tuning and the benchmarks. :func:`fit` returns the last
output, the output with the lowest training loss, an exponential moving average of outputs,
and the output it recommends, with a typed :class:`Selection` saying which one that is.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from .functional import mse_loss
from .interrupt import Terminated, describe
from .jit_notice import compile_notice
from .metrics import psnr
from .models.prior import Prior
from .nn import Module
from .operators import Identity, LinearOperator, Mask
from .optim import Adam
from .stopping import NoStop, make_holdout, make_rule, masked_mse

OUTPUTS = ("smoothed", "best", "last")


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
    output: str = "smoothed"  # which image `FitResult.output` is without a stopping rule
    stop: str = "none"  # "none", "auto" (stopping.GENERIC_STOPPING), "wmv" or "val"
    stop_on: str = "smoothed"  # output stream the rule watches (and "val" validates)
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
        return self.stream == "smoothed"

    def describe(self) -> str:
        """Display text, e.g. ``"smoothed selected by the wmv rule"`` (reports, messages)."""
        return f"{self.stream} selected by the {self.rule} rule" if self.rule else self.stream


class Step(NamedTuple):
    """What :func:`fit_step` returns."""

    loss: float  # E before the update
    output: np.ndarray  # f(z_in) cropped to the image size (1, C, H, W): a view
    prediction: np.ndarray  # A output, what E compared with the observation


def fit_step(net: Module, opt, z_in: np.ndarray, observation: np.ndarray,
             operator: LinearOperator | None = None, *, weights: np.ndarray | None = None,
             before_update: Callable[[float], None] | None = None,
             loss_fn: Callable = mse_loss) -> Step:
    """One step on ``E = loss_fn(A f(z_in)[:H, :W], observation, weights)`` (default MSE).

    Forward, loss, ``dE/d out = A^T dE/d(A out)`` (zero on any border the network generates
    beyond the image's H x W), ``net.zero_grad()``, ``net.backward_once`` (backward, freeing
    the layers' caches as it goes), then
    ``before_update(loss)`` (if given: the gradients are in ``Parameter.grad`` and the
    parameters are still those that produced the output) and ``opt.step()``.
    ``opt=None``: forward and loss only (no backward, no update).

    ``operator`` None is the identity; (H, W) is ``operator.input_shape(observation.shape)``.
    ``weights`` (broadcastable to the observation, 1 = counts) defaults to
    ``operator.measured``. ``loss_fn(pred, target, weights) -> (E, dE/dpred)`` has
    :func:`~tinydip.functional.mse_loss`'s contract (e.g. a Poisson likelihood).
    """
    op = operator if operator is not None else _IDENTITY
    if weights is None:
        weights = op.measured
    H, W = op.input_shape(observation.shape)[2:]
    full = net(z_in)  # (1, C, Hp, Wp)
    out = full[:, :, :H, :W]  # (1, C, H, W) view
    pred = op.forward(out)
    value, dpred = loss_fn(pred, observation, weights)
    if opt is None:
        return Step(value, out, pred)
    dout = op.adjoint(dpred)
    if full.shape != out.shape:
        dfull = np.zeros_like(full)
        dfull[:, :, :H, :W] = dout
        dout = dfull
    net.zero_grad()
    net.backward_once(dout.astype(full.dtype, copy=False))  # frees caches as it goes
    if before_update is not None:
        before_update(value)
    opt.step()
    return Step(value, out, pred)


_IDENTITY = Identity()


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
        callback_every: int = 100, loss_fn: Callable = mse_loss, **overrides) -> FitResult:
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

    Output sizes that are not a multiple of ``net.downsampling`` are handled by generating a
    larger image and cropping it (the loss never sees the extra border). The returned
    ``selection`` says which image ``output`` is (stream, iteration, rule). BatchNorm uses batch
    statistics throughout, so every returned image is exactly an output seen during fitting.
    Ctrl-C stops the loop cleanly: the result so far is returned with ``interrupted=True``.
    """
    cfg = replace(config or FitConfig(), **overrides)
    for name, value, allowed in (("output", cfg.output, OUTPUTS),
                                 ("stop_on", cfg.stop_on, ("smoothed", "raw"))):
        if value not in allowed:
            raise ValueError(f"fit: {name} must be one of {allowed}, got {value!r}")
    if cfg.iters < 1:
        raise ValueError(f"fit: iters must be >= 1, got {cfg.iters}")
    if cfg.rollback and not cfg.rollback_factor > 1:
        raise ValueError(f"fit: rollback_factor must be > 1, got {cfg.rollback_factor}")
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

    rng = np.random.default_rng(cfg.seed)
    if z is None:
        if not isinstance(net, Prior):
            raise ValueError("fit: net is not a Prior (skip_unet / deep_decoder): pass z")
        z = net.make_input((H, W), cfg.input_scale, rng)
    z = z.astype(np.float32, copy=False)

    rule = make_rule(cfg.stop, **cfg.stop_options) if cfg.stop != "none" else NoStop()
    train_mask, val_mask = op.measured, None
    if rule.needs_val:
        train_mask, val_mask = make_holdout(op.measured, obs.shape, cfg.holdout, rng,
                                            channel_axis=1)

    net.train()
    opt = Adam(net.parameters(), lr=cfg.lr)
    sigma = cfg.reg_noise_std
    show = cfg.progress if cfg.progress is not None else cfg.iters * H * W >= 2e6
    bar = tqdm(total=cfg.iters, disable=not show, unit="it", dynamic_ncols=True, leave=False)
    notice = ExitStack()  # one line (above the bar) if this run compiles kernels; not if quiet
    notice.enter_context(compile_notice(
        None if cfg.progress is False else (lambda s: tqdm.write(s, file=sys.stderr))))
    history: list[dict] = []
    last = best = smoothed = None
    best_loss, best_iter, it_done = np.inf, 0, 0
    best_state = None
    stopped_iter, stop_reason, interrupted = None, "iteration budget reached", False
    interrupted_by, diverged = None, False

    saver = _Snapshot(net, opt) if cfg.rollback else None
    ref_loss, jumped, in_a_row, rollbacks = math.inf, False, 0, []

    def keep_state(loss: float) -> None:  # before the update: the weights behind this output
        nonlocal best_state, ref_loss, jumped
        if cfg.keep_best_state and loss < best_loss:
            best_state = net.state_dict()
        if saver is not None:
            jumped = saver.saved and not loss <= cfg.rollback_factor * ref_loss
            if not jumped:  # accepted: remember these weights (before this update)
                saver.save()
                ref_loss = loss

    start = time.perf_counter()
    try:
        for it in range(cfg.iters):
            if cfg.reg_noise_every and it and it % cfg.reg_noise_every == 0:
                sigma *= cfg.reg_noise_decay
            zin = z
            if sigma > 0:
                zin = z + np.float32(sigma) * rng.standard_normal(z.shape, dtype=np.float32)

            loss, out, pred = fit_step(net, opt, zin, obs, op, weights=train_mask,
                                       before_update=keep_state, loss_fn=loss_fn)
            if out.dtype != np.float32:
                raise AssertionError(f"fit: network produced {out.dtype}, expected float32")
            if jumped:  # undo: back to the last accepted weights and Adam state
                saver.restore()
                rollbacks.append(it)
                in_a_row += 1
                it_done = it + 1
                bar.update(1)
                if in_a_row >= cfg.rollback_limit:
                    diverged, stopped_iter = True, it
                    stop_reason = (f"rolled back {in_a_row} times in a row at iteration {it} "
                                   f"(is the learning rate {cfg.lr:g} too high?)")
                    break
                continue
            in_a_row = 0
            if not math.isfinite(loss):  # diverged (e.g. too high a learning rate): keep
                diverged, stopped_iter = True, it  # what came before, stop at once
                stop_reason = (f"the loss became {loss} at iteration {it} (diverged: is the "
                               f"learning rate {cfg.lr:g} too high?); the result before it is kept")
                break

            # bookkeeping: `out` was produced by the parameters before this step's update
            last = out
            smoothed = out.copy() if smoothed is None else \
                smoothed * np.float32(cfg.ema) + out * np.float32(1 - cfg.ema)
            if loss < best_loss:
                best_loss, best_iter, best = loss, it, out.copy()
            rec = {"iter": it, "loss": loss}
            val_loss = None
            if val_mask is not None:  # held-out misfit of the stream the rule watches
                vpred = pred
                if cfg.stop_on == "smoothed":
                    vpred = op.forward(smoothed)
                val_loss = masked_mse(vpred, obs, val_mask)
                rec["val_loss"] = val_loss
            if truth is not None:
                rec["psnr"] = psnr(out, truth)
                rec["psnr_smoothed"] = psnr(smoothed, truth)
            stop = rule.update(it, smoothed if cfg.stop_on == "smoothed" else out, loss,
                               val_loss=val_loss)
            if np.isfinite(rule.statistic):
                rec["stat"] = float(rule.statistic)
            history.append(rec)
            it_done = it + 1
            bar.update(1)
            if it % 10 == 0:
                post = {"loss": f"{loss:.2e}"}
                if truth is not None:
                    post["psnr"] = f"{rec['psnr']:.2f}"
                bar.set_postfix(post, refresh=False)
            if callback is not None and (it % callback_every == 0 or it == cfg.iters - 1):
                callback(it, {**rec, "output": out, "smoothed": smoothed})
            if stop:
                stopped_iter, stop_reason = it, rule.reason
                break
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM under interrupt.sigterm_as_interrupt
        interrupted, stop_reason = True, f"interrupted ({describe(exc)})"
        interrupted_by = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        if last is None:  # nothing to keep: let the caller see the very same signal
            raise
    finally:
        notice.close()
        bar.close()
    seconds = time.perf_counter() - start
    if last is None and diverged:
        raise ValueError(f"fit: the loss is not finite at the first iteration (is the learning "
                         f"rate {cfg.lr:g} too high?); nothing to keep")

    outputs = {"last": last.copy(), "best": best, "smoothed": smoothed}
    if rule.best_output is not None:
        output = rule.best_output
        selection = Selection(cfg.stop_on, int(rule.best_iter), rule.name)
    else:
        output = outputs[cfg.output]
        selection = Selection(cfg.output, best_iter if cfg.output == "best" else it_done - 1)
    return FitResult(last=outputs["last"], best=best, smoothed=smoothed, output=output,
                     selection=selection, best_iter=best_iter,
                     best_loss=float(best_loss), iters_run=it_done, seconds=seconds,
                     history=history, stopped_iter=stopped_iter, stop_reason=stop_reason,
                     interrupted=interrupted, interrupted_by=interrupted_by,
                     diverged=diverged, z=z, net=net, best_state=best_state,
                     rollbacks=rollbacks)


class _Snapshot:
    """The network's parameters and buffers and Adam's state, copied into buffers allocated
    once (``save``) and copied back (``restore``): :attr:`FitConfig.rollback`."""

    def __init__(self, net: Module, opt: Adam) -> None:
        self.opt = opt
        live = [p.data for _, p in net.named_parameters()]
        live += [b for _, b in net.named_buffers()] + list(opt.m) + list(opt.v)
        self.live = live
        self.copy = [np.empty_like(a) for a in live]
        self.t = 0
        self.saved = False

    def save(self) -> None:
        for dst, src in zip(self.copy, self.live, strict=True):
            np.copyto(dst, src)
        self.t, self.saved = self.opt.t, True

    def restore(self) -> None:
        for dst, src in zip(self.live, self.copy, strict=True):
            np.copyto(dst, src)
        self.opt.t = self.t
