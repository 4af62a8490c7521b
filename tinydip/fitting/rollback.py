"""Rollback (the official DIP denoising code): undo a step whose loss jumps.

When the loss jumps above ``factor`` times the last accepted loss (10**0.5: the PSNR to the
observation drops by > 5 dB) or is not finite, the step is undone -- weights AND Adam state
back to those of the last accepted step -- and the loop goes on; the hooks after this one
never see the jumped step. ``limit`` rollbacks in a row stop the loop as diverged. Costs a
copy of the weights and the Adam state per step (:class:`_Snapshot`).
"""

from __future__ import annotations

import math

import numpy as np

from ..nn import Module
from ..optim import Adam
from .hooks import GO, Hook, Verdict
from .step import Step


class Rollback(Hook):
    """:attr:`~tinydip.fitting.fit.FitConfig.rollback`. ``undone``: the iterations undone;
    ``gave_up``: ``limit`` of them in a row ended the loop."""

    def __init__(self, net: Module, opt: Adam, factor: float, limit: int) -> None:
        self.saver, self.opt = _Snapshot(net, opt), opt
        self.factor, self.limit = factor, limit
        self.ref_loss, self.jumped, self.in_a_row = math.inf, False, 0
        self.undone: list[int] = []
        self.gave_up = False

    def before_update(self, loss: float) -> None:  # the weights that produced `loss`
        self.jumped = self.saver.saved and not loss <= self.factor * self.ref_loss
        if not self.jumped:  # accepted: remember these weights (before this update)
            self.saver.save()
            self.ref_loss = loss

    def after_step(self, it: int, step: Step) -> Verdict:
        if not self.jumped:
            self.in_a_row = 0
            return GO
        self.saver.restore()  # back to the last accepted weights and Adam state
        self.undone.append(it)
        self.in_a_row += 1
        if self.in_a_row < self.limit:
            return Verdict(skip=True)
        self.gave_up = True
        return Verdict(stop=f"rolled back {self.in_a_row} times in a row at iteration {it} "
                            f"(is the learning rate {self.opt.lr:g} too high?)", skip=True)


class _Snapshot:
    """The network's parameters and buffers and Adam's state, copied into buffers allocated
    once (``save``) and copied back (``restore``)."""

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
