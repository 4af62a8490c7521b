"""What the ``tinydip exercise`` commands do: write a stub, check a learner's file.

A learner's file runs in a child process (:mod:`.child`) with a time limit per check; the
verdict is made here from what the child reports, so nothing the learner's code does
(``sys.exit``, ``os._exit``, printing, hanging, crashing) can turn into a pass.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..runtime.jit_notice import MESSAGE as COMPILE_MESSAGE
from . import progress
from .checks import CheckResult, load_learner, run_suite
from .registry import get

TIME_LIMIT = 10.0  # seconds per check (and for importing the learner's file)
STARTUP_LIMIT = 300.0  # the child importing tinydip (no learner code runs yet; busy machine)
OUTPUT_LIMIT = 20_000  # bytes of the learner's printed output shown (the end of it)
Log = Callable[[str], object]


class ExerciseFileError(ValueError):
    """The stub would overwrite a file, or the learner's file is missing."""


def start(name: str, folder: str | os.PathLike = ".", force: bool = False,
          level: str = "guided") -> Path:
    """Write ``<name>.py`` (the stub) into ``folder``; refuse to overwrite without ``force``."""
    exercise = get(name)
    folder = Path(folder)
    if not folder.is_dir():
        raise ExerciseFileError(f"folder {folder} does not exist")
    path = folder / f"{name}.py"
    if path.exists() and not force:
        raise ExerciseFileError(f"{path} already exists; not overwriting your work (use "
                                "--force to start over)")
    path.write_text(exercise.stub_text(level), encoding="utf-8")  # guided or derive
    progress.record(".", name, progress.STARTED)  # where 'exercise list' looks
    return path


def check(name: str, file: str | os.PathLike | None = None, *, isolated: bool = True,
          time_limit: float = TIME_LIMIT, log: Log | None = None
          ) -> tuple[Path, list[CheckResult]]:
    """Run the checks of ``name`` on the learner's file (default ``./<name>.py``) and record
    progress in the working folder (where ``tinydip exercise list`` looks).

    ``isolated`` (the default, and what ``tinydip exercise check`` does): the learner's code
    runs in a child process (:mod:`.child`) with ``time_limit`` seconds per check; a pass
    is only a result this process read from the child for every check, so ``sys.exit``,
    ``os._exit``, a crash, a hang or printed text can fail a check but never pass one.
    ``log`` receives notices (numba compiling) and what the learner's code printed.
    ``isolated=False`` imports the file here (fast; for tests of the checks themselves).
    """
    exercise = get(name)
    path = Path(file) if file is not None else Path(f"{name}.py")
    if not path.is_file():
        raise ExerciseFileError(f"{path} not found; start the exercise with "
                                f"'tinydip exercise start {name}' (or pass --file PATH)")
    if isolated:
        results = _run_isolated(name, [c.name for c in exercise.suite], path, time_limit, log)
    else:
        results = _run_here(exercise, path)
    passed = sum(r.passed for r in results)
    status = progress.PASSED if passed == len(results) else progress.STARTED
    try:
        progress.record(".", name, status, passed, len(results))
    except OSError:
        pass  # a read-only folder must not turn a check into an error
    return path, results


def _run_here(exercise, path: Path) -> list[CheckResult]:
    try:
        learner = load_learner(path)
    except ValueError as exc:  # the learner's import failed: a FAIL, not bad input
        return [CheckResult("import your file", False, str(exc))]
    with _quiet_numpy():
        return run_suite(exercise.suite, learner)


def _run_isolated(name: str, names: list[str], path: Path, time_limit: float,
                  log: Log | None) -> list[CheckResult]:
    """The checks in a child process; its JSON lines are collected by :class:`_Verdict`."""
    r, w = os.pipe()
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tinydip.exercises.child", name, str(path.resolve()),
                 str(w)], pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        verdict = _Verdict(names, time_limit, log)
        try:
            with os.fdopen(r, "rb", buffering=0) as pipe:
                verdict.collect(pipe, proc)
        finally:  # Ctrl-C / SIGTERM here: the child goes too
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        _show_output(out, log)
    return verdict.results(proc.returncode)


class _Verdict:
    """What the child reported, with a time limit per step (none while numba compiles)."""

    def __init__(self, names: list[str], time_limit: float, log: Log | None):
        self.names, self.limit, self.log = names, time_limit, log
        self.got: list[CheckResult] = []
        self.current: str | None = None  # the check running (None: importing the file)
        self.done = self.ready = self.timed_out = self.garbled = self.noticed = False
        self.compiling = 0  # nested numba compilations in progress

    def collect(self, pipe, proc: subprocess.Popen) -> None:
        buf = b""
        deadline: float | None = time.monotonic() + STARTUP_LIMIT
        while not self.done:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([pipe], [], [], wait)[0]:
                self.timed_out = True
                proc.kill()
                return
            chunk = pipe.read(65536)
            if not chunk:
                return  # the child ended
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                deadline = self._take(line, deadline)
                if self.garbled:
                    proc.kill()
                    return

    def _take(self, line: bytes, deadline: float | None) -> float | None:
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError
        except ValueError:
            self.garbled = True
            return deadline
        now = time.monotonic()
        if "compiling" in msg:
            self.compiling = max(0, self.compiling + (1 if msg["compiling"] else -1))
            if self.compiling and not self.noticed and self.log is not None:
                self.noticed = True
                self.log(COMPILE_MESSAGE)
            return None if self.compiling else now + self.limit
        if "result" in msg:
            self._result(msg)
        elif "start" in msg:
            self.current = msg["start"]
        elif "done" in msg:
            self.done = msg["done"] == len(self.names) == len(self.got)
            self.garbled = not self.done
        self.ready = True
        return now + self.limit

    def _result(self, msg: dict) -> None:
        expected = self.names[len(self.got)] if len(self.got) < len(self.names) else None
        name = msg.get("result")
        if name == "import your file" and not self.got and msg.get("passed") is False:
            self.got.append(CheckResult(name, False, str(msg.get("message", ""))))
            self.done = True  # nothing else runs after a failed import
        elif name == expected and name == self.current and isinstance(msg.get("passed"), bool):
            self.got.append(CheckResult(name, msg["passed"], str(msg.get("message", ""))))
        else:
            self.garbled = True

    def results(self, returncode: int | None) -> list[CheckResult]:
        if self.done and not self.garbled:
            return self.got
        results = list(self.got)
        if self.garbled:
            why = "the checker's report was garbled (did your code write to its pipe?)"
        elif self.timed_out:
            step = f"'{self.current}'" if self.current else "importing your file"
            why = (f"stopped after {self.limit:g} s in {step} (an endless loop? a very slow "
                   "loop?)" if self.ready else "the checker did not start in time")
        else:
            step = "this check" if self.current else "importing your file"
            why = (f"your code ended the checker during {step} (exit status {returncode}: "
                   "os._exit, a crash, a signal?)")
        if not self.ready or self.current is None and not self.got:
            return [CheckResult("import your file", False, why)]
        rest = self.names[len(results):]
        for i, name in enumerate(rest):
            results.append(CheckResult(name, False, why if i == 0 else "not run"))
        return results


def _show_output(out, log: Log | None) -> None:
    """What the learner's code printed (the end of it), for the learner to read."""
    size = out.seek(0, os.SEEK_END)
    if log is None or size == 0:
        return
    out.seek(max(0, size - OUTPUT_LIMIT))
    text = out.read().decode("utf-8", "replace").rstrip()
    cut = " (the end of it)" if size > OUTPUT_LIMIT else ""
    log(f"--- what your code printed{cut} ---\n{text}\n--- end of your output ---")


class _quiet_numpy:
    """numpy warnings from the learner's code (overflow, 0/0) are not a check's business."""

    def __enter__(self):
        import numpy as np
        self._old = np.seterr(all="ignore")

    def __exit__(self, *exc):
        import numpy as np
        np.seterr(**self._old)
        return False
