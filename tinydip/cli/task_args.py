"""A task's declared options (:class:`tinydip.tasks.options.Option`) as argparse flags.

The library declares options as data; this adapter is the only place they meet argparse:
``--name`` flags (positionals for ``positional`` options), mutually exclusive groups, the
value parsers as argparse types (their one-line ValueError is argparse's exit-2 line).
"""

from __future__ import annotations

import argparse

from ..tasks.options import Option
from ..tasks.registry import Task
from .argtypes import argtype


def _add(target, o: Option) -> None:
    kw: dict = {"help": o.help}
    if o.is_switch:
        kw["action"] = "store_true"
    else:
        kw.update(type=argtype(o.parse), default=o.default, metavar=o.metavar)
        if o.choices is not None:
            kw["choices"] = o.choices
    if o.positional:
        target.add_argument(o.name, **({} if o.required else {"nargs": "?"}), **kw)
    else:
        target.add_argument(o.flag, dest=o.name, **({"required": True} if o.required else {}),
                            **kw)


def add_task_options(p: argparse.ArgumentParser, task: Task) -> None:
    """The task's own options on its subcommand (the shared ones are the caller's)."""
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for o in task.options:
        target = p
        if o.group is not None:
            if o.group not in groups:
                groups[o.group] = p.add_mutually_exclusive_group(
                    required=o.group in task.required_groups)
            target = groups[o.group]
        _add(target, o)


def task_values(task: Task, args: argparse.Namespace) -> dict:
    """The values ``task.from_options`` receives: its options, plus ``seed``."""
    return {**{o.name: getattr(args, o.name) for o in task.options}, "seed": args.seed}
