"""The process a learner's file runs in (``python -m tinydip.exercises.child NAME PATH FD``).

:func:`tinydip.exercises.runner.check` starts it; it imports the learner's file, runs the
exercise's checks and reports each step as one JSON line on the pipe ``FD``:
``{"ready": true}`` (the checker is imported, no learner code has run yet),
``{"compiling": true|false}`` (numba compiles: no time limit meanwhile),
``{"imported": true}``, ``{"start": NAME}`` then ``{"result": NAME, "passed": ..,
"message": ..}`` per check, and ``{"done": N}``. The verdict is the parent's: it prints
PASS only for a result it read here, and a pass needs every check's result and ``done``.
Whatever the learner's code prints goes to this process's stdout/stderr, which the parent
keeps apart from the verdict; ``sys.exit`` in it is a failed check here, and ``os._exit``,
a crash or a hang leave results missing, which the parent reports as failures.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from numba.core import event

from .checks import Check, CheckResult, Fail, load_learner, run_suite
from .registry import get


class _Pipe:
    def __init__(self, fd: int):
        self.f = os.fdopen(fd, "w", encoding="utf-8", buffering=1)

    def send(self, **msg) -> None:
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()


class _Compiling(event.Listener):
    def __init__(self, pipe: _Pipe):
        self.pipe = pipe

    def on_start(self, ev) -> None:
        self.pipe.send(compiling=True)

    def on_end(self, ev) -> None:
        self.pipe.send(compiling=False)


def _exit_message(exc: SystemExit, when: str) -> str:
    return (f"your code called sys.exit({exc.code!r}) {when}: a check cannot pass by "
            "exiting; return the result instead")


def _guarded(check: Check) -> Check:
    def run(learner) -> None:
        try:
            check.run(learner)
        except SystemExit as exc:
            raise Fail(_exit_message(exc, "inside the check")) from None
    return Check(check.name, run)


def main(argv: list[str]) -> int:
    name, path, fd = argv[0], Path(argv[1]), int(argv[2])
    pipe = _Pipe(fd)
    exercise = get(name)
    pipe.send(ready=True)
    with event.install_listener("numba:compile", _Compiling(pipe)):
        try:
            learner = load_learner(path)
        except ValueError as exc:  # the learner's import failed: a FAIL, not bad input
            pipe.send(result="import your file", passed=False, message=str(exc))
            return 0
        except SystemExit as exc:
            pipe.send(result="import your file", passed=False,
                      message=_exit_message(exc, "while being imported"))
            return 0
        pipe.send(imported=True)
        import numpy as np

        np.seterr(all="ignore")  # the learner's overflow/0-0 warnings are not a check's business
        previous = None
        for check in exercise.suite:
            pipe.send(start=check.name)
            (result,) = run_suite([_guarded(check)], learner)
            shown = _same_todo(result, previous)
            previous = result.message
            pipe.send(result=shown.name, passed=shown.passed, message=shown.message)
    pipe.send(done=len(exercise.suite))
    return 0


def _same_todo(result: CheckResult, previous: str | None) -> CheckResult:
    if result.message.startswith("not implemented yet") and result.message == previous:
        return CheckResult(result.name, False, "not implemented yet (same TODO)")
    return result


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
