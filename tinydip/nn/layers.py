"""Layers with PyTorch names: Conv2d, BatchNorm2d, ReLU, LeakyReLU, Sigmoid, Upsample."""

from __future__ import annotations

import math

import numpy as np

from ..functional import (
    batchnorm_backward,
    batchnorm_forward,
    conv2d_backward,
    conv2d_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    upsample_backward,
    upsample_forward,
)
from ..functional.conv import PADDINGS
from ..functional.upsample import MODES
from ..functional.winograd import conv2d_winograd_backward, conv2d_winograd_forward, num_tiles
from .module import Module, Parameter, check_input


class Conv2d(Module):
    """2-D convolution with "same"-style padding kernel_size // 2 (stride 2 halves even sizes).

    Initialisation is PyTorch's default (Kaiming-uniform with a = sqrt(5)): weights and bias
    ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from ``rng`` (a fresh unseeded generator if
    None; pass a seeded one for reproducible runs).

    ``keep_cols`` keeps this layer's im2col matrix from forward for backward in a buffer the
    layer owns (reused every iteration) instead of rebuilding it: one im2col less per step,
    at the cost of C*K*K*Ho*Wo floats per layer (Winograd: its (m+2)^2 C H W / m^2 transformed
    tiles).
    "auto" (default) keeps it while it is at most ``KEEP_MAX_BYTES`` and rebuilds larger ones
    (where the memory is: the paper U-Net at 512x512 peaks ~30% lower for ~5% more time; at
    128x128 every buffer is kept). :meth:`set_keep_cols` changes it later
    (``tinydip.fitting.memory`` turns it off everywhere when a fit would not fit the memory budget).

    ``algo`` picks how the convolution is computed; all give the same numbers up to float
    rounding. "im2col": im2col + one matrix product (any kernel, any stride).
    "winograd": Winograd F(2x2, 3x3) (3x3 kernels, stride 1 only): 2.25x fewer multiplies.
    "winograd4": Winograd F(4x4, 3x3): 4x fewer, and 2.25 instead of 4 transformed floats per
    pixel (float32 error ~6e-6 relative instead of ~3e-7).
    "auto" (default): for 3x3 stride-1 layers F(4x4, 3x3) on images of at least
    ``WINOGRAD4_MIN_PIXELS`` pixels, F(2x2, 3x3) from ``WINOGRAD_MIN_PIXELS``, im2col below
    (and for every other layer).
    """

    ALGOS = ("auto", "im2col", "winograd", "winograd4")
    TILES = {"winograd": 2, "winograd4": 4}  # algo -> Winograd tile size m
    # Winograd's fixed costs (transforms, 16 small products) lose below this many pixels:
    # Conv2d(132, 128, 3) fwd+bwd, Winograd / im2col time: 0.58 at 128x128 and 64x64, 0.64 at
    # 32x32, 0.90 at 16x16, 1.23 at 8x8 (2 cores, default OpenBLAS)
    WINOGRAD_MIN_PIXELS = 16 * 16
    # F(4x4) wins from 32x32 (fwd+bwd, ms, F(2x2) / F(4x4) / im2col, 2 cores, native BLAS):
    # (32->32) 32x32 0.55 / 0.37 / 1.06, 128x128 8.6 / 5.1; (132->128) 32x32 4.0 / 3.7 / 5.5,
    # 128x128 48 / 31; at 16x16 F(4x4) ties (32 channels) or loses 2x (128 channels)
    WINOGRAD4_MIN_PIXELS = 32 * 32
    # keep_cols="auto": the largest buffer kept (the paper U-Net's level-0 3x3 convolution keeps
    # 16*132*H*W/4 floats: 33 MB at 128x128, 132 MB at 256x256, 528 MB at 512x512)
    KEEP_MAX_BYTES = 64 * 2**20

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: str = "zeros", bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32,
                 keep_cols: bool | str = "auto", algo: str = "auto"):
        if padding not in PADDINGS:
            raise ValueError(f"Conv2d: padding must be one of {PADDINGS}, got {padding!r}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"Conv2d: kernel_size must be odd and positive, got {kernel_size}")
        if stride < 1:
            raise ValueError(f"Conv2d: stride must be >= 1, got {stride}")
        if keep_cols not in (True, False, "auto"):
            raise ValueError(f"Conv2d: keep_cols must be True, False or 'auto', got {keep_cols!r}")
        if algo not in self.ALGOS:
            raise ValueError(f"Conv2d: algo must be one of {self.ALGOS}, got {algo!r}")
        if algo in self.TILES and (kernel_size != 3 or stride != 1):
            raise ValueError(f"Conv2d: algo={algo!r} needs kernel_size=3 and stride=1, got "
                             f"kernel_size={kernel_size}, stride={stride}")
        rng = np.random.default_rng() if rng is None else rng
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        bound = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype)) if bias \
            else None
        self.keep_cols, self.algo = keep_cols, algo
        self._cols = None
        self._cache = None
        self._tile = 0  # the Winograd tile size the cached forward pass used (0: im2col)

    @property
    def last_input_shape(self) -> tuple[int, ...] | None:
        """Shape of the input of the last forward pass (None before any)."""
        return None if self._cache is None else self._cache.x.shape

    def winograd_tile(self, H: int, W: int) -> int:
        """The Winograd tile size m forward uses on an H x W input (2 or 4), 0 for im2col
        (see ``algo``)."""
        if self.kernel_size != 3 or self.stride != 1 or self.algo == "im2col":
            return 0
        if self.algo in self.TILES:
            return self.TILES[self.algo]
        return 4 if H * W >= self.WINOGRAD4_MIN_PIXELS else \
            2 if H * W >= self.WINOGRAD_MIN_PIXELS else 0

    def uses_winograd(self, H: int, W: int) -> bool:
        """Whether forward on an H x W input runs Winograd (see ``algo``)."""
        return self.winograd_tile(H, W) > 0

    def set_keep_cols(self, keep: bool | str) -> None:
        """Keep (True), rebuild in backward (False) or "auto" (keep up to ``KEEP_MAX_BYTES``)
        the im2col matrix / Winograd tiles; False releases the layer's buffer."""
        if keep not in (True, False, "auto"):
            raise ValueError(f"Conv2d: keep_cols must be True, False or 'auto', got {keep!r}")
        self.keep_cols = keep
        if keep is False:
            self.release_buffer()

    def kept_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
        """Shape of the buffer forward keeps for backward on an input of ``input_shape`` (the
        im2col matrices or Winograd tiles), None if it keeps none (``keep_cols``, a 1x1
        stride-1 layer, or "auto" over ``KEEP_MAX_BYTES`` at the weights' dtype)."""
        N, _, H, W = input_shape
        k, pad = self.kernel_size, self.kernel_size // 2
        if self.keep_cols is False or (k == 1 and self.stride == 1):
            return None
        m = self.winograd_tile(H, W)
        if m:
            shape = (N, (m + 2) ** 2, self.in_channels, num_tiles(H, W, m))
        else:
            Ho, Wo = (H + 2 * pad - k) // self.stride + 1, (W + 2 * pad - k) // self.stride + 1
            shape = (N, self.in_channels * k * k, Ho * Wo)
        if self.keep_cols == "auto" and \
                math.prod(shape) * self.weight.data.itemsize > self.KEEP_MAX_BYTES:
            return None
        return shape

    def release_buffer(self) -> None:
        """Drop the kept-for-backward buffer (the next forward allocates it again if kept)."""
        self._cols = None

    def _buffer(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """The layer's own kept-for-backward buffer, reallocated only when the shape changes."""
        if self._cols is None or self._cols.shape != shape or self._cols.dtype != dtype:
            self._cols = np.empty(shape, dtype=dtype)
        return self._cols

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input("Conv2d", x, self.in_channels, self.weight.data.dtype)
        pad = self.kernel_size // 2
        H, W = x.shape[2:]
        if self.padding == "reflect" and min(H, W) <= pad:
            raise ValueError(f"Conv2d: spatial size {H}x{W} is too small for kernel "
                             f"{self.kernel_size} with reflect padding (needs > {pad})")
        if min(H, W) + 2 * pad < self.kernel_size:
            raise ValueError(f"Conv2d: spatial size {H}x{W} is too small for kernel "
                             f"{self.kernel_size}")
        b = None if self.bias is None else self.bias.data
        self._tile = self.winograd_tile(H, W)
        shape = self.kept_shape(x.shape)
        if shape is None:
            self.release_buffer()
        kept = None if shape is None else self._buffer(shape, x.dtype)
        if self._tile:
            out, self._cache = conv2d_winograd_forward(x, self.weight.data, b, self.padding,
                                                       kept, m=self._tile)
            return out
        out, self._cache = conv2d_forward(x, self.weight.data, b, self.stride, self.padding,
                                          kept)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        cache = self._need_cache(self._cache)
        if self._tile:
            dx, dw, db = conv2d_winograd_backward(dout, cache, need_dx=not self._skip_dx)
        else:
            dx, dw, db = conv2d_backward(dout, cache, need_dx=not self._skip_dx)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        self._used_cache()
        return dx

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding!r}, bias={self.bias is not None}"
                + (f", algo={self.algo!r}" if self.algo != "auto" else ""))


class BatchNorm2d(Module):
    """Batch normalisation over (N, H, W) per channel.

    Train mode normalises with the batch statistics and updates the running ones; eval mode
    uses the running statistics. Deep Image Prior fits AND produces its output in train mode.
    ``slope`` fuses a LeakyReLU(slope) after the affine map (None: plain batch norm); the
    fused form computes exactly BatchNorm2d followed by LeakyReLU, in one pass.
    """

    _buffer_names = ("running_mean", "running_var")

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5,
                 affine: bool = True, slope: float | None = None, dtype=np.float32):
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.slope = slope
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input("BatchNorm2d", x, self.num_features, self.running_mean.dtype)
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] < 2:
            raise ValueError("BatchNorm2d: batch statistics need more than one value per channel "
                             f"(input shape {x.shape})")
        gamma, beta = self._affine()
        slope = 1.0 if self.slope is None else self.slope
        out, self._cache = batchnorm_forward(x, gamma, beta, self.running_mean,
                                             self.running_var, self.training, self.momentum,
                                             self.eps, slope)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dgamma, dbeta = batchnorm_backward(dout, self._need_cache(self._cache))
        if self.weight is not None:
            self.weight.grad += dgamma
            self.bias.grad += dbeta
        self._used_cache()
        return dx

    def folded_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, shift)`` per channel with ``BN(x) = scale * x + shift`` for the statistics
        of the last forward pass: ``scale = gamma / sqrt(var + eps)``, ``shift = beta - mean *
        scale``, in the input's dtype with the kernel's own inverse std (what the codec folds;
        the fused LeakyReLU, if any, is not included)."""
        cache = self._need_cache(self._cache)
        scale = (cache.gamma * cache.istd).astype(cache.x.dtype)
        return scale, (cache.beta - cache.mean * scale).astype(cache.x.dtype)

    def _affine(self):
        if self.weight is not None:
            return self.weight.data, self.bias.data
        dtype = self.running_mean.dtype
        return np.ones(self.num_features, dtype), np.zeros(self.num_features, dtype)

    def extra_repr(self) -> str:
        act = "" if self.slope is None else f", fused LeakyReLU({self.slope})"
        return f"{self.num_features}, momentum={self.momentum}, eps={self.eps}{act}"


class LeakyReLU(Module):
    """out = x if x > 0 else negative_slope * x (Deep Image Prior uses 0.2)."""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = leaky_relu_backward(dout, self._need_cache(self._cache))
        self._used_cache()
        return dx

    def extra_repr(self) -> str:
        return f"{self.negative_slope}"


class ReLU(LeakyReLU):
    """out = max(x, 0)."""

    def __init__(self):
        super().__init__(0.0)

    def extra_repr(self) -> str:
        return ""


class Sigmoid(Module):
    """out = 1 / (1 + exp(-x)), computed without overflow for large |x|."""

    def __init__(self):
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out, self._cache = sigmoid_forward(x)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = sigmoid_backward(dout, self._need_cache(self._cache))
        self._used_cache()
        return dx


class Upsample(Module):
    """Upsample by an integer ``scale_factor``: "bilinear" (align_corners=False) or "nearest"."""

    def __init__(self, scale_factor: int = 2, mode: str = "bilinear"):
        if mode not in MODES:
            raise ValueError(f"Upsample: mode must be one of {MODES}, got {mode!r}")
        if int(scale_factor) != scale_factor or scale_factor < 1:
            raise ValueError(f"Upsample: scale_factor must be a positive integer, "
                             f"got {scale_factor}")
        self.scale_factor, self.mode = int(scale_factor), mode
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input("Upsample", x)
        out, self._cache = upsample_forward(x, self.scale_factor, self.mode)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = upsample_backward(dout, self._need_cache(self._cache))
        self._used_cache()
        return dx

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"
