"""Quantisation-aware fine-tuning of the folded decoder (straight-through), and its PSNR.

Step 3 of :func:`tinydip.codec.encoder.encode_fitted`, after the incremental rounding of
:mod:`tinydip.codec.incremental`: float "shadow" copies of every stored tensor; each step
runs the network with the QUANTISED shadows (exactly what the decoder will compute), and the
straight-through gradient (d loss / d shadow := d loss / d quantised value) updates the
shadows with Adam. The step with the lowest loss wins.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..fitting.hooks import Hook, KeepBest, Record
from ..fitting.loop import fit_loop, signal_name
from ..fitting.step import fit_step
from ..nn import Module, Parameter
from ..optim import Adam
from .folded import folded_network, folded_parameters, load_folded, tensor_shapes

Quantiser = Callable[[str, np.ndarray], np.ndarray]  # (tensor name, values) -> stored values


def folded_psnr(arch: dict, tensors: dict[str, np.ndarray], z: np.ndarray, target: np.ndarray
          ) -> float:
    """PSNR of the folded network holding ``tensors`` (one forward pass)."""
    net = folded_network(arch)
    load_folded(net, tensors)
    loss = fit_step(net, None, z, target).loss
    return float(10 * np.log10(1 / loss)) if loss > 0 else float("inf")


def finetune(arch: dict, start: dict[str, np.ndarray], target: np.ndarray, z: np.ndarray,
             quant: Quantiser, *, iters: int, lr: float
             ) -> tuple[dict[str, np.ndarray], int, list[dict], str | None]:
    """Straight-through quantisation-aware fine-tuning; returns the best SHADOW tensors, the
    iteration, the history and ``"SIGINT"``/``"SIGTERM"`` if a signal ended it early.

    Storing the shadows (not their quantised values) lets the writer quantise them with the
    very same arithmetic (``quant``), so the file holds exactly the tensors evaluated here.
    """
    net = folded_network(arch)
    params = folded_parameters(net)
    shadows = {name: Parameter(np.array(start[name], dtype=np.float32)) for name in params}
    opt = Adam(list(shadows.values()), lr=lr)
    keep = KeepBest(lambda: {n: s.data.copy() for n, s in shadows.items()})
    history: list[dict] = []
    hooks = [StraightThrough(net, params, shadows, quant), keep,
             Record(history, lambda it, step: _entry(it, step.loss))]
    signal = fit_loop(net, opt, z, target, iters=iters, hooks=hooks).interrupted_by

    def evaluate() -> None:  # the shadows' quantised values, without an update
        load_folded(net, {n: quant(n, s.data) for n, s in shadows.items()})
        loss = fit_step(net, None, z, target).loss
        keep.offer(loss, len(history))
        history.append(_entry(len(history), loss))

    if signal is None:  # the last update is evaluated too
        try:
            evaluate()
        except KeyboardInterrupt as exc:
            signal = signal_name(exc)
    if keep.state is None:  # interrupted before anything was evaluated: the starting point
        evaluate()
    return {n: keep.state[n] for n in tensor_shapes(arch)}, keep.iter, history, signal


def _entry(it: int, loss: float) -> dict:
    return {"iter": it, "loss": loss,
            "psnr": float(10 * np.log10(1 / loss)) if loss > 0 else np.inf}


class StraightThrough(Hook):
    """Each step runs the network with the QUANTISED shadows; their gradients (d loss / d
    quantised value) become the shadows' (d loss / d shadow), which Adam then updates."""

    def __init__(self, net: Module, params: dict[str, Parameter],
                 shadows: dict[str, Parameter], quant: Quantiser) -> None:
        self.net, self.params, self.shadows, self.quant = net, params, shadows, quant

    def before_step(self, it: int, z: np.ndarray) -> np.ndarray:
        load_folded(self.net, {n: self.quant(n, s.data) for n, s in self.shadows.items()})
        return z

    def before_update(self, loss: float) -> None:
        for name, p in self.params.items():
            self.shadows[name].grad[...] = p.grad.reshape(self.shadows[name].data.shape)
