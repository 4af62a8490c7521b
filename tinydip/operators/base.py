"""The operator contract (:class:`LinearOperator`), the dot-product test
(:func:`adjoint_error`) and the two simplest operators: :class:`Identity` (denoising) and
:class:`Mask` (inpainting)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class LinearOperator(Protocol):
    """What :func:`tinydip.fitting.fit.fit` relies on (a structural type: no base class needed).

    * ``forward(x)``: A x for an NCHW image x, returns the NCHW observation.
    * ``adjoint(dy)``: A^T dy, exact (dot-product test), observation -> image space; the
      loop back-propagates dE/d(Ax) through it.
    * ``output_shape(input_shape)``: the observation's shape for an image of this shape
      (ValueError if the image size is not allowed).
    * ``input_shape(observation_shape)``: the image's shape for an observation of this shape
      (the size the network must produce).
    * ``measured``: None, or a 0/1 array broadcastable to the observation marking the entries
      that were measured; the loss is the MSE over those entries only (``mse_loss``'s mask).
    """

    measured: np.ndarray | None

    def forward(self, x: np.ndarray) -> np.ndarray: ...

    def adjoint(self, dy: np.ndarray) -> np.ndarray: ...

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]: ...

    def input_shape(self, observation_shape: tuple[int, ...]) -> tuple[int, ...]: ...


def _nchw(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 4:
        raise ValueError(f"{name} expects an NCHW array, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} expects a float array, got dtype {a.dtype}")
    return a


def adjoint_error(op: LinearOperator, shape: tuple[int, ...],
                  rng: np.random.Generator | None = None) -> float:
    """Relative dot-product mismatch ``|<A x, y> - <x, A^T y>| / (|A x| |y|)`` in float64.

    ``x`` of ``shape`` and ``y`` of ``op.output_shape(shape)`` are standard normal. An exact
    adjoint gives ~1e-16; a wrong one O(1e-3) or more.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    x = rng.standard_normal(shape)
    y = rng.standard_normal(op.output_shape(tuple(shape)))
    ax, aty = op.forward(x), op.adjoint(y)
    if ax.shape != y.shape or aty.shape != x.shape:
        raise ValueError(f"{op!r}: forward gave {ax.shape} (expected {y.shape}), adjoint gave "
                         f"{aty.shape} (expected {x.shape})")
    lhs, rhs = float(np.vdot(ax, y)), float(np.vdot(x, aty))
    return abs(lhs - rhs) / max(np.linalg.norm(ax) * np.linalg.norm(y), 1e-300)


class Identity:
    """A = I (denoising): the observation is the image."""

    measured = None

    def __repr__(self) -> str:
        return "Identity()"

    def forward(self, x: np.ndarray) -> np.ndarray:
        return x

    __call__ = forward

    def adjoint(self, dy: np.ndarray) -> np.ndarray:
        return dy

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(input_shape)

    def input_shape(self, observation_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(observation_shape)


class Mask:
    """A x = M * x with a fixed 0/1 mask M of known pixels (inpainting); A^T = A.

    ``mask``: (H, W) or anything broadcastable to the NCHW image, 1/True = known. Stored as
    float32 of shape (1, 1, H, W) for an (H, W) mask, else as given (float). ``measured`` is
    the mask, so the loss is ``mse_loss(M * f, x0, M)``: the mean over known entries only,
    the same numbers as the masked MSE ``mse_loss(f, x0, M)`` (M * M = M for 0/1 values).
    """

    def __init__(self, mask: np.ndarray) -> None:
        m = np.asarray(mask)
        if m.ndim == 2:
            m = m[None, None]
        if m.ndim != 4:
            raise ValueError(f"Mask: mask must be HxW or broadcastable to NCHW, got shape "
                             f"{np.shape(mask)}")
        if m.dtype == bool or not np.issubdtype(m.dtype, np.floating):
            m = m.astype(np.float32)
        if not np.all((m == 0) | (m == 1)):
            raise ValueError("Mask: mask must contain only 0 and 1 (or False/True)")
        if not m.any():
            raise ValueError("Mask: mask has no known pixel (white = known)")
        self.mask = m
        self.measured = m

    def __repr__(self) -> str:
        return f"Mask({'x'.join(map(str, self.mask.shape))}, known {self.mask.mean():.1%})"

    def _check(self, x: np.ndarray, name: str) -> np.ndarray:
        a = _nchw(x, name)
        try:
            np.broadcast_shapes(a.shape, self.mask.shape)
        except ValueError:
            raise ValueError(f"{name}: image of shape {a.shape} does not match the mask of "
                             f"shape {self.mask.shape}") from None
        return a

    def forward(self, x: np.ndarray) -> np.ndarray:
        a = self._check(x, "Mask.forward")
        return a * self.mask.astype(a.dtype, copy=False)

    __call__ = forward

    def adjoint(self, dy: np.ndarray) -> np.ndarray:
        return self.forward(dy)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(np.broadcast_shapes(tuple(input_shape), self.mask.shape))

    def input_shape(self, observation_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.output_shape(observation_shape)


