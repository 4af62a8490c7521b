"""``Choice``: a setting that is one of a few named values -- listed once, still a ``str``.

``class Output(Choice): SMOOTHED = "smoothed"; ...``: members compare and hash as their
text (``Output.BEST == "best"``, dict lookups and JSON work unchanged), print as their text
(``f"{Output.BEST}"`` is ``best`` on every Python version), and ``Output.of(text)`` turns
a user's text into a member or a one-line ValueError that lists the choices.
"""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """Base of the few-valued settings (see the module docstring)."""

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)

    @classmethod
    def of(cls, value: str | Choice, what: str | None = None):
        """The member whose value is ``value``; else ValueError naming the choices."""
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"{what or cls.__name__.lower()} must be one of "
                             f"{', '.join(cls.values())}, got {value!r}") from None
