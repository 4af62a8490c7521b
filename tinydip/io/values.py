"""Values typed by a person -- on the command line, in a study file -- parsed and checked.

Each parser takes the text (or, from a TOML study file, an already typed value) and returns
the value, or raises a one-line :class:`ValueError` saying what was expected. The command
line turns them into argparse types (:mod:`tinydip.cli.argtypes`); the task options
(:class:`tinydip.tasks.options.Option`) use them for both the CLI and studies.
"""

from __future__ import annotations

import math


def _whole(text: object, minimum: int, want: str) -> int:
    """``int(text)`` if it is at least ``minimum``, else a one-line ValueError."""
    if isinstance(text, bool) or isinstance(text, float) and not text.is_integer():
        raise ValueError(f"expected a whole number, got {text!r}")
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise ValueError(f"expected {want}, got {value}")
    return value


def positive_int(text: object) -> int:
    return _whole(text, 1, "a positive number")


def nonnegative_int(text: object) -> int:
    return _whole(text, 0, "0 or more")


def _finite_float(text: object, ok, want: str) -> float:
    """``float(text)`` if it is finite and ``ok(value)``, else a one-line ValueError."""
    if isinstance(text, bool):
        raise ValueError(f"expected a number, got {text!r}")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or not ok(value):
        raise ValueError(f"expected {want}, got {text}")
    return value


def positive_float(text: object) -> float:
    return _finite_float(text, lambda v: v > 0, "a positive finite number")


def nonnegative_float(text: object) -> float:
    return _finite_float(text, lambda v: v >= 0, "a finite number >= 0")


def open_fraction(text: object) -> float:
    """A number strictly between 0 and 1 (e.g. ``--drop 0.5``)."""
    return _finite_float(text, lambda v: 0 < v < 1,
                         "a fraction between 0 and 1 (exclusive)")


def noise_sigma(text: object) -> float:
    """A Gaussian noise level on the 0-255 scale: a number in (0, 255]."""
    return _finite_float(text, lambda v: 0 < v <= 255, "a number in (0, 255]")


MAX_LR = 1.0  # Adam's step is ~lr per weight: beyond this a fit cannot work


def learning_rate(text: object) -> float:
    """A positive finite learning rate of at most :data:`MAX_LR`."""
    value = positive_float(text)
    if value > MAX_LR:
        raise ValueError(
            f"learning rate {text} is too high: Adam moves every weight by about lr per step, "
            f"so above {MAX_LR:g} a fit diverges (typical: 0.001-0.05)")
    return value


def text(value: object) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty text, got {value!r}")
    return value
