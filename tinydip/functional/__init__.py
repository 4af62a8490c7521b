"""Tier 2: the math. cs231n-style forward/backward pairs with a named cache.

``out, cache = op_forward(x, ...)`` then ``dx, *dparams = op_backward(dout, cache)``.
The caches of the convolutions and of batch norm are NamedTuples (:class:`ConvCache`,
:class:`WinogradCache`, :class:`BatchNormCache`), documented where they are made; only the
matching backward function reads them, and outside code uses the field names (or a public
method of the layer, e.g. ``BatchNorm2d.folded_affine``), never positions.
"""

from .activations import leaky_relu_backward, leaky_relu_forward, sigmoid_backward, sigmoid_forward
from .batchnorm import BatchNormCache, batchnorm_backward, batchnorm_forward
from .conv import ConvCache, conv2d_backward, conv2d_forward, conv2d_naive
from .losses import mse_loss, poisson_loss
from .upsample import upsample_backward, upsample_forward
from .winograd import WinogradCache

__all__ = [
    "BatchNormCache",
    "ConvCache",
    "WinogradCache",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv2d_backward",
    "conv2d_forward",
    "conv2d_naive",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "mse_loss",
    "poisson_loss",
    "sigmoid_backward",
    "sigmoid_forward",
    "upsample_backward",
    "upsample_forward",
]
