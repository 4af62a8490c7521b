"""The jobs on HxWxC images -- denoise, inpaint, super-resolve, ... -- as one registry.

Every task is one :class:`Task` declaration in :mod:`tinydip.tasks.catalogue` (registry:
:data:`TASKS`); ``tinydip.tasks.<api_name>`` is its Python function, e.g.::

    from tinydip.tasks import denoise, inpaint, super_resolve
    result = denoise(noisy, truth=clean, iters=2000)       # a TaskResult

Each builds the prior (the task's U-Net preset, or a Deep Decoder), fits it with
:func:`tinydip.fitting.fit.fit` through the task's operator and returns a :class:`TaskResult`
holding HxWxC images, PSNRs against the ground truth when one is given, and a JSON-ready
report.
"""

from __future__ import annotations

from ..models.nets import NETS
from . import catalogue  # noqa: F401  (registers the tasks)
from .registry import TASKS, Problem, Task, auto_rule_spec, get_task, register
from .runner import TaskResult, build_net, make_api, resolve_stop, run

denoise = make_api("denoise")
inpaint = make_api("inpaint")
super_resolve = make_api("sr")
deblur = make_api("deblur")

__all__ = ["NETS", "TASKS", "Problem", "Task", "TaskResult", "auto_rule_spec",
           "build_net", "deblur", "denoise", "get_task", "inpaint", "make_api", "register",
           "resolve_stop", "run", "super_resolve"]


def __getattr__(name: str):
    """``tinydip.tasks.<api_name>`` for every task registered by now (also one registered
    after import, e.g. by a user's own module)."""
    for task in TASKS.values():
        if task.api_name == name:
            return make_api(task)
    raise AttributeError(f"module 'tinydip.tasks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {t.api_name for t in TASKS.values()})
