"""argparse value types shared by every subcommand and task option (errors become argparse's
exit-2 line)."""

from __future__ import annotations

import argparse
import math


def _whole(text: str, minimum: int, want: str) -> int:
    """``int(text)`` if it is at least ``minimum``, else argparse's one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {want}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _whole(text, 1, "a positive number")


def nonnegative_int(text: str) -> int:
    return _whole(text, 0, "0 or more")


def _finite_float(text: str, ok, want: str) -> float:
    """``float(text)`` if it is finite and ``ok(value)``, else argparse's one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {want}, got {text}")
    return value


def positive_float(text: str) -> float:
    return _finite_float(text, lambda v: v > 0, "a positive finite number")


def nonnegative_float(text: str) -> float:
    return _finite_float(text, lambda v: v >= 0, "a finite number >= 0")


MAX_LR = 1.0  # Adam's step is ~lr per weight: beyond this a fit cannot work


def learning_rate(text: str) -> float:
    """A positive finite learning rate of at most :data:`MAX_LR`."""
    value = positive_float(text)
    if value > MAX_LR:
        raise argparse.ArgumentTypeError(
            f"learning rate {text} is too high: Adam moves every weight by about lr per step, "
            f"so above {MAX_LR:g} a fit diverges (typical: 0.001-0.05)")
    return value


def memory_size(text: str) -> int:
    """``4G``, ``500M``, ... -> bytes (see :func:`tinydip.memory.parse_size`)."""
    from .memory import parse_size  # numpy only; keeps this module light

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_fraction(text: str) -> float:
    """A number strictly between 0 and 1 (e.g. ``--drop 0.5``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1 (exclusive), "
                                         f"got {text}")
    return value
