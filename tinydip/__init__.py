"""tinydip: Deep Image Prior and Deep Decoder in NumPy + numba, with handwritten backprop."""

import os

# numba's parallel kernels and OpenBLAS's GEMMs take turns on the same cores. GNU OpenMP (numba's
# threading layer here) spin-waits after every parallel region by default, stealing the cores
# the next GEMM needs; passive waiting measured 25-40% faster on a GEMM/kernel mix on 2 cores.
# Set before numba starts its thread pool; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import functional, gradcheck, nn, optim  # noqa: E402
from .optim import SGD, Adam  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Adam", "SGD", "functional", "gradcheck", "nn", "optim", "__version__"]
