"""Tier 1: numba kernels (arrays and loops only, no autograd logic).

Every kernel is written as a plain Python function ``_name`` and jitted on a separate line
(``name = njit(cache=True, parallel=True)(_name)``) so tests and debuggers can run the
un-jitted version; ``NUMBA_DISABLE_JIT=1`` turns all of them back into plain Python.
"""

from .batchnorm import bn_backward, bn_forward_train, bn_stats, invstd
from .block_match import aggregate, block_match, gather
from .elementwise import adam_update, leaky_relu_backward, leaky_relu_forward
from .im2col import col2im, conv_out_size, im2col
from .upsample import bilinear_backward, bilinear_forward, nearest_backward, nearest_forward
from .winograd import (
    winograd_input,
    winograd_input_adjoint,
    winograd_output,
    winograd_output_adjoint,
)
from .winograd4 import (
    winograd4_input,
    winograd4_input_adjoint,
    winograd4_output,
    winograd4_output_adjoint,
)

__all__ = [
    "adam_update",
    "aggregate",
    "bilinear_backward",
    "bilinear_forward",
    "block_match",
    "bn_backward",
    "bn_forward_train",
    "bn_stats",
    "col2im",
    "conv_out_size",
    "gather",
    "im2col",
    "invstd",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "nearest_backward",
    "nearest_forward",
    "winograd4_input",
    "winograd4_input_adjoint",
    "winograd4_output",
    "winograd4_output_adjoint",
    "winograd_input",
    "winograd_input_adjoint",
    "winograd_output",
    "winograd_output_adjoint",
]
