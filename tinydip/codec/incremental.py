"""Incremental quantisation: round one tensor group at a time, let the rest compensate.

Straight-through fine-tuning (:func:`tinydip.codec.finetune.finetune`) starts from every
tensor rounded at once and nudges the float shadows so that the *rounded* network fits
better; the rounding errors of all layers arrive together and only tiny steps help (measured:
a fine-tuning rate above ~3e-5 makes it worse). Rounding the tensors group by group instead
leaves the not-yet-rounded tensors free, as floats, to absorb each group's error before the
next is rounded (the idea of incremental network quantisation, Zhou et al., 2017).

Order: the conv matrices from the input to the output (``w0``, ``w1``, ..., ``wd``), one per
group, then all the per-channel scales and shifts (``s*``, ``t*``) together: 48 values per
layer that can re-scale and re-centre whole channels, so they are rounded last. After each
group is rounded, the still-float tensors take ``iters`` Adam steps (learning rate ``lr`` on
a cosine to 0) on the image loss and keep their lowest-loss values.

Measured (benchmarks/README.md, "Compression"): at 256x256, 8 bits, rd steps, followed by the
usual 300 straight-through steps, +0.06 / +0.06 / +0.09 dB after decoding at k = 16 / 20 / 24
over the straight-through steps alone, at the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fitting.hooks import KeepBest, Record
from ..fitting.loop import fit_loop, signal_name
from ..fitting.step import fit_step
from ..optim import Adam, CosineLR
from .finetune import Quantiser
from .folded import folded_network, folded_parameters, load_folded, tensor_shapes


@dataclass
class Incremental:
    """Result of :func:`incremental_quantize`.

    ``tensors``: every stored tensor; those of ``rounded`` groups hold exactly their quantised
    values, the others (only after an interrupt) are still float.
    """

    tensors: dict[str, np.ndarray]
    rounded: list[list[str]]  # the groups rounded, in order
    history: list[dict] = field(default_factory=list)  # {"group", "iter", "loss"} per step
    interrupted_by: str | None = None  # "SIGINT" / "SIGTERM"


def groups(arch: dict) -> list[list[str]]:
    """The rounding order: ``[w0], [w1], ..., [wd]``, then every ``s*`` and ``t*`` at once."""
    names = list(tensor_shapes(arch))
    convs = [[n] for n in names if n[0] == "w"]
    affines = [n for n in names if n[0] in "st"]
    return convs + ([affines] if affines else [])


def incremental_quantize(arch: dict, start: dict[str, np.ndarray], target: np.ndarray,
                         z: np.ndarray, quant: Quantiser, *, iters: int, lr: float
                         ) -> Incremental:
    """Round the groups of :func:`groups` in order; after each, ``iters`` Adam steps on the rest.

    ``start``: float stored tensors (:func:`~.folded.fold_batchnorm` of the fit); ``target``
    (1, C, H, W); ``quant(name, values)`` the stored values of a tensor. Ctrl-C / SIGTERM end
    it early: the groups rounded so far stay rounded, the rest keep their current values.
    """
    if iters < 0:
        raise ValueError(f"incremental_quantize: iters must be >= 0, got {iters}")
    shapes = tensor_shapes(arch)
    net = folded_network(arch)
    params = folded_parameters(net)
    load_folded(net, start)
    order, done, history = groups(arch), [], []
    frozen: set[str] = set()
    signal = None
    try:
        for group in order:
            for name in group:
                p = params[name]
                p.data[...] = quant(name, p.data.reshape(shapes[name])).reshape(p.data.shape)
            frozen.update(group)
            done.append(group)
            free = [params[n] for n in shapes if n not in frozen]
            if free and iters:
                _settle(net, free, z, target, iters, lr, group, history)
    except KeyboardInterrupt as exc:
        signal = signal_name(exc)
    tensors = {n: params[n].data.reshape(shapes[n]).copy() for n in shapes}
    return Incremental(tensors, done, history, signal)


def _settle(net, free: list, z: np.ndarray, target: np.ndarray, iters: int, lr: float,
            group: list[str], history: list[dict]) -> None:
    """``iters`` Adam steps on the ``free`` parameters (learning rate: :class:`CosineLR` from
    ``lr`` towards 0 over ``iters`` steps); leave them at their lowest-loss values.

    The loss of step i belongs to the values before its update (kept in ``before_update``); a
    last forward evaluates the final update too. Ctrl-C / SIGTERM are raised again: the
    caller keeps the groups rounded so far, the free tensors their current values.
    """
    opt = Adam(free, lr=lr)
    keep = KeepBest(lambda: [p.data.copy() for p in free], keep_start=True)
    name = "+".join(group)
    record = Record(history, lambda it, step: {"group": name, "iter": it, "loss": step.loss})
    run = fit_loop(net, opt, z, target, iters=iters, hooks=[keep, record],
                   schedule=CosineLR(opt, period=iters))
    if run.interrupt is not None:
        raise run.interrupt
    keep.offer(fit_step(net, None, z, target).loss, iters)
    for p, value in zip(free, keep.state, strict=True):
        p.data[...] = value
