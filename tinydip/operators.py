"""Linear measurement operators A: the "known degradation" of each Deep Image Prior task.

DIP fits ``theta* = argmin E(A f(z; theta), x0)``; the fitting loop needs only the contract
:class:`LinearOperator`: ``forward`` (A), ``adjoint`` (A^T, which is also the vector-Jacobian
product of ``forward``), and the shape relation between the image A acts on and the
observation it produces. Every operator here passes the dot-product test
``<A x, y> == <x, A^T y>`` in float64 (:func:`adjoint_error`, ``tests/test_operators.py``).

Operators: :class:`Identity` (denoising), :class:`Mask` (inpainting), :class:`Downsampler`
(super-resolution), :class:`Blur` (deblurring; kernels from :func:`parse_kernel`). Arrays are
NCHW; dtype is preserved (float32 in -> float32 out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.signal import fftconvolve

__all__ = ["LinearOperator", "Identity", "Mask", "Downsampler", "Blur", "parse_kernel",
           "adjoint_error"]


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


# ------------------------------------------------------------------------------------- blur


def _reflect_matrix(n: int, r: int) -> np.ndarray:
    """P of shape (n + 2r, n): ``P @ x`` is ``np.pad(x, r, mode="reflect")`` (mirror about
    the edge pixel, which is not repeated); needs ``r <= n - 1``."""
    idx = np.arange(-r, n + r)
    idx = np.abs(idx)
    idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)
    p = np.zeros((n + 2 * r, n))
    p[np.arange(n + 2 * r), idx] = 1.0
    return p


class Blur:
    """Convolution with a fixed kernel k, "same" size, reflect boundary: ``A x = k * P x``.

    ``P`` pads the image by the kernel radius (``kh // 2``, ``kw // 2``) with ``np.pad``'s
    "reflect" mode (mirror about the edge pixel), ``*`` is the 'valid' 2-D convolution, so
    the observation has the image's size and every observed pixel is an honest weighted sum
    of image pixels (no wrap-around, no zeros). The adjoint is exact for this boundary:
    ``A^T dy = P^T (k~ * dy)`` with k~ the flipped kernel in 'full' mode and ``P^T`` folding
    the mirrored border back onto the pixels it copied (dot-product test in float64).

    ``kernel``: a 2-D array of non-negative weights, normalised here to sum 1; even sides
    get a zero row/column appended (bottom/right) so that the kernel has a centre pixel.
    Computed with FFTs (``scipy.signal.fftconvolve``), per channel, in the input's dtype.
    """

    measured = None

    def __init__(self, kernel: np.ndarray, name: str | None = None) -> None:
        k = np.asarray(kernel, dtype=np.float64)
        if k.ndim != 2 or k.size == 0:
            raise ValueError(f"blur kernel must be a 2-D array, got shape {k.shape}")
        if not np.all(np.isfinite(k)) or (k < 0).any() or k.sum() <= 0:
            raise ValueError("blur kernel must be finite, non-negative and not all zero")
        k = np.pad(k, ((0, 1 - k.shape[0] % 2), (0, 1 - k.shape[1] % 2)))
        self.kernel = k / k.sum()
        self.name = name or f"{k.shape[0]}x{k.shape[1]} kernel"
        self._pads: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"Blur({self.name})"

    @property
    def radius(self) -> tuple[int, int]:
        return self.kernel.shape[0] // 2, self.kernel.shape[1] // 2

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The image's own shape; ValueError if the kernel is larger than the image."""
        *_, h, w = input_shape
        kh, kw = self.kernel.shape
        if kh > h or kw > w:
            raise ValueError(f"blur kernel {kh}x{kw} is larger than the image {h}x{w}")
        return tuple(input_shape)

    def input_shape(self, observation_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.output_shape(observation_shape)

    def _pad_matrices(self, h: int, w: int, dtype) -> tuple[np.ndarray, np.ndarray]:
        key = (h, w)
        if key not in self._pads:
            rh, rw = self.radius
            self._pads[key] = (_reflect_matrix(h, rh), _reflect_matrix(w, rw))
        ph, pw = self._pads[key]
        return ph.astype(dtype, copy=False), pw.astype(dtype, copy=False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``(N, C, H, W) -> (N, C, H, W)``: reflect-pad by the radius, 'valid' convolution."""
        a = _nchw(x, "Blur.forward")
        self.output_shape(a.shape)
        ph, pw = self._pad_matrices(a.shape[2], a.shape[3], a.dtype)
        xp = np.matmul(np.matmul(ph, a), pw.T)  # exact: every row of P holds one 1
        k = self.kernel.astype(a.dtype)[None, None]
        return fftconvolve(xp, k, mode="valid", axes=(2, 3)).astype(a.dtype, copy=False)

    __call__ = forward

    def adjoint(self, dy: np.ndarray) -> np.ndarray:
        """``(N, C, H, W) -> (N, C, H, W)``: 'full' convolution with the flipped kernel, then
        the padding's transpose (border values added back onto their mirror sources)."""
        a = _nchw(dy, "Blur.adjoint")
        self.output_shape(a.shape)
        ph, pw = self._pad_matrices(a.shape[2], a.shape[3], a.dtype)
        k = self.kernel[::-1, ::-1].astype(a.dtype)[None, None]
        dxp = fftconvolve(a, k, mode="full", axes=(2, 3))
        return np.matmul(np.matmul(ph.T, dxp), pw).astype(a.dtype, copy=False)

    def wiener(self, y: np.ndarray, nsr: float) -> np.ndarray:
        """Classical Wiener deconvolution of an NCHW observation (the task's baseline).

        ``X = conj(K) Y / (|K|^2 + nsr)`` in the Fourier domain, with the observation
        reflect-padded by twice the kernel size on every side first (the FFT assumes a
        periodic image; the padding keeps the wrap-around away from the crop). ``nsr`` is
        the noise-to-signal power ratio (noise variance / image variance).
        """
        a = _nchw(y, "Blur.wiener").astype(np.float64)
        kh, kw = self.kernel.shape
        mh, mw = 2 * kh, 2 * kw
        ap = np.pad(a, ((0, 0), (0, 0), (mh, mh), (mw, mw)), mode="symmetric")
        H, W = ap.shape[2:]
        kp = np.zeros((H, W))
        kp[:kh, :kw] = self.kernel
        kp = np.roll(kp, (-(kh // 2), -(kw // 2)), axis=(0, 1))  # centre at (0, 0)
        K = np.fft.rfft2(kp)
        X = np.conj(K) * np.fft.rfft2(ap, axes=(2, 3)) / (np.abs(K) ** 2 + max(nsr, 1e-12))
        x = np.fft.irfft2(X, s=(H, W), axes=(2, 3))
        return x[:, :, mh:mh + a.shape[2], mw:mw + a.shape[3]].astype(np.asarray(y).dtype)


KERNEL_SPECS = "gaussian:SIGMA, box:N, motion:LENGTH,ANGLE or a .png/.npy file"


def _gaussian(sigma: float) -> np.ndarray:
    r = max(1, int(np.ceil(3 * sigma)))
    t = np.arange(-r, r + 1)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    return np.outer(g, g)


def _motion(length: float, angle: float) -> np.ndarray:
    """A line of ``length`` pixels at ``angle`` degrees (0 = horizontal, counter-clockwise),
    drawn by splatting 8 samples per pixel bilinearly."""
    n = int(np.ceil(length)) // 2 * 2 + 3  # odd, with a pixel of margin
    c = n // 2
    k = np.zeros((n, n))
    t = np.linspace(-length / 2, length / 2, max(2, int(8 * np.ceil(length))))
    th = np.deg2rad(angle)
    xs, ys = c + t * np.cos(th), c - t * np.sin(th)
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    for dy, dx, wgt in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                        (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        np.add.at(k, (y0 + dy, x0 + dx), wgt)
    return k


def parse_kernel(spec: str) -> Blur:
    """A :class:`Blur` from a text spec: ``gaussian:SIGMA`` (size 2 ceil(3 sigma) + 1),
    ``box:N`` (N x N), ``motion:LENGTH,ANGLE`` (degrees), or a path to a ``.npy`` array /
    an image (``.png`` ...; grey levels are the weights). Bad specs and missing files raise
    a one-line ValueError."""
    text = str(spec).strip()
    kind, _, arg = text.partition(":")
    kind = kind.lower()
    try:
        if kind == "gaussian" and arg:
            sigma = float(arg)
            if not 0 < sigma <= 100:
                raise ValueError(f"gaussian sigma must be in (0, 100], got {arg}")
            return Blur(_gaussian(sigma), f"gaussian:{sigma:g}")
        if kind == "box" and arg:
            n = int(arg)
            if not 1 <= n <= 255:
                raise ValueError(f"box size must be 1..255, got {arg}")
            return Blur(np.ones((n, n)), f"box:{n}")
        if kind == "motion" and arg:
            length, angle = (float(v) for v in arg.split(","))
            if not 1 <= length <= 255:
                raise ValueError(f"motion length must be 1..255, got {length:g}")
            return Blur(_motion(length, angle), f"motion:{length:g},{angle:g}")
    except ValueError as exc:
        if "must be" in str(exc):
            raise ValueError(f"kernel {text!r}: {exc}") from None
        raise ValueError(f"cannot read kernel spec {text!r}: expected {KERNEL_SPECS}") from None
    path = Path(text)
    if path.suffix.lower() in (".npy", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
        if not path.exists():
            raise ValueError(f"kernel file not found: {text}")
        if path.suffix.lower() == ".npy":
            try:
                k = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read kernel file {text}: {exc}") from None
        else:
            from .images import load_image

            k = load_image(path).mean(axis=2)
        k = np.squeeze(np.asarray(k, dtype=np.float64))
        return Blur(k, path.name)
    raise ValueError(f"unknown kernel spec {text!r}: expected {KERNEL_SPECS}")
