"""The codec's fit of a Deep Decoder to one image: Adam with a cosine learning-rate decay.

:func:`tinydip.fitting.fit.fit` runs Adam at a constant learning rate. For a codec the fit is the
whole encoder, and a decaying rate pays: the last steps at a small rate settle the weights
into the minimum the large rate only circles (measured in ``benchmarks/README.md``,
*Compression*). The loop is :func:`tinydip.fitting.loop.fit_loop` (the one copy of it), the
schedule a :class:`tinydip.optim.CosineLR` beside the optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fitting.hooks import FiniteLoss, KeepBest, Record
from ..fitting.loop import fit_loop, show_progress
from ..nn import Module
from ..optim import SCHEDULES, Adam, make_schedule

__all__ = ["SCHEDULES", "DecoderFit", "fit_decoder"]


@dataclass
class DecoderFit:
    """The weights of the lowest training loss, and how the fit went."""

    state: dict[str, np.ndarray]  # net.state_dict() at best_iter
    best_iter: int
    best_loss: float
    iters_run: int
    seconds: float
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM": stopped early, best kept
    history: list[dict] = field(default_factory=list)  # one {"iter", "loss", "lr"} per step

    @property
    def interrupted(self) -> bool:
        return self.interrupted_by is not None


def fit_decoder(net: Module, target: np.ndarray, z: np.ndarray, *, iters: int, lr: float,
                schedule: str = "cosine", final_lr: float = 0.01,
                progress: bool | None = None) -> DecoderFit:
    """Fit ``net`` (train mode, BatchNorm on batch statistics) to ``target`` (1, C, H, W).

    ``schedule``: ``"cosine"`` (:class:`~tinydip.optim.CosineLR` from ``lr`` down to
    ``final_lr * lr`` at the last step: period ``iters - 1``) or ``"constant"``.
    Keeps the state of the lowest loss; Ctrl-C / SIGTERM end the loop early and keep it.
    A non-finite loss stops the loop at once (the best finite state is kept).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    net.train()
    opt = Adam(net.parameters(), lr=lr)
    rates = make_schedule(schedule, opt, period=iters - 1, final=final_lr)
    keep, history = KeepBest(net.state_dict, keep_start=True), []
    record = Record(history, lambda it, step: {"iter": it, "loss": step.loss, "lr": opt.lr})
    run = fit_loop(net, opt, z, target, iters=iters, hooks=[keep, record, FiniteLoss(opt)],
                   schedule=rates, progress=show_progress(progress, iters, target[0, 0].size))
    return DecoderFit(keep.state, keep.iter, keep.loss, len(history), run.seconds,
                      run.interrupted_by, history)
