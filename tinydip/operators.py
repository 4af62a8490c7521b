"""Linear measurement operators A: the "known degradation" of each Deep Image Prior task.

DIP fits ``theta* = argmin E(A f(z; theta), x0)``; the fitting loop needs only the contract
:class:`LinearOperator`: ``forward`` (A), ``adjoint`` (A^T, which is also the vector-Jacobian
product of ``forward``), and the shape relation between the image A acts on and the
observation it produces. Every operator here passes the dot-product test
``<A x, y> == <x, A^T y>`` in float64 (:func:`adjoint_error`, ``tests/test_operators.py``).

Operators: :class:`Identity` (denoising), :class:`Mask` (inpainting), :class:`Downsampler`
(super-resolution). Arrays are NCHW; dtype is preserved (float32 in -> float32 out).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["LinearOperator", "Identity", "Mask", "Downsampler", "adjoint_error"]


@runtime_checkable
class LinearOperator(Protocol):
    """What :func:`tinydip.fit.fit` relies on (a structural type: no base class needed).

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


def _cubic(d: np.ndarray, a: float = -0.5) -> np.ndarray:
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _lanczos2(d: np.ndarray) -> np.ndarray:
    return np.where(np.abs(d) < 2, np.sinc(d) * np.sinc(d / 2), 0.0)


class Downsampler:
    """Fixed linear downsampling by ``factor`` (antialiasing filter + stride), as in DIP.

    ``y = A x`` with ``y[n, c] = A_h @ x[n, c] @ A_w.T`` and exact adjoint
    ``A^T dy = A_h.T @ dy @ A_w``.

    Parameters
    ----------
    factor : 2, 4 or 8.
    kernel : ``"lanczos2"`` (DIP super-resolution) or ``"bicubic"`` (Keys, a = -0.5).

    Notes
    -----
    1-D taps (length ``4 f``, even, half-pixel phase; DIP's ``get_kernel`` with
    ``phase=0.5``, ``kernel_width=4f+1``):
        ``t_j = (j + 1/2 - 2f) / f``,  ``k_j = phi(t_j) / sum_i phi(t_i)``,  j = 0..4f-1
    with ``phi(t) = sinc(t) sinc(t / 2)`` (Lanczos-2) or the Keys cubic. Output sample ``i``
    of a length-``n`` signal is ``y_i = sum_j k_j x[clamp(f i - 3f/2 + j, 0, n - 1)]``,
    i.e. replicate padding by ``3f/2`` then stride ``f``; its window is centred on the
    block ``f i .. f i + f - 1``. Hence ``A_n[i, clamp(f i - 3f/2 + j)] += k_j`` has shape
    ``(n / f, n)`` and rows summing to 1. The 2-D kernel is the outer product ``k k^T``.
    """

    FACTORS = (2, 4, 8)
    KERNELS = ("lanczos2", "bicubic")

    def __init__(self, factor: int, kernel: str = "lanczos2") -> None:
        if isinstance(factor, bool) or factor not in self.FACTORS:
            raise ValueError(f"downsampling factor must be one of {self.FACTORS}, got {factor!r}")
        if kernel not in self.KERNELS:
            raise ValueError(f"kernel must be one of {self.KERNELS}, got {kernel!r}")
        self.factor = int(factor)
        self.kernel = kernel
        self._cache: dict[tuple[int, str], np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Downsampler(factor={self.factor}, kernel={self.kernel!r})"

    def taps(self) -> np.ndarray:
        """The normalised 1-D kernel ``k``, shape ``(4 f,)`` float64."""
        f = self.factor
        t = (np.arange(4 * f) + 0.5 - 2 * f) / f
        k = _lanczos2(t) if self.kernel == "lanczos2" else _cubic(t)
        return k / k.sum()

    def matrix(self, n: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
        """Dense 1-D operator ``A_n`` of shape ``(n / f, n)`` (boundary handling folded in)."""
        f = self.factor
        if n < f or n % f:
            raise ValueError(f"size {n} is not a positive multiple of the factor {f}")
        key = (int(n), np.dtype(dtype).str)
        if key not in self._cache:
            k = self.taps()
            a = np.zeros((n // f, n))
            rows = np.arange(n // f)[:, None]
            cols = np.clip(f * rows - 3 * f // 2 + np.arange(4 * f)[None, :], 0, n - 1)
            np.add.at(a, (np.broadcast_to(rows, cols.shape), cols), np.broadcast_to(k, cols.shape))
            self._cache[key] = a.astype(dtype)
        return self._cache[key]

    measured = None

    def output_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(N, C, H, W) -> (N, C, H / f, W / f)``; ValueError if not divisible."""
        *lead, h, w = shape
        f = self.factor
        if h % f or w % f or h < f or w < f:
            raise ValueError(f"image size {h}x{w} is not divisible by the factor {f}")
        return (*lead, h // f, w // f)

    def input_shape(self, observation_shape: tuple[int, ...]) -> tuple[int, ...]:
        """``(N, C, h, w) -> (N, C, f h, f w)``: the output is ``factor`` times larger."""
        *lead, h, w = observation_shape
        return (*lead, h * self.factor, w * self.factor)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``(N, C, H, W) -> (N, C, H / f, W / f)``, dtype preserved."""
        a = _nchw(x, "Downsampler.forward")
        self.output_shape(a.shape)
        ah = self.matrix(a.shape[2], a.dtype)
        aw = self.matrix(a.shape[3], a.dtype)
        return np.matmul(np.matmul(ah, a), aw.T)

    __call__ = forward

    def adjoint(self, dy: np.ndarray) -> np.ndarray:
        """``(N, C, h, w) -> (N, C, f h, f w)``: ``A_h^T dy A_w`` (also the VJP of forward)."""
        a = _nchw(dy, "Downsampler.adjoint")
        f = self.factor
        ah = self.matrix(a.shape[2] * f, a.dtype)
        aw = self.matrix(a.shape[3] * f, a.dtype)
        return np.matmul(np.matmul(ah.T, a), aw)

    backward = adjoint
