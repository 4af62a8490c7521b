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
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        bc1, bc2 = 1.0 - b1**self.t, 1.0 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            adam_update(p.data.reshape(-1), p.grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                        self.lr, b1, b2, self.eps, bc1, bc2)

    def state_dict(self) -> dict:
        return {"t": self.t, "m": [m.copy() for m in self.m], "v": [v.copy() for v in self.v]}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for dst, src in zip(self.m + self.v, state["m"] + state["v"], strict=True):
            dst[...] = src
