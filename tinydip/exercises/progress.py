"""The learner's progress: a small JSON file in their exercise folder, written atomically.

    {"version": 1, "exercises": {"conv_backward": {"status": "started", "passed": 2,
                                                   "total": 4, "updated": "2026-..."}}}

status: "started" (stub written, or checked with a failure) or "passed" (last check all PASS).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from ..io.files import write_bytes

FILENAME = ".tinydip-exercises.json"
NOT_STARTED, STARTED, PASSED = "not started", "started", "passed"


def load(folder: str | os.PathLike) -> dict[str, dict]:
    """name -> record; an absent or unreadable file is an empty record (never an error)."""
    try:
        data = json.loads((Path(folder) / FILENAME).read_text(encoding="utf-8"))
        records = data.get("exercises", {})
        return {k: v for k, v in records.items() if isinstance(v, dict)}
    except (OSError, ValueError, AttributeError):
        return {}


def record(folder: str | os.PathLike, name: str, status: str, passed: int | None = None,
           total: int | None = None) -> None:
    """Set ``name``'s status (and check counts) and rewrite the file atomically."""
    folder = Path(folder)
    records = load(folder)
    entry = {"status": status, "updated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if passed is not None:
        entry.update(passed=passed, total=total)
    records[name] = entry
    text = json.dumps({"version": 1, "exercises": records}, indent=2, sort_keys=True) + "\n"
    write_bytes(folder / FILENAME, text.encode("utf-8"))  # atomic; a symlink is followed


def status(folder: str | os.PathLike, name: str, records: dict[str, dict] | None = None) -> str:
    """What ``exercise list`` shows: passed, started (k/n checks) or not started."""
    records = load(folder) if records is None else records
    entry = records.get(name)
    if entry is None:
        return STARTED if (Path(folder) / f"{name}.py").exists() else NOT_STARTED
    if entry.get("status") == PASSED:
        return PASSED
    passed, total = entry.get("passed"), entry.get("total")
    if _count(passed) and _count(total) and passed <= total:  # a hand-edited file may not
        return f"{STARTED} ({passed}/{total} checks pass)"
    return STARTED


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
