"""Learning-rate schedules: objects beside the optimiser, as PyTorch's ``LRScheduler``.

A schedule sets ``opt.lr`` for step 0 when it is built; ``step()`` after each optimiser step
sets it for the next one::

    opt = Adam(net.parameters(), lr=0.01)
    schedule = CosineLR(opt, period=iters - 1, final=0.01)
    for it in range(iters):
        ...backward; opt.step()...
        schedule.step()
"""

from __future__ import annotations

import math
from typing import Protocol

from .optimizers import Optimizer

SCHEDULES = ("constant", "cosine")


class LRSchedule(Protocol):
    """What the fitting loop calls: ``step()`` after every optimiser step."""

    def step(self) -> None: ...


class ConstantLR:
    """``opt.lr`` stays what it is."""

    def __init__(self, opt: Optimizer) -> None:
        self.opt, self.t = opt, 0

    def step(self) -> None:
        self.t += 1


class CosineLR:
    """Half a cosine from ``opt.lr`` down to ``final * opt.lr`` over ``period`` steps.

    Notes
    -----
    With lr the optimiser's rate when the schedule is built and f = ``final``, step t uses

        lr_t = lr * (f + (1 - f) * (1 + cos(pi * t / period)) / 2)

    (PyTorch's ``CosineAnnealingLR`` with ``T_max = period`` and ``eta_min = f * lr``).
    ``period = T - 1`` reaches ``final * lr`` at the last of T steps (the codec's fit);
    ``period = T`` stops one step short of it (the codec's incremental rounding, whose last
    step still moves). ``period <= 0``: constant.
    """

    def __init__(self, opt: Optimizer, period: int, final: float = 0.0) -> None:
        if not 0.0 <= final <= 1.0:
            raise ValueError(f"final must be in [0, 1], got {final}")
        self.opt, self.base, self.period, self.final = opt, opt.lr, period, final
        self.t = 0
        opt.lr = self.rate(0)

    def rate(self, t: int) -> float:
        """The learning rate of step ``t`` (0-based)."""
        if self.period <= 0:
            return self.base
        c = 0.5 * (1.0 + math.cos(math.pi * t / self.period))
        return self.base * (self.final + (1.0 - self.final) * c)

    def step(self) -> None:
        self.t += 1
        self.opt.lr = self.rate(self.t)


def make_schedule(name: str, opt: Optimizer, period: int, final: float = 0.0) -> LRSchedule:
    """``"constant"`` or ``"cosine"`` (:class:`CosineLR` with ``period`` and ``final``)."""
    if name == "constant":
        return ConstantLR(opt)
    if name == "cosine":
        return CosineLR(opt, period, final)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
