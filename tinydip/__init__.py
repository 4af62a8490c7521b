"""tinydip: Deep Image Prior and Deep Decoder in NumPy + numba, with handwritten backprop.

Submodules load on first use (``tinydip.nn``, ``tinydip.Adam``, ...), so ``import tinydip``
is instant and the command line can answer Ctrl-C during start-up with one line.
"""

import importlib
import os

# numba's parallel kernels and OpenBLAS's GEMMs take turns on the same cores. GNU OpenMP (numba's
# threading layer here) spin-waits after every parallel region by default, stealing the cores
# the next GEMM needs; passive waiting measured 25-40% faster on a GEMM/kernel mix on 2 cores.
# Set before numba starts its thread pool; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["Adam", "SGD", "functional", "gradcheck", "nn", "optim", "__version__"]

_SUBMODULES = ("functional", "gradcheck", "nn", "optim")
_FROM_OPTIM = ("Adam", "SGD")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FROM_OPTIM:
        return getattr(importlib.import_module(".optim", __name__), name)
    raise AttributeError(f"module 'tinydip' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
