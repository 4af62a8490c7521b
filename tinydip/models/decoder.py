"""The Deep Decoder (Heckel & Hand, 2019): an underparameterised image generator.

For d layers with k channels and c output channels, from z of shape (k, H/2^(d-1), W/2^(d-1)):

    repeat d-1 times:  1x1 conv (k->k, no bias) -> Upsample x2 (bilinear) -> ReLU -> BN
    then:              1x1 conv (k->k, no bias) -> ReLU -> BN
    finally:           1x1 conv (k->c, no bias) -> sigmoid

Parameters: d*k^2 (convs) + 2*d*k (BN affine) + k*c; for d = 6: N = 6k^2 + 12k + kc
(25,536 for k=64 RGB; 100,224 for k=128).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..nn import BatchNorm2d, Conv2d, Module, ReLU, Sigmoid, Upsample
from .prior import Prior


def deep_decoder(k: int = 128, layers: int = 6, out_channels: int = 3,
                 upsample_mode: str = "bilinear", rng: np.random.Generator | None = None,
                 dtype=np.float32, norm: Callable[[int], Module] | None = None) -> Prior:
    """Build a Deep Decoder; input z has shape (N, k, H / 2**(layers-1), W / 2**(layers-1)).

    ``norm(k)`` builds each normalisation layer (default ``BatchNorm2d(k, dtype=dtype)``; the
    codec's folded decoder passes a per-channel affine map).
    """
    if k < 1 or layers < 1 or out_channels < 1:
        raise ValueError(f"deep_decoder: k, layers and out_channels must be >= 1, got "
                         f"{k}, {layers}, {out_channels}")
    rng = np.random.default_rng() if rng is None else rng
    if norm is None:
        def norm(c: int) -> Module:
            return BatchNorm2d(c, dtype=dtype)
    m = 2 ** (layers - 1)
    net = Prior(in_channels=k, downsampling=m, z_stride=m, min_size=m,  # z is m times smaller
                config={"k": k, "layers": layers, "out_channels": out_channels,
                        "upsample_mode": upsample_mode})
    for i in range(layers):
        net.add(Conv2d(k, k, 1, bias=False, rng=rng, dtype=dtype))
        if i < layers - 1:
            net.add(Upsample(2, upsample_mode))
        net.add(ReLU())
        net.add(norm(k))
    net.add(Conv2d(k, out_channels, 1, bias=False, rng=rng, dtype=dtype))
    net.add(Sigmoid())
    return net


def decoder_num_parameters(k: int, layers: int = 6, out_channels: int = 3) -> int:
    """The closed form layers*k^2 + 2*layers*k + k*out_channels (6k^2 + 12k + kc for 6 layers)."""
    return layers * k * k + 2 * layers * k + k * out_channels
