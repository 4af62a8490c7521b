"""The catalogue of layers: one list of small, checkable instances of every layer type.

Used by ``tinydip gradcheck`` (the table it prints), the layer tests (every case is
gradchecked in float64 and run in float32, ``tests/test_catalogue.py``) and the PyTorch
mirror's cross-check (``benchmarks/torch_models.py``, optional). A test asserts that every
module class exported by :mod:`tinydip.nn` appears in it, so a new layer cannot skip the
checks: see DEVELOPERS.md, "How to add a layer".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .containers import Concat, Sequential
from .layers import BatchNorm2d, Conv2d, LeakyReLU, ReLU, Sigmoid, Upsample
from .module import Module

SMOOTH_TOL = 1e-7  # max relative error of one layer's gradients (float64)
NETWORK_TOL = 1e-5  # of a small network (errors add up over layers)


@dataclass(frozen=True)
class LayerCase:
    """One checkable layer: ``build(rng)`` makes it (float32), the input has ``shape``.

    ``input``: "normal" (standard normal), "away_from_kink" (|x| >= 0.1: ReLU-like layers are
    not differentiable at 0) or "wide" (3 x normal: reaches a sigmoid's tails).
    """

    label: str
    build: Callable[[np.random.Generator], Module]
    shape: tuple[int, ...]
    tol: float = SMOOTH_TOL
    input: str = "normal"

    def make_input(self, rng: np.random.Generator) -> np.ndarray:
        x = rng.standard_normal(self.shape)
        if self.input == "away_from_kink":
            return np.sign(x) * (np.abs(x) + 0.1)
        return 3 * x if self.input == "wide" else x


def _bn_eval(rng: np.random.Generator) -> BatchNorm2d:
    bn = BatchNorm2d(3).eval()
    bn.running_mean[:] = rng.standard_normal(3)
    bn.running_var[:] = rng.uniform(0.5, 2, 3)
    return bn


def _tiny_unet(rng: np.random.Generator) -> Sequential:
    def conv(cin, cout, k, s=1):
        return Conv2d(cin, cout, k, s, "reflect", rng=rng)

    deeper = Sequential(conv(3, 4, 3, 2), BatchNorm2d(4), LeakyReLU(0.2), Upsample(2))
    skip = Sequential(conv(3, 2, 1), BatchNorm2d(2), LeakyReLU(0.2))
    return Sequential(conv(2, 3, 3), BatchNorm2d(3, slope=0.2), Concat(skip, deeper, Sequential()),
                      BatchNorm2d(9), conv(9, 3, 3), BatchNorm2d(3, slope=0.2), conv(3, 2, 1),
                      Sigmoid())


CASES: tuple[LayerCase, ...] = (
    LayerCase("Conv2d 3x3 zeros", lambda r: Conv2d(3, 4, 3, rng=r), (2, 3, 7, 6)),
    LayerCase("Conv2d 3x3 reflect s2", lambda r: Conv2d(3, 4, 3, 2, "reflect", rng=r),
              (2, 3, 7, 6)),
    LayerCase("Conv2d 5x5 reflect", lambda r: Conv2d(2, 3, 5, padding="reflect", rng=r),
              (1, 2, 6, 5)),
    LayerCase("Conv2d 1x1", lambda r: Conv2d(3, 4, 1, rng=r), (2, 3, 5, 4)),
    LayerCase("Conv2d 3x3 Winograd reflect",
              lambda r: Conv2d(3, 4, 3, padding="reflect", rng=r, algo="winograd"),
              (2, 3, 7, 6)),
    LayerCase("BatchNorm2d train", lambda r: BatchNorm2d(3), (2, 3, 5, 4)),
    LayerCase("BatchNorm2d eval", _bn_eval, (2, 3, 5, 4)),
    LayerCase("BatchNorm2d+LeakyReLU fused", lambda r: BatchNorm2d(3, slope=0.2), (2, 3, 5, 4)),
    LayerCase("ReLU", lambda r: ReLU(), (2, 3, 4, 5), input="away_from_kink"),
    LayerCase("LeakyReLU(0.2)", lambda r: LeakyReLU(0.2), (2, 3, 4, 5), input="away_from_kink"),
    LayerCase("Sigmoid", lambda r: Sigmoid(), (2, 3, 4, 5), input="wide"),
    LayerCase("Upsample bilinear x2", lambda r: Upsample(2), (2, 3, 4, 5)),
    LayerCase("Upsample nearest x3", lambda r: Upsample(3, "nearest"), (1, 2, 3, 4)),
    LayerCase("tiny U-Net with skip fork", _tiny_unet, (2, 2, 6, 6), tol=NETWORK_TOL),
)


def cases(rng: np.random.Generator) -> Iterator[tuple[str, Module, np.ndarray, float]]:
    """``(label, module, input, tolerance)`` for every case, built from ``rng`` in order."""
    for case in CASES:
        module = case.build(rng)
        yield case.label, module, case.make_input(rng), case.tol


def covered_types() -> set[type]:
    """Every module class that occurs in the catalogue (containers' children included)."""
    rng = np.random.default_rng(0)
    return {type(m) for case in CASES for m in case.build(rng).modules()}
