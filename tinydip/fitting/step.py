"""One step on the energy ``E = loss(A f(z), x0)``: forward, loss, backward, optimiser update.

:func:`fit_step` is the only copy of it: :func:`tinydip.fitting.loop.fit_loop` (and through
it :func:`~tinydip.fitting.fit.fit` and the codec) runs it, the codec evaluates with it
(``opt=None``), the benchmarks time it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..functional import mse_loss
from ..nn import Module
from ..operators import Identity, LinearOperator
from ..runtime.allocator import keep_freed_memory


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
    the layers' caches as it goes, without the gradient for z), then
    ``before_update(loss)`` (if given: the gradients are in ``Parameter.grad`` and the
    parameters are still those that produced the output) and ``opt.step()``.
    ``opt=None``: forward and loss only (no backward, no update).

    The first call lets malloc keep freed buffers for the next step
    (:func:`~tinydip.runtime.allocator.keep_freed_memory`).

    ``operator`` None is the identity; (H, W) is ``operator.input_shape(observation.shape)``.
    ``weights`` (broadcastable to the observation, 1 = counts) defaults to
    ``operator.measured``. ``loss_fn(pred, target, weights) -> (E, dE/dpred)`` has
    :func:`~tinydip.functional.mse_loss`'s contract (e.g. a Poisson likelihood).
    """
    keep_freed_memory()  # once per process: freed buffers are reused, not faulted in again
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
    # frees caches as it goes; z is not learned, so no gradient for it
    net.backward_once(dout.astype(full.dtype, copy=False), input_grad=False)
    if before_update is not None:
        before_update(value)
    opt.step()
    return Step(value, out, pred)


_IDENTITY = Identity()
