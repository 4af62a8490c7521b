"""Deblurring's degradation: :class:`Blur` (a known kernel, reflect boundary, exact adjoint)
and the kernels of ``--kernel`` (:func:`parse_kernel`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import _nchw


def _weights(kernel) -> np.ndarray:
    """``kernel`` as float64 weights; ValueError for what is not real numbers (complex,
    dates, text, records)."""
    a = np.asarray(kernel)
    if a.dtype.kind not in "biuf":
        raise ValueError(f"blur kernel must hold real numbers, got dtype {a.dtype}")
    return a.astype(np.float64)


def _reflect_matrix(n: int, r: int) -> np.ndarray:
    """P of shape (n + 2r, n): ``P @ x`` is ``np.pad(x, r, mode="reflect")`` (mirror about
    the edge pixel, which is not repeated); needs ``r <= n - 1``."""
    idx = np.arange(-r, n + r)
    idx = np.abs(idx)
    idx = np.where(idx > n - 1, 2 * (n - 1) - idx, idx)
    p = np.zeros((n + 2 * r, n))
    p[np.arange(n + 2 * r), idx] = 1.0
    return p


def fftconvolve(a: np.ndarray, b: np.ndarray, mode: str, axes: tuple[int, ...]) -> np.ndarray:
    """``scipy.signal.fftconvolve``, imported on first use: importing scipy.signal costs
    ~0.6 s, which every command paid because the task registry imports this module."""
    from scipy.signal import fftconvolve as conv

    return conv(a, b, mode=mode, axes=axes)


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
        k = _weights(kernel)
        if k.ndim != 2 or k.size == 0:
            raise ValueError(f"blur kernel must be a 2-D array, got shape {k.shape}")
        if not np.all(np.isfinite(k)) or (k < 0).any() or not (k > 0).any():
            raise ValueError("blur kernel must be finite, non-negative and not all zero")
        self.size = k.shape  # as given: an even side gets a zero row/column below
        k = np.pad(k, ((0, 1 - k.shape[0] % 2), (0, 1 - k.shape[1] % 2)))
        k = k / k.max()  # first: a sum of huge weights would overflow to inf
        self.kernel = k / k.sum()
        self.name = name or f"{self.size[0]}x{self.size[1]} kernel"
        self._pads: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __repr__(self) -> str:
        return f"Blur({self.name})"

    @property
    def radius(self) -> tuple[int, int]:
        return self.kernel.shape[0] // 2, self.kernel.shape[1] // 2

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The image's own shape; ValueError if the kernel (as given, before an even side's
        zero padding) is larger than the image."""
        *_, h, w = input_shape
        kh, kw = self.size
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


def _load_npy(path: Path, text: str) -> np.ndarray:
    """A kernel from a ``.npy`` file: a 2-D array, or one with extra axes of length 1 around
    it (``(1, H, W)``, ``(H, W, 1)``); a 1x9 or 1x1 kernel keeps both its axes."""
    try:
        k = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # an empty file: EOFError
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise ValueError(f"cannot read kernel file {text}: {msg}") from None
    if not isinstance(k, np.ndarray):  # an .npz archive named .npy
        raise ValueError(f"kernel file {text}: not a single array (an .npz archive?)")
    while k.ndim > 2 and k.shape[0] == 1:
        k = k[0]
    while k.ndim > 2 and k.shape[-1] == 1:
        k = k[..., 0]
    if k.ndim != 2:
        raise ValueError(f"kernel file {text}: must be a 2-D array (H x W), got shape "
                         f"{k.shape}")
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
            if not np.isfinite(angle):
                raise ValueError(f"motion angle must be a finite number of degrees, got {angle:g}")
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
            k = _load_npy(path, text)
        else:
            from ..io.images import load_image

            k = load_image(path).mean(axis=2)
        try:
            return Blur(k, path.name)
        except ValueError as exc:
            raise ValueError(f"kernel file {text}: {exc}") from None
    raise ValueError(f"unknown kernel spec {text!r}: expected {KERNEL_SPECS}")
