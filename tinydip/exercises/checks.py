"""Reusable check helpers: load the learner's file, run checks, turn every failure into one line.

A check is a function of the learner's module (``LearnerModule``) that returns normally when
it passes and raises :class:`Fail` with a hint when it does not. Helpers here compare with a
reference (never printing it), run float64 finite-difference gradient checks and recognise
classic mistakes: a known wrong variant, computed inside the checker, that the learner's
answer matches.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np

from ..gradcheck import numerical_grad, rel_error

LAYER_TOL = 1e-7  # float64 finite differences vs a correct backward: ~1e-10


class Fail(Exception):
    """A check failed; the message is the hint shown to the learner."""


class LearnerImportError(ValueError):
    """The learner's file cannot be imported (syntax error, import error...)."""


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str = ""


@dataclass
class Check:
    name: str
    run: Callable[[LearnerModule], None]


@dataclass
class Suite:
    """An exercise's checks, in order. ``@suite.check("name")`` adds one."""

    checks: list[Check] = field(default_factory=list)

    def check(self, name: str) -> Callable:
        def add(fn: Callable[[LearnerModule], None]) -> Callable:
            self.checks.append(Check(name, fn))
            return fn
        return add

    def __iter__(self):
        return iter(self.checks)

    def __len__(self) -> int:
        return len(self.checks)


class LearnerModule:
    """The learner's module; attribute access fails a check (not a traceback) if missing."""

    def __init__(self, module: ModuleType, path: Path):
        self.module, self.path = module, path

    def __getattr__(self, name: str):
        try:
            return getattr(self.module, name)
        except AttributeError:
            raise Fail(f"{self.path.name} has no '{name}': keep the name the stub gave "
                       "it") from None


def load_learner(path: str | os.PathLike) -> LearnerModule:
    """Import the learner's file by path (fresh each time, never cached in sys.modules)."""
    path = Path(path).resolve()
    name = f"_tinydip_exercise_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LearnerImportError(f"cannot import {path} (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # the learner's own helper modules next to the file
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # SyntaxError, ImportError, NameError at import time...
        raise LearnerImportError(f"cannot import {path.name}: {describe_exception(exc, path)}") \
            from None
    finally:
        sys.modules.pop(name, None)
        if sys.path and sys.path[0] == str(path.parent):
            del sys.path[0]
    return LearnerModule(module, path)


def _learner_line(exc: BaseException, path: Path) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename and _same(exc.filename, path):
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if _same(frame.filename, path):
            line = frame.lineno
    return line


def _same(a: str, b: Path) -> bool:
    try:
        return Path(a).resolve() == b
    except OSError:
        return False


def describe_exception(exc: BaseException, path: Path) -> str:
    """One line: the exception type and message, and where in the learner's file it came from."""
    line = _learner_line(exc, path)
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = f" (at {path.name}:{line})" if line else " (raised inside the checker/numpy " \
        "while using your result)"
    return f"{type(exc).__name__}{': ' + msg if msg else ''}{where}"


def run_suite(suite: Iterable[Check], learner: LearnerModule) -> list[CheckResult]:
    """Run every check; failures and the learner's exceptions become one-line messages."""
    results = []
    todo_seen: str | None = None
    for check in suite:
        try:
            check.run(learner)
        except Fail as f:
            results.append(CheckResult(check.name, False, str(f)))
        except NotImplementedError as exc:
            line = _learner_line(exc, learner.path)
            where = f"{learner.path.name}:{line}" if line else learner.path.name
            msg = f"not implemented yet: fill in the TODO in {where}"
            same = "not implemented yet (same TODO)"
            results.append(CheckResult(check.name, False, msg if msg != todo_seen else same))
            todo_seen = msg
        except Exception as exc:  # the learner's code raised: one line, with their file:line
            results.append(CheckResult(check.name, False,
                                       describe_exception(exc, learner.path)))
        else:
            results.append(CheckResult(check.name, True))
    return results


# ---- assertions used by the exercise suites -----------------------------------------------

def expect_array(value, what: str, shape: tuple[int, ...], dtype=None) -> np.ndarray:
    """``value`` must be an ndarray of ``shape`` (and ``dtype`` if given)."""
    if value is None:
        raise Fail(f"{what} is None: did you forget to return it?")
    if not isinstance(value, np.ndarray):
        raise Fail(f"{what} should be a numpy array, got {type(value).__name__}")
    if value.shape != tuple(shape):
        raise Fail(f"{what} has shape {value.shape}, expected {tuple(shape)}")
    if dtype is not None and value.dtype != np.dtype(dtype):
        raise Fail(f"{what} has dtype {value.dtype}, expected {np.dtype(dtype)} (keep the "
                   "input's dtype: no float64 constants or arrays mixed into float32 math)")
    if not np.all(np.isfinite(value)):
        raise Fail(f"{what} contains nan or inf")
    return value


def expect_float(value, what: str) -> float:
    if value is None:
        raise Fail(f"{what} is None: did you forget to return it?")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise Fail(f"{what} should be a number, got {type(value).__name__}") from None
    if not np.isfinite(out):
        raise Fail(f"{what} is {out}")
    return out


def compare(got, ref, what: str, tol: float, mistakes: dict[str, object] | None = None,
            hint: str = "", against: str = "tinydip's result") -> None:
    """Fail unless ``got`` matches the reference; name a classic mistake if it matches one.

    ``mistakes`` maps a hint to the result a known wrong variant gives on the same input.
    The reference itself is never shown, only the relative error.
    """
    got64, ref64 = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    err = rel_error(got64, ref64)
    if err <= tol:
        return
    for mistake_hint, wrong in (mistakes or {}).items():
        wrong64 = np.asarray(wrong, np.float64)
        if wrong64.shape == got64.shape and rel_error(got64, wrong64) <= max(tol, 1e-9) * 10:
            raise Fail(f"{what}: {mistake_hint}")
    raise Fail(f"{what}: relative error {err:.1e} against {against} (tolerance {tol:.0e})"
               f"{'; ' + hint if hint else ''}")


def gradcheck(forward: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray,
              analytic, what: str, tol: float = LAYER_TOL, hint: str = "") -> None:
    """Float64 finite-difference check of one gradient: ``analytic`` vs d sum(forward()*dout)/dx.

    ``forward`` takes no argument and reads ``x`` (perturbed in place, then restored).
    """
    num = numerical_grad(forward, x, dout)
    analytic = expect_array(analytic, what, x.shape)
    err = rel_error(analytic, num)
    if err > tol:
        raise Fail(f"{what} disagrees with finite differences (relative error {err:.1e}, "
                   f"tolerance {tol:.0e}){'; ' + hint if hint else ''}")


def unpack(value, what: str, n: int) -> tuple:
    """``value`` must be a tuple/list of ``n`` items (e.g. ``dx, dw, db``)."""
    if value is None:
        raise Fail(f"{what} returned None: did you forget the return statement?")
    if not isinstance(value, tuple | list) or len(value) != n:
        raise Fail(f"{what} should return {n} values, got "
                   f"{len(value) if isinstance(value, tuple | list) else type(value).__name__}")
    return tuple(value)
