"""Optimisers: Adam (PyTorch's update rule) and plain SGD, updating parameters in place."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..kernels import adam_update
from ..nn.module import Parameter


class Optimizer:
    """Holds a list of Parameters; ``step()`` updates ``p.data`` in place from ``p.grad``."""

    def __init__(self, params: Iterable[Parameter], lr: float):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad[...] = 0

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """p <- p - lr * grad."""

    def step(self) -> None:
        for p in self.params:
            p.data -= self.lr * p.grad


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias correction; state has each parameter's dtype.

    Notes
    -----
    At step t, with g the gradient:

        m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, lr)
        self.betas, self.eps = betas, eps
        self.t = 0
        self._flat = _FlatParams.build(self.params)  # None: mixed dtypes or shared arrays
        if self._flat is None:
            self.m = [np.zeros_like(p.data) for p in self.params]
            self.v = [np.zeros_like(p.data) for p in self.params]
        else:  # one moment buffer each; per-parameter views for state_dict and readers
            self._m, self._v = np.zeros_like(self._flat.data), np.zeros_like(self._flat.data)
            self.m, self.v = self._flat.views(self._m), self._flat.views(self._v)

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        if self._flat is not None:  # one update over every parameter (was one per tensor)
            data, grad = self._flat.current(self.params)
            adam_update(data, grad, self._m, self._v, self.lr, b1, b2, self.eps, bc1, bc2)
            return
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            adam_update(p.data.reshape(-1), p.grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                        self.lr, b1, b2, self.eps, bc1, bc2)

    def state_dict(self) -> dict:
        return {"t": self.t, "m": [m.copy() for m in self.m], "v": [v.copy() for v in self.v]}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for dst, src in zip(self.m + self.v, state["m"] + state["v"], strict=True):
            dst[...] = src


class _FlatParams:
    """Every parameter's ``data`` and ``grad`` as views of two flat buffers, so that Adam
    updates them in one kernel call (112 calls, 0.5 ms a step, for the width-32 U-Net).

    The parameters keep their own arrays' values: :meth:`build` copies them in and points
    ``p.data`` / ``p.grad`` at the views. If something points a parameter at another array
    later (``Module.astype``, a second optimiser over the same parameters),
    :meth:`current` sees it and gathers the parameters again, so an update never goes to a
    buffer the network no longer reads.
    """

    def __init__(self, data: np.ndarray, grad: np.ndarray, shapes: list[tuple[int, ...]]):
        self.data, self.grad, self.shapes = data, grad, shapes
        self.data_views, self.grad_views = self.views(data), self.views(grad)

    @classmethod
    def build(cls, params: list[Parameter]) -> _FlatParams | None:
        """None (update tensor by tensor) unless every parameter is a distinct one owning
        its arrays (not a view: tied or user-shared memory stays shared), all of one dtype."""
        dtypes = {p.data.dtype for p in params} | {p.grad.dtype for p in params}
        if len(dtypes) != 1 or len({id(p) for p in params}) != len(params) or any(
                p.data.base is not None or p.grad.base is not None for p in params):
            return None
        n = sum(p.data.size for p in params)
        flat = cls(np.empty(n, dtypes.pop()), np.empty(n, params[0].grad.dtype),
                   [p.data.shape for p in params])
        flat._point(params)
        return flat

    def views(self, buffer: np.ndarray) -> list[np.ndarray]:
        """Per-parameter views (in the parameters' shapes) of a flat ``buffer``."""
        out, i = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape))
            out.append(buffer[i:i + size].reshape(shape))  # (size,) -> the parameter's shape
            i += size
        return out

    def _point(self, params: list[Parameter]) -> None:
        """Copy every parameter's values into the buffers and point it at its views."""
        for p, d, g in zip(params, self.data_views, self.grad_views, strict=True):
            d[...], g[...] = p.data, p.grad
            p.data, p.grad = d, g

    def current(self, params: list[Parameter]) -> tuple[np.ndarray, np.ndarray]:
        """The flat (data, grad), after re-gathering any parameter pointed elsewhere."""
        for p, d, g in zip(params, self.data_views, self.grad_views, strict=True):
            if p.data is not d or p.grad is not g:
                if p.data.shape != d.shape or p.data.dtype != d.dtype:
                    raise ValueError("Adam: a parameter changed shape or dtype after the "
                                     "optimiser was made; make a new optimiser")
                self._point(params)
                break
        return self.data, self.grad
