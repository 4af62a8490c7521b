"""The codec's fit of a Deep Decoder to one image: Adam with a cosine learning-rate decay.

:func:`tinydip.fit.fit` runs Adam at a constant learning rate. For a codec the fit is the
whole encoder, and a decaying rate pays: the last steps at a small rate settle the weights
into the minimum the large rate only circles (measured in ``benchmarks/README.md``,
*Compression*). The step itself is :func:`tinydip.fit.fit_step` (the one copy of it).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..fit import fit_step
from ..interrupt import Terminated
from ..nn import Module
from ..optim import Adam

SCHEDULES = ("constant", "cosine")


def learning_rate(it: int, iters: int, lr: float, schedule: str, final: float) -> float:
    """Learning rate of step ``it`` (0-based) of ``iters``.

    Notes
    -----
    ``constant``: lr.  ``cosine`` from lr down to ``final * lr`` at the last step:

        lr_t = lr * (f + (1 - f) * (1 + cos(pi * t / (T - 1))) / 2)
    """
    if schedule == "constant" or iters <= 1:
        return lr
    if schedule != "cosine":
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    c = 0.5 * (1.0 + math.cos(math.pi * it / (iters - 1)))
    return lr * (final + (1.0 - final) * c)


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

    Keeps the state of the lowest loss; Ctrl-C / SIGTERM end the loop early and keep it.
    A non-finite loss stops the loop at once (the best finite state is kept).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    net.train()
    opt = Adam(net.parameters(), lr=lr)
    H, W = target.shape[2:]
    show = progress if progress is not None else iters * H * W >= 2e6
    bar = tqdm(total=iters, disable=not show, unit="it", dynamic_ncols=True, leave=False,
               file=sys.stderr)
    best_loss, best_iter, best_state = math.inf, 0, net.state_dict()
    history: list[dict] = []
    signal = None

    def keep(loss: float) -> None:  # before the update: these weights produced `loss`
        nonlocal best_loss, best_iter, best_state
        if loss < best_loss:
            best_loss, best_iter, best_state = loss, len(history), net.state_dict()

    start = time.perf_counter()
    try:
        for it in range(iters):
            opt.lr = learning_rate(it, iters, lr, schedule, final_lr)
            loss = fit_step(net, opt, z, target, before_update=keep).loss
            history.append({"iter": it, "loss": loss, "lr": opt.lr})
            bar.update(1)
            if not math.isfinite(loss):
                break
            if it % 20 == 0:
                bar.set_postfix(psnr=f"{-10 * math.log10(max(best_loss, 1e-12)):.2f}")
    except KeyboardInterrupt as exc:
        signal = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
    finally:
        bar.close()
    return DecoderFit(best_state, best_iter, best_loss, len(history),
                      time.perf_counter() - start, signal, history)
