"""Optimisers and learning-rate schedules, PyTorch-style: an optimiser updates parameters in
place from their gradients (``optimizers.py``: Adam, SGD); a schedule beside it sets its
``lr`` before every step (``schedules.py``: ConstantLR, CosineLR; ``.step()`` after each)."""

from .optimizers import SGD, Adam, Optimizer
from .schedules import SCHEDULES, ConstantLR, CosineLR, LRSchedule, make_schedule

__all__ = ["SGD", "Adam", "Optimizer", "SCHEDULES", "ConstantLR", "CosineLR", "LRSchedule",
           "make_schedule"]
