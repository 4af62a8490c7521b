"""tinydip: Deep Image Prior and Deep Decoder in NumPy + numba, with handwritten backprop.

Submodules load on first use (``tinydip.nn``, ``tinydip.Adam``, ...), so ``import tinydip``
is instant and the command line can answer Ctrl-C during start-up with one line.
"""

import importlib
import os

# numba's parallel kernels and the GEMM blocks take turns on the same cores. GNU OpenMP (numba's
# threading layer here) by default spin-waits ~300k rounds after every parallel region, stealing
# the cores the next GEMM needs; fully passive waiting (spin count 0) instead puts the threads to
# sleep after each region, and waking them costs ~90 us per kernel launch -- 10 ms of the width-32
# U-Net's Adam alone (112 launches). A short spin (10k rounds, ~10-20 us) keeps back-to-back
# kernels cheap and still leaves the cores to the GEMMs: width 32 at 128x128 80 -> 52 ms/it,
# width 16 52 -> 28, width 128 unchanged (benchmarks/README.md, "Thread wake-ups").
# Set before numba starts its thread pool; a user's own settings win.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "10000")

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
