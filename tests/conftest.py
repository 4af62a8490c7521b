"""Shared test helpers: a recorder of the worst gradient-check error per layer type.

Tests that run :func:`tinydip.gradcheck.check_module` / ``check_vjp`` call
``record_error(kind, errors)``; the worst value per kind is printed as a table at the end of
the run (only if something was recorded).
"""

from __future__ import annotations

import pytest

_WORST: dict[str, tuple[float, str]] = {}


def _record(kind: str, errors, test_id: str) -> float:
    worst = max(errors.values()) if isinstance(errors, dict) else float(errors)
    if worst >= _WORST.get(kind, (-1.0, ""))[0]:
        _WORST[kind] = (worst, test_id)
    return worst


@pytest.fixture
def record_error(request):
    """``record_error(kind, errors_dict_or_float) -> worst``: log the worst error of a check."""
    return lambda kind, errors: _record(kind, errors, request.node.name)


def pytest_terminal_summary(terminalreporter):
    if not _WORST:
        return
    tr = terminalreporter
    tr.section("worst gradient-check relative error per layer type")
    tr.write_line(f"{'layer / check':<34} {'worst rel. error':>16}  test")
    for kind in sorted(_WORST):
        err, test_id = _WORST[kind]
        tr.write_line(f"{kind:<34} {err:>16.3e}  {test_id}")
