"""Super-resolution's degradation: :class:`Downsampler`, a fixed Lanczos-2 (or bicubic)
anti-aliasing filter followed by decimation, with its exact adjoint."""

from __future__ import annotations

import numpy as np

from .base import _nchw


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


# ------------------------------------------------------------------------------------- blur


