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


from .base import Identity, LinearOperator, Mask, adjoint_error
from .blur import KERNEL_SPECS, Blur, parse_kernel
from .downsampler import Downsampler

__all__ = ["LinearOperator", "Identity", "Mask", "Downsampler", "Blur", "parse_kernel",
           "adjoint_error", "KERNEL_SPECS"]
