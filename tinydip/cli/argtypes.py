"""argparse value types: the checked parsers of :mod:`tinydip.io.values` (and the memory
size), whose one-line ``ValueError`` becomes argparse's exit-2 line."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import wraps

from ..io import values


def argtype(parse: Callable[[str], object]) -> Callable[[str], object]:
    """``parse`` as an argparse type: its ValueError message is argparse's error line."""

    @wraps(parse)
    def typed(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return typed


positive_int = argtype(values.positive_int)
nonnegative_int = argtype(values.nonnegative_int)
positive_float = argtype(values.positive_float)
nonnegative_float = argtype(values.nonnegative_float)
open_fraction = argtype(values.open_fraction)
learning_rate = argtype(values.learning_rate)
MAX_LR = values.MAX_LR


@argtype
def memory_size(text: str) -> int:
    """``4G``, ``500M``, ... -> bytes (see :func:`tinydip.fitting.memory.parse_size`)."""
    from ..fitting.memory import parse_size  # numpy only; keeps this module light

    return parse_size(text)
