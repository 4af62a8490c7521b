"""Compatibility: the argparse value types live in :mod:`tinydip.argtypes` (tasks use them)."""

from ..argtypes import positive_float, positive_int

__all__ = ["positive_float", "positive_int"]
