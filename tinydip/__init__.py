"""tinydip: Deep Image Prior and Deep Decoder in NumPy + numba, with handwritten backprop."""

from . import functional, gradcheck, nn, optim
from .optim import SGD, Adam

__version__ = "0.1.0"
__all__ = ["Adam", "SGD", "functional", "gradcheck", "nn", "optim", "__version__"]
