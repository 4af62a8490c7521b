"""Quantisation-aware fine-tuning of the folded decoder (straight-through), and its PSNR.

Step 3 of :func:`tinydip.codec.deepdecoder.encode_fitted`, after the incremental rounding of
:mod:`tinydip.codec.incremental`: float "shadow" copies of every stored tensor; each step
runs the network with the QUANTISED shadows (exactly what the decoder will compute), and the
straight-through gradient (d loss / d shadow := d loss / d quantised value) updates the
shadows with Adam. The step with the lowest loss wins.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..fit import fit_step
from ..interrupt import Terminated
from ..nn import Parameter
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
    best_loss, best_iter, best = np.inf, 0, None
    history: list[dict] = []

    def record(loss: float) -> None:  # the shadows still hold the values just evaluated
        nonlocal best_loss, best_iter, best
        it = len(history)
        history.append({"iter": it, "loss": loss,
                        "psnr": float(10 * np.log10(1 / loss)) if loss > 0 else np.inf})
        if loss < best_loss:
            best_loss, best_iter = loss, it
            best = {n: s.data.copy() for n, s in shadows.items()}

    def straight_through(loss: float) -> None:
        record(loss)
        for name, p in params.items():  # d loss / d shadow = d loss / d quantised value
            shadows[name].grad[...] = p.grad.reshape(shadows[name].data.shape)

    signal = None
    try:
        for it in range(iters + 1):
            load_folded(net, {n: quant(n, s.data) for n, s in shadows.items()})
            if it < iters:  # the network's grads -> the shadows, then Adam on them
                fit_step(net, opt, z, target, before_update=straight_through)
            else:  # the last step only evaluates
                record(fit_step(net, None, z, target).loss)
    except KeyboardInterrupt as exc:  # keep the best evaluated so far
        signal = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
    if best is None:  # interrupted before anything was evaluated: the starting point
        load_folded(net, {n: quant(n, s.data) for n, s in shadows.items()})
        record(fit_step(net, None, z, target).loss)
    names = list(tensor_shapes(arch))
    return {n: best[n] for n in names}, best_iter, history, signal
