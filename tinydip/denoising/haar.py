"""The orthonormal 2-D Haar wavelet transform and the classical denoiser built on it.

:func:`haar_forward` / :func:`haar_inverse` (the codec's Haar baselines use them too) and
:func:`haar_denoise`: translation-invariant hard thresholding at 3 sigma (Coifman &
Donoho's cycle spinning: the average of the thresholded estimates over 4x4 circular
shifts) -- the classical baseline a study reports beside every denoising fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_HALF = 0.5  # the orthonormal 2x2 Haar butterfly scales sums of four samples by 1/2


@dataclass
class HaarPyramid:
    """Multi-level 2-D Haar coefficients of an (H, W, ...) array.

    Attributes
    ----------
    approx:
        Coarsest approximation band.
    details:
        ``(horizontal, vertical, diagonal)`` detail bands per level, finest first.
    shapes:
        Spatial shape of the input to each level, finest first (for cropping back).
    """

    approx: np.ndarray
    details: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    shapes: list[tuple[int, int]]

    def bands(self) -> list[np.ndarray]:
        """All bands, approximation first (the order used by :meth:`to_vector`)."""
        return [self.approx] + [b for level in self.details for b in level]

    def to_vector(self) -> np.ndarray:
        """All coefficients as one flat array."""
        return np.concatenate([b.reshape(-1) for b in self.bands()])

    def from_vector(self, v: np.ndarray) -> HaarPyramid:
        """A pyramid of the same layout holding the coefficients ``v``."""
        out, pos = [], 0
        for b in self.bands():
            out.append(np.asarray(v[pos:pos + b.size]).reshape(b.shape))
            pos += b.size
        if pos != np.size(v):
            raise ValueError(f"expected {pos} coefficients, got {np.size(v)}")
        details = [tuple(out[1 + 3 * i: 4 + 3 * i]) for i in range(len(self.details))]
        return HaarPyramid(out[0], details, list(self.shapes))  # type: ignore[arg-type]


def haar_forward(x: np.ndarray, levels: int | None = None) -> HaarPyramid:
    """Multi-level orthonormal 2-D Haar transform over the first two axes of ``x``.

    Trailing axes (e.g. channels) are transformed independently.

    Notes
    -----
    One level maps each 2x2 block ``[[a, b], [c, d]]`` to

        LL = (a + b + c + d) / 2,   H = (a + b - c - d) / 2,
        V  = (a - b + c - d) / 2,   D = (a - b - c + d) / 2,

    an orthonormal map (a 4x4 Hadamard matrix / 2), so energy is preserved and the
    inverse is the transpose. Levels are applied to LL until ``levels`` are done or a
    side would drop below 1 (default: until min(h, w) = 1). A band with an odd side
    is first padded by one row/column by symmetric reflection (the edge sample
    repeated); the extra pair has a zero difference coefficient, and the inverse crops
    it away. With padding the transform is still exactly invertible, but has slightly
    more coefficients than pixels (and is no longer exactly energy preserving).
    """
    cur = np.asarray(x, dtype=np.float64)
    if cur.ndim < 2 or cur.shape[0] < 1 or cur.shape[1] < 1:
        raise ValueError(f"haar_forward needs an array of at least 2 dims, got {cur.shape}")
    if levels is not None and levels < 0:
        raise ValueError(f"levels must be non-negative, got {levels}")
    details, shapes = [], []
    while min(cur.shape[:2]) > 1 and (levels is None or len(details) < levels):
        h, w = cur.shape[:2]
        shapes.append((h, w))
        pad = [(0, h % 2), (0, w % 2)] + [(0, 0)] * (cur.ndim - 2)
        cur = np.pad(cur, pad, mode="symmetric")
        a, b = cur[0::2, 0::2], cur[0::2, 1::2]
        c, d = cur[1::2, 0::2], cur[1::2, 1::2]
        details.append(((a + b - c - d) * _HALF, (a - b + c - d) * _HALF,
                        (a - b - c + d) * _HALF))
        cur = (a + b + c + d) * _HALF
    return HaarPyramid(cur, details[::-1], shapes[::-1])


def haar_inverse(pyr: HaarPyramid) -> np.ndarray:
    """Inverse of :func:`haar_forward` (float64 output of the original shape)."""
    cur = np.asarray(pyr.approx, dtype=np.float64)
    for (hh, vv, dd), (h, w) in zip(pyr.details, pyr.shapes, strict=True):
        out = np.empty((2 * cur.shape[0], 2 * cur.shape[1]) + cur.shape[2:], np.float64)
        out[0::2, 0::2] = (cur + hh + vv + dd) * _HALF
        out[0::2, 1::2] = (cur + hh - vv - dd) * _HALF
        out[1::2, 0::2] = (cur - hh + vv - dd) * _HALF
        out[1::2, 1::2] = (cur - hh - vv + dd) * _HALF
        cur = out[:h, :w]
    return cur


def haar_denoise(noisy: np.ndarray, sigma: float, levels: int = 3, shifts: int = 4,
                 k: float = 3.0) -> np.ndarray:
    """Cycle-spun Haar hard thresholding of an HxWxC image with noise ``sigma`` (0-255 scale).

    Detail coefficients below ``k * sigma / 255`` in magnitude are zeroed (the transform is
    orthonormal, so the noise keeps its sigma); the approximation band is kept.
    """
    x = np.asarray(noisy, dtype=np.float64)
    t = k * float(sigma) / 255.0
    acc = np.zeros_like(x)
    for dy in range(shifts):
        for dx in range(shifts):
            pyr = haar_forward(np.roll(x, (dy, dx), axis=(0, 1)), levels)
            pyr.details = [tuple(np.where(np.abs(b) >= t, b, 0.0) for b in lvl)
                           for lvl in pyr.details]
            acc += np.roll(haar_inverse(pyr), (-dy, -dx), axis=(0, 1))
    return np.clip(acc / shifts**2, 0, 1).astype(np.float32)
