"""What the ``tinydip exercise`` commands do: write a stub, check a learner's file."""

from __future__ import annotations

import os
from pathlib import Path

from . import progress
from .checks import CheckResult, load_learner, run_suite
from .registry import get


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
    progress.record(folder, name, progress.STARTED)
    return path


def check(name: str, file: str | os.PathLike | None = None) -> tuple[Path, list[CheckResult]]:
    """Import the learner's file (default ``./<name>.py``), run the checks, record progress."""
    exercise = get(name)
    path = Path(file) if file is not None else Path(f"{name}.py")
    if not path.is_file():
        raise ExerciseFileError(f"{path} not found; start the exercise with "
                                f"'tinydip exercise start {name}' (or pass --file PATH)")
    try:
        learner = load_learner(path)
    except ValueError as exc:  # the learner's import failed: a FAIL, not bad input
        results = [CheckResult("import your file", False, str(exc))]
    else:
        with _quiet_numpy():
            results = run_suite(exercise.suite, learner)
    passed = sum(r.passed for r in results)
    status = progress.PASSED if passed == len(results) else progress.STARTED
    try:
        progress.record(path.resolve().parent, name, status, passed, len(results))
    except OSError:
        pass  # a read-only folder must not turn a check into an error
    return path, results


class _quiet_numpy:
    """numpy warnings from the learner's code (overflow, 0/0) are not a check's business."""

    def __enter__(self):
        import numpy as np
        self._old = np.seterr(all="ignore")

    def __exit__(self, *exc):
        import numpy as np
        np.seterr(**self._old)
        return False
