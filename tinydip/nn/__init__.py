"""Tier 3: modules with parameters, buffers and train/eval modes (PyTorch names)."""

from .containers import Concat, Sequential
from .layers import BatchNorm2d, Conv2d, LeakyReLU, ReLU, Sigmoid, Upsample
from .losses import MSELoss
from .module import Module, Parameter

__all__ = [
    "BatchNorm2d",
    "Concat",
    "Conv2d",
    "LeakyReLU",
    "MSELoss",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Upsample",
]
