"""The Deep Image Prior encoder-decoder ("skip" network), built from Sequential + Concat.

Level i (0 = finest) of the recursion, with input depth d_in:

    Concat(skip_i, deeper_i)                 skip_i  = 1x1 conv -> BN -> LeakyReLU   (if skip>0)
      [BN]                                   (bn_after_concat: the original code has it)
    3x3 conv -> BN -> LeakyReLU -> 1x1 conv -> BN -> LeakyReLU

    deeper_i = 3x3 conv stride 2 -> BN -> LeakyReLU -> 3x3 conv -> BN -> LeakyReLU
               -> level i+1 (if any) -> Upsample x2

and finally a 1x1 conv to the output channels and a sigmoid. Every BN followed by a LeakyReLU
is one fused BatchNorm2d(slope=...) module (same function, one pass over memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ..nn import BatchNorm2d, Concat, Conv2d, Module, Sequential, Sigmoid
from .prior import Prior


def _per_level(value, levels: int, name: str) -> tuple:
    if isinstance(value, (int, str)):
        return (value,) * levels
    value = tuple(value)
    if len(value) != levels:
        raise ValueError(f"skip_unet: {name} has {len(value)} entries for {levels} levels")
    return value


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the skip network. Per-level settings accept one value or a sequence."""

    in_channels: int = 32
    out_channels: int = 3
    channels_down: Sequence[int] = (128,) * 5
    channels_up: Sequence[int] = (128,) * 5
    channels_skip: Sequence[int] = (4,) * 5
    kernel_down: int | Sequence[int] = 3
    kernel_up: int | Sequence[int] = 3
    kernel_skip: int = 1
    padding: str = "reflect"
    upsample_mode: str | Sequence[str] = "bilinear"
    slope: float = 0.2
    bn_after_concat: bool = True
    need_1x1_up: bool = True
    bias: bool = True
    conv_algo: str = "auto"  # Conv2d's algo for the 3x3 stride-1 convs ("im2col": no Winograd)
    extra: dict = field(default_factory=dict)

    @property
    def levels(self) -> int:
        return len(tuple(self.channels_down))


PRESETS: dict[str, UNetConfig] = {
    # Named by architecture: "skip<levels>-<channels>", then what differs from the default.
    # Ulyanov et al. 2018, denoising and super-resolution: 5 levels of 128, 4-channel skips.
    "skip5-128": UNetConfig(),
    # Inpainting: wide (128-channel) skips, nearest upsampling.
    "skip5-128-wide-nearest": UNetConfig(channels_skip=(128,) * 5, upsample_mode="nearest"),
    # The seed notebook: 128 x 5, skips (0, 4, 4, 4, 4), bilinear, zero padding, no BN after
    # the concatenation.
    "notebook": UNetConfig(channels_skip=(0, 4, 4, 4, 4), padding="zeros",
                           bn_after_concat=False),
}

def unet_config(preset: str = "skip5-128", **overrides) -> UNetConfig:
    """A preset configuration (see ``PRESETS``; a task's preset is ``Task.prior``) with fields
    overridden by keyword."""
    if preset not in PRESETS:
        raise ValueError(f"unknown U-Net preset {preset!r}; choose from {sorted(PRESETS)}")
    return replace(PRESETS[preset], **overrides)


def skip_unet(config: UNetConfig | None = None, rng: np.random.Generator | None = None,
              dtype=np.float32, **overrides) -> Prior:
    """Build the Deep Image Prior skip network (default: the paper's denoising preset).

    Input (N, in_channels, H, W) with H, W multiples of 2**levels; output (N, out_channels,
    H, W) in (0, 1). ``overrides`` replace fields of ``config``.
    """
    cfg = replace(config or UNetConfig(), **overrides)
    rng = np.random.default_rng() if rng is None else rng
    L = cfg.levels
    down = _per_level(cfg.channels_down, L, "channels_down")
    up = _per_level(cfg.channels_up, L, "channels_up")
    skip = _per_level(cfg.channels_skip, L, "channels_skip")
    kdown = _per_level(cfg.kernel_down, L, "kernel_down")
    kup = _per_level(cfg.kernel_up, L, "kernel_up")
    umode = _per_level(cfg.upsample_mode, L, "upsample_mode")

    if cfg.conv_algo not in Conv2d.ALGOS:
        raise ValueError(f"skip_unet: conv_algo must be one of {Conv2d.ALGOS}, "
                         f"got {cfg.conv_algo!r}")

    def conv(cin, cout, k, stride=1):
        algo = cfg.conv_algo if k == 3 and stride == 1 or cfg.conv_algo == "im2col" else "auto"
        return Conv2d(cin, cout, k, stride, cfg.padding, cfg.bias, rng, dtype, algo=algo)

    def bn_act(c):
        return BatchNorm2d(c, slope=cfg.slope, dtype=dtype)

    from ..nn import Upsample  # local: keeps the import list above to the containers

    # sizes must be multiples of 2**L; the coarsest maps must be at least 2x2 whatever the
    # padding (reflection needs 2 pixels, train-mode BatchNorm more than one value per
    # channel); z has the output's spatial size
    model = Prior(in_channels=cfg.in_channels, downsampling=2**L, z_stride=1,
                  min_size=2 ** (L + 1), config=cfg)
    current = model
    depth = cfg.in_channels
    for i in range(L):
        deeper = Sequential(conv(depth, down[i], kdown[i], 2), bn_act(down[i]),
                            conv(down[i], down[i], kdown[i]), bn_act(down[i]))
        k = down[i] if i == L - 1 else up[i + 1]
        inner = Sequential()
        if i < L - 1:
            deeper.add(inner)
        deeper.add(Upsample(2, umode[i]))
        if skip[i]:
            branch = Sequential(conv(depth, skip[i], cfg.kernel_skip), bn_act(skip[i]))
            current.add(Concat(branch, deeper))
        else:
            current.add(deeper)
        if cfg.bn_after_concat:
            current.add(BatchNorm2d(skip[i] + k, dtype=dtype))
        current.add(conv(skip[i] + k, up[i], kup[i]))
        current.add(bn_act(up[i]))
        if cfg.need_1x1_up:
            current.add(conv(up[i], up[i], 1))
            current.add(bn_act(up[i]))
        depth = down[i]
        current = inner
    model.add(conv(up[0], cfg.out_channels, 1))
    model.add(Sigmoid())
    return model


def check_size(model: Module, height: int, width: int) -> None:
    """Raise a clear ValueError if ``model`` cannot produce an output of this size."""
    m = model.downsampling if isinstance(model, Prior) else 1
    if height % m or width % m or height < m or width < m:
        raise ValueError(f"{height}x{width} output is not possible for this network: sizes must "
                         f"be positive multiples of {m} (e.g. {m * max(1, height // m)}x"
                         f"{m * max(1, width // m)}); tinydip pads other sizes automatically")
