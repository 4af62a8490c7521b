"""The fitting loop, written once: what :func:`~tinydip.fitting.fit.fit`, the codec's Deep
Decoder fit, its fine-tuning and its incremental rounding all run.

Each step: the hooks' ``before_step`` (the network input), :func:`~.step.fit_step` (forward,
loss, backward, the hooks' ``before_update``, the optimiser's update), the hooks'
``after_step`` (bookkeeping; any may end the loop), then the learning-rate schedule's
``step()`` -- PyTorch's ``LRScheduler`` beside the optimiser. Everything else a fit does
(input jitter, smoothed/best outputs, held-out pixels and stopping rules, rollback, keeping
the best weights, the history) is a hook: :mod:`tinydip.fitting.hooks`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ..functional import mse_loss
from ..nn import Module
from ..operators import LinearOperator
from ..optim import LRSchedule, Optimizer
from ..runtime.interrupt import Terminated, describe
from .hooks import Hook
from .step import fit_step
from .threads import ThreadChoice

BUDGET = "iteration budget reached"


@dataclass(frozen=True)
class LoopResult:
    """How the loop ended."""

    iterations: int  # steps taken (an interrupted step does not count)
    seconds: float
    stop_reason: str  # BUDGET, a hook's reason, or "interrupted (Ctrl-C)" / "(SIGTERM)"
    stopped_at: int | None = None  # the iteration after which a hook ended the loop
    interrupt: KeyboardInterrupt | None = None  # the Ctrl-C / SIGTERM that ended it

    @property
    def interrupted_by(self) -> str | None:
        return None if self.interrupt is None else signal_name(self.interrupt)


def fit_loop(net: Module, opt: Optimizer, z: np.ndarray, observation: np.ndarray, *,
             iters: int, hooks: Sequence[Hook] = (), schedule: LRSchedule | None = None,
             operator: LinearOperator | None = None, weights: np.ndarray | None = None,
             loss_fn: Callable = mse_loss, progress: bool = False,
             threads: bool = True) -> LoopResult:
    """Run ``iters`` steps of ``opt`` on ``E = loss_fn(A net(z), observation, weights)``.

    ``operator``, ``weights``, ``loss_fn``: as :func:`~.step.fit_step`. Ctrl-C (or SIGTERM
    under :func:`~tinydip.runtime.interrupt.sigterm_as_interrupt`) ends the loop: the
    result says so, and the hooks hold what was kept. ``threads``: run steps parallel or
    serial, whichever is faster now (:class:`~.threads.ThreadChoice`, a hook like the rest).
    """
    def before_update(loss: float) -> None:  # gradients in place, weights not yet updated
        for hook in hooks:
            hook.before_update(loss)

    hooks = [ThreadChoice(), *hooks] if threads else list(hooks)
    bar = tqdm(total=iters, disable=not progress, unit="it", dynamic_ncols=True, leave=False)
    done, stopped_at, reason, interrupt = 0, None, BUDGET, None
    start = time.perf_counter()
    try:
        for it in range(iters):
            z_in = z
            for hook in hooks:  # e.g. jitter the input
                z_in = hook.before_step(it, z_in)
            step = fit_step(net, opt, z_in, observation, operator, weights=weights,
                            before_update=before_update, loss_fn=loss_fn)
            done = it + 1
            stop = None
            for hook in hooks:  # bookkeeping, stopping rules, history
                verdict = hook.after_step(it, step)
                stop = stop or verdict.stop
                if verdict.skip:  # undone (rollback) or not finite: later hooks never see it
                    break
            if schedule is not None:
                schedule.step()
            bar.update(1)
            if it % 10 == 0:
                bar.set_postfix(loss=f"{step.loss:.2e}", refresh=False)
            if stop is not None:
                stopped_at, reason = it, stop
                break
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (interrupt.Terminated)
        interrupt, reason = exc, f"interrupted ({describe(exc)})"
    finally:
        bar.close()
        for hook in hooks:
            hook.close()
    return LoopResult(done, time.perf_counter() - start, reason, stopped_at, interrupt)


def signal_name(exc: KeyboardInterrupt) -> str:
    """``"SIGTERM"`` for :class:`~tinydip.runtime.interrupt.Terminated`, else ``"SIGINT"``."""
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def show_progress(progress: bool | None, iters: int, pixels: int) -> bool:
    """``progress``, or (None) whether the run is long enough for a progress bar."""
    return progress if progress is not None else iters * pixels >= 2e6
