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

from . import catalogue  # noqa: F401  (registers the tasks)
from .registry import TASKS, Problem, Task, auto_rule_spec, get_task, register
from .runner import NETS, TaskResult, build_net, make_api, resolve_stop, run

_API = {t.api_name: make_api(t) for t in TASKS.values()}
denoise = _API["denoise"]
inpaint = _API["inpaint"]
super_resolve = _API["super_resolve"]

__all__ = ["NETS", "TASKS", "Problem", "Task", "TaskResult", "auto_rule_spec",
           "build_net", "get_task", "make_api", "register", "resolve_stop", "run",
           *sorted(_API)]


def __getattr__(name: str):
    """``tinydip.tasks.<api_name>`` for every registered task (e.g. ``deblur``)."""
    if name in _API:
        return _API[name]
    raise AttributeError(f"module 'tinydip.tasks' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
