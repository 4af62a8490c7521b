"""A task's options, declared once: the command line, the Python API and studies read them.

An :class:`Option` is data, not argparse: the CLI turns each into a flag
(:mod:`tinydip.cli.task_args`), a study file gives the same names as keys
(:func:`check_values`), and a task's ``from_options`` receives the values as a plain dict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One option of a task.

    * ``name``: the keyword (``add_noise``); the CLI flag is ``--add-noise``, a study key
      ``add_noise``.
    * ``parse``: text (or a typed TOML value) -> value, a one-line ValueError when wrong
      (:mod:`tinydip.io.values`); ``None`` for an on/off flag.
    * ``default``; ``choices`` (values allowed); ``metavar`` (the CLI's placeholder).
    * ``positional``: the CLI takes it without a flag (``IMAGE``); ``required``: must be
      given (for a positional: ``nargs`` is not ``?``).
    * ``group``: options sharing a group exclude each other; the task's
      ``required_groups`` must have one of theirs given.
    """

    name: str
    help: str
    parse: Callable[[object], object] | None = str
    default: object = None
    choices: tuple | None = None
    metavar: str | None = None
    positional: bool = False
    required: bool = False
    group: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def is_switch(self) -> bool:
        return self.parse is None

    def check(self, value: object) -> object:
        """The value as the task receives it, or ValueError (``--name: ...``)."""
        if self.is_switch:
            if not isinstance(value, bool):
                raise ValueError(f"{self.name} must be true or false, got {value!r}")
            return value
        try:
            out = self.parse(value)
        except ValueError as exc:
            msg = str(exc).removeprefix("expected ")
            raise ValueError(f"{self.name} must be {msg}") from None
        if self.choices is not None and out not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, "
                             f"got {value!r}")
        return out


def check_values(options: Sequence[Option], given: Mapping[str, object],
                 where: str) -> tuple[dict, list[str]]:
    """Typed values (defaults filled in) of ``given`` under ``options``, and the problems:
    unknown keys, bad values, two options of one group."""
    known = {o.name: o for o in options}
    problems = [f"{where}: unknown key {k!r} (allowed: {', '.join(sorted(known))})"
                for k in given if k not in known]
    values: dict = {}
    for o in options:
        if o.name not in given:
            values[o.name] = o.default
            continue
        try:
            values[o.name] = o.check(given[o.name])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    groups: dict[str, list[str]] = {}
    for o in options:
        if o.group and o.name in given and given[o.name] not in (None, False):
            groups.setdefault(o.group, []).append(o.name)
    problems += [f"{where}: give only one of {', '.join(names)}"
                 for names in groups.values() if len(names) > 1]
    return values, problems
