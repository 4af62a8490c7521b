"""Hooks of the fitting loop (:func:`tinydip.fitting.loop.fit_loop`): small objects that watch
or steer it, each one trick of a DIP fit.

Every step the loop calls, on every hook in order:

* ``before_step(it, z) -> z``: the network input of this step (:class:`Jitter` adds noise;
  most hooks return it unchanged);
* ``before_update(loss)``: the gradients are in place and the weights are still those that
  produced ``loss`` (:class:`KeepBest` copies them here, rollback remembers them);
* ``after_step(it, step) -> Verdict``: the step's loss, output and prediction; the verdict
  may end the loop (``stop``: the reason) and/or hide the step from the hooks after this
  one (``skip``: it was undone, or its loss is not finite);

and ``close()`` once when the loop ends, however it ends.

Hooks subclass :class:`Hook`, whose methods do nothing: override only what you need.
The rollback hook is in :mod:`tinydip.fitting.rollback`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..kernels.random import gaussian_jitter
from ..metrics import psnr_from_mse
from ..operators import LinearOperator
from ..optim import Optimizer
from .step import Step
from .stopping import StoppingRule, Stream, masked_mse


@dataclass(frozen=True)
class Verdict:
    """A hook's answer after a step: ``stop`` (a reason) ends the loop after this step;
    ``skip`` hides the step from the hooks after this one."""

    stop: str | None = None
    skip: bool = False


GO = Verdict()


class Hook(Protocol):
    """What the loop calls on each hook (subclass it: the defaults do nothing)."""

    def before_step(self, it: int, z: np.ndarray) -> np.ndarray:
        return z

    def before_update(self, loss: float) -> None:
        return None

    def after_step(self, it: int, step: Step) -> Verdict:
        return GO

    def close(self) -> None:
        """Once, when the loop ends (however): put back what the hook changed."""
        return None


class Jitter(Hook):
    """Input noise: ``z + sigma * eta``, eta ~ N(0, I) new every step; sigma is multiplied by
    ``decay`` every ``every`` steps (0: never). ``sigma = 0``: z unchanged.

    eta is a function of (``seed``, step) alone -- :func:`tinydip.kernels.random.gaussian_jitter`,
    one parallel kernel, the same on any thread count; ``seed`` is drawn from ``rng`` once."""

    def __init__(self, sigma: float, decay: float, every: int,
                 rng: np.random.Generator) -> None:
        self.sigma, self.decay, self.every = sigma, decay, every
        self.seed = int(rng.integers(2**63))

    def before_step(self, it: int, z: np.ndarray) -> np.ndarray:
        if self.every and it and it % self.every == 0:
            self.sigma *= self.decay
        if self.sigma > 0:
            return gaussian_jitter(z, self.sigma, self.seed, it)
        return z


class FiniteLoss(Hook):
    """A NaN/inf loss (too high a learning rate) ends the loop at once; the hooks after this
    one never see that step. ``at``: its iteration, else None."""

    def __init__(self, opt: Optimizer) -> None:
        self.opt, self.at = opt, None

    def after_step(self, it: int, step: Step) -> Verdict:
        if math.isfinite(step.loss):
            return GO
        self.at = it
        return Verdict(stop=f"the loss became {step.loss} at iteration {it} (diverged: is the "
                            f"learning rate {self.opt.lr:g} too high?); the result before it "
                            f"is kept", skip=True)


class KeepBest(Hook):
    """``state``: ``snapshot()`` taken before the update of the step with the lowest loss (the
    weights that produced that loss); ``loss`` and ``iter`` say which. ``keep_start``: start
    from a snapshot of the initial state (kept if no step has a finite loss)."""

    def __init__(self, snapshot: Callable[[], Any], *, keep_start: bool = False) -> None:
        self.snapshot, self.it = snapshot, 0
        self.loss, self.iter = math.inf, 0
        self.state = snapshot() if keep_start else None

    def before_step(self, it: int, z: np.ndarray) -> np.ndarray:
        self.it = it
        return z

    def before_update(self, loss: float) -> None:
        self.offer(loss, self.it)

    def offer(self, loss: float, it: int) -> None:
        """Keep a snapshot now if ``loss`` is the lowest so far (also outside the loop)."""
        if loss < self.loss:
            self.loss, self.iter, self.state = loss, it, self.snapshot()


class Record(Hook):
    """``history.append(entry(it, step))`` after every step it sees."""

    def __init__(self, history: list[dict], entry: Callable[[int, Step], dict]) -> None:
        self.history, self.entry = history, entry

    def after_step(self, it: int, step: Step) -> Verdict:
        self.history.append(self.entry(it, step))
        return GO


class Track(Hook):
    """The outputs a fit returns: ``last``, ``smoothed`` (exponential moving average with
    weight ``ema`` on the past) and ``best`` (lowest training loss, at ``best_iter``)."""

    def __init__(self, ema: float) -> None:
        self.ema = ema
        self.last: np.ndarray | None = None
        self.smoothed: np.ndarray | None = None
        self.best: np.ndarray | None = None
        self.best_loss, self.best_iter = math.inf, 0

    def after_step(self, it: int, step: Step) -> Verdict:
        out = step.output  # produced by the weights before this step's update
        if out.dtype != np.float32:
            raise AssertionError(f"fit: network produced {out.dtype}, expected float32")
        self.last = out
        self.smoothed = out.copy() if self.smoothed is None else \
            self.smoothed * np.float32(self.ema) + out * np.float32(1 - self.ema)
        if step.loss < self.best_loss:
            self.best_loss, self.best_iter, self.best = step.loss, it, out.copy()
        return GO


class Watch(Hook):
    """A stopping rule on the watched stream (``"smoothed"``: ``track.smoothed``, ``"raw"``: the
    step's output), with the held-out misfit ``val_loss`` of that stream when ``val_mask``
    is given (:func:`~tinydip.fitting.stopping.make_holdout`)."""

    def __init__(self, rule: StoppingRule, track: Track, stop_on: str, operator: LinearOperator,
                 observation: np.ndarray, val_mask: np.ndarray | None) -> None:
        self.rule, self.track, self.stop_on = rule, track, stop_on
        self.op, self.obs, self.val_mask = operator, observation, val_mask
        self.val_loss: float | None = None

    def after_step(self, it: int, step: Step) -> Verdict:
        smoothed = self.stop_on == Stream.SMOOTHED
        if self.val_mask is not None:
            pred = self.op.forward(self.track.smoothed) if smoothed else step.prediction
            self.val_loss = masked_mse(pred, self.obs, self.val_mask)
        watched = self.track.smoothed if smoothed else step.output
        if self.rule.update(it, watched, step.loss, val_loss=self.val_loss):
            return Verdict(stop=self.rule.reason)
        return GO


class History(Hook):
    """:attr:`~tinydip.fitting.fit.FitResult.history`: one record per step it sees, with the
    held-out loss, the PSNRs to ``truth`` and the rule's statistic when there are; and
    ``callback(it, {**record, "output", "smoothed"})`` every ``every`` steps and at the last
    of ``iters``."""

    def __init__(self, track: Track, watch: Watch, truth: np.ndarray | None,
                 callback: Callable[[int, dict], None] | None, every: int, iters: int) -> None:
        self.track, self.watch, self.truth = track, watch, truth
        self.callback, self.every, self.iters = callback, every, iters
        self.records: list[dict] = []
        # converted once: psnr() would convert and check it twice a step (0.45 -> 0.15 ms)
        self._truth64 = None if truth is None else np.asarray(truth, dtype=np.float64)

    def after_step(self, it: int, step: Step) -> Verdict:
        rec = {"iter": it, "loss": step.loss}
        if self.watch.val_loss is not None:
            rec["val_loss"] = self.watch.val_loss
        if self.truth is not None:
            rec["psnr"] = self._psnr(step.output)
            rec["psnr_smoothed"] = self._psnr(self.track.smoothed)
        if np.isfinite(self.watch.rule.statistic):
            rec["stat"] = float(self.watch.rule.statistic)
        self.records.append(rec)
        if self.callback is not None and (it % self.every == 0 or it == self.iters - 1):
            self.callback(it, {**rec, "output": step.output, "smoothed": self.track.smoothed})
        return GO

    def _psnr(self, x: np.ndarray) -> float:
        """:func:`~tinydip.metrics.psnr` to the truth, the same float64 arithmetic (x is
        finite: a step with a non-finite loss never reaches this hook)."""
        if x.shape != self._truth64.shape:
            raise ValueError(f"psnr: shape mismatch {x.shape} vs reference {self._truth64.shape}")
        return psnr_from_mse(float(np.mean((x.astype(np.float64) - self._truth64) ** 2)))
