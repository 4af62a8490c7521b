"""Analytic operation counts for tinydip networks (shared by the benchmark scripts)."""

from __future__ import annotations

import numpy as np

from tinydip import nn


def conv_flops(net: nn.Module, x: np.ndarray) -> tuple[float, float]:
    """(forward GFLOP, forward+backward GFLOP) of every Conv2d for input x.

    A convolution producing (F, Ho, Wo) from C channels with a KxK kernel costs
    2*F*C*K*K*Ho*Wo flops forward; backward costs the same again for dW and for dX, so a
    training iteration costs three times the forward. (Element-wise layers are not counted:
    they are memory-bound and negligible in flops.)
    """
    net(x)
    fwd = 0.0
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            N, _, H, W = m.last_input_shape
            pad = m.kernel_size // 2
            Ho = (H + 2 * pad - m.kernel_size) // m.stride + 1
            Wo = (W + 2 * pad - m.kernel_size) // m.stride + 1
            fwd += 2.0 * m.out_channels * m.in_channels * m.kernel_size**2 * Ho * Wo * N
    return fwd / 1e9, 3 * fwd / 1e9
