"""Exercises with a checker: the learner implements a concept, tinydip checks it.

``tinydip exercise list | start NAME | check NAME``. One declaration per exercise in
:mod:`.registry`; the stub templates in ``stubs/``; reusable checks in :mod:`.checks`; the
checks of each exercise in the ``suite_*`` modules; progress in :mod:`.progress`.
"""

from .checks import CheckResult
from .registry import EXERCISES, Exercise, UnknownExercise, get
from .runner import ExerciseFileError, check, start

__all__ = ["EXERCISES", "CheckResult", "Exercise", "ExerciseFileError", "UnknownExercise",
           "check", "get", "start"]
