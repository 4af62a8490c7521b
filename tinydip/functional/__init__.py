"""Tier 2: the math. cs231n-style forward/backward pairs with a named cache.

``out, cache = op_forward(x, ...)`` then ``dx, *dparams = op_backward(dout, cache)``.
"""

from .activations import leaky_relu_backward, leaky_relu_forward, sigmoid_backward, sigmoid_forward
from .batchnorm import batchnorm_backward, batchnorm_forward
from .conv import conv2d_backward, conv2d_forward, conv2d_naive
from .losses import mse_loss
from .upsample import upsample_backward, upsample_forward

__all__ = [
    "batchnorm_backward",
    "batchnorm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_naive",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "mse_loss",
    "sigmoid_backward",
    "sigmoid_forward",
    "upsample_backward",
    "upsample_forward",
]
