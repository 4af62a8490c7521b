"""PyTorch mirrors of tinydip's networks, for benchmarks and optional cross-checks only.

``torch_mirror(net)`` walks a tinydip module tree and builds the identical torch.nn network
(same layer types, shapes and, if ``copy_weights``, the same parameters), so the two can be
timed against each other or compared output for output. tinydip itself never imports torch.
``MIRRORED`` lists the layer types it knows; ``tests/test_catalogue.py`` checks that it covers
the layer catalogue (``tinydip.nn.catalogue``) and, with torch installed, that every
catalogue case gives the same output and input gradient as its mirror.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn as tnn

from tinydip import nn


class TorchConcat(tnn.Module):
    """Run branches on one input, centre-crop to the smallest size, concatenate channels."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = tnn.ModuleList(branches)

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        h = min(o.shape[2] for o in outs)
        w = min(o.shape[3] for o in outs)
        crops = []
        for o in outs:
            t, l = (o.shape[2] - h) // 2, (o.shape[3] - w) // 2
            crops.append(o[:, :, t:t + h, l:l + w])
        return torch.cat(crops, dim=1)


MIRRORED = (nn.Sequential, nn.Concat, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU,
            nn.Sigmoid, nn.Upsample)


def _param(a: np.ndarray) -> tnn.Parameter:
    return tnn.Parameter(torch.from_numpy(np.array(a)))


def torch_mirror(module: nn.Module, copy_weights: bool = True) -> tnn.Module:
    """The torch.nn equivalent of a tinydip module tree (float32 or float64 like the source)."""
    if isinstance(module, nn.Sequential):
        return tnn.Sequential(*[torch_mirror(m, copy_weights) for m in module.layers])
    if isinstance(module, nn.Concat):
        return TorchConcat(*[torch_mirror(b, copy_weights) for b in module.branches])
    if isinstance(module, nn.Conv2d):
        k, pad = module.kernel_size, module.kernel_size // 2
        conv = tnn.Conv2d(module.in_channels, module.out_channels, k, module.stride,
                          padding=0 if module.padding == "reflect" else pad,
                          bias=module.bias is not None)
        if copy_weights:
            conv.weight = _param(module.weight.data)
            if module.bias is not None:
                conv.bias = _param(module.bias.data)
        conv = conv.to(torch.float64 if module.weight.data.dtype == np.float64 else torch.float32)
        if module.padding == "reflect" and pad:
            return tnn.Sequential(tnn.ReflectionPad2d(pad), conv)
        return conv
    if isinstance(module, nn.BatchNorm2d):
        bn = tnn.BatchNorm2d(module.num_features, eps=module.eps, momentum=module.momentum,
                             affine=module.weight is not None)
        if copy_weights and module.weight is not None:
            bn.weight = _param(module.weight.data)
            bn.bias = _param(module.bias.data)
        bn = bn.to(torch.float64 if module.running_mean.dtype == np.float64 else torch.float32)
        if module.slope is not None:
            return tnn.Sequential(bn, tnn.LeakyReLU(module.slope))
        return bn
    if isinstance(module, nn.ReLU):
        return tnn.ReLU()
    if isinstance(module, nn.LeakyReLU):
        return tnn.LeakyReLU(module.negative_slope)
    if isinstance(module, nn.Sigmoid):
        return tnn.Sigmoid()
    if isinstance(module, nn.Upsample):
        if module.mode == "bilinear":
            return tnn.Upsample(scale_factor=module.scale_factor, mode="bilinear",
                                align_corners=False)
        return tnn.Upsample(scale_factor=module.scale_factor, mode="nearest")
    raise TypeError(f"no torch mirror for {type(module).__name__}")
