"""The study folder: append-only ``runs.csv`` + ``runs.jsonl``, and ``runs/KEY/`` per run.

Each finished run is appended to both files at once, flushed and fsync'd before the next
result is handled, so an interrupted study loses at most the runs in flight. The output image,
the observation and the report JSON of a run are written to ``runs/KEY/`` before its row.
Resume: keys with an ``ok`` row in ``runs.jsonl`` are skipped; failed and interrupted runs are
tried again (the newer row wins in the summary and in ``results.csv``). ``runs.csv`` is the log
of every attempt; the tidy table is ``results.csv`` (``table.py``).

``OUT/.lock`` (``fcntl.flock``, held while a study runs, holding its pid) keeps a second run
of the same folder out.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..io.images import save_image
from .runner import COLUMNS, Outcome


def _fsync_append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to ``path.tmp`` then rename over ``path`` (readers never see half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(tmp, mode, **({} if isinstance(data, bytes) else {"encoding": "utf-8"})) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Store:
    """Rows and per-run files of one study folder."""

    def __init__(self, out: str | Path) -> None:
        self.dir = Path(out)  # created by create(), not here: a refused study writes nothing
        check_folder(self.dir)
        self.csv = self.dir / "runs.csv"
        self.jsonl = self.dir / "runs.jsonl"

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``OUT/.lock`` for the block; :class:`Locked` (naming the holder's pid) if
        another process holds it."""
        import fcntl

        self.create()
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise Locked(f"{self.dir} is in use by another tinydip study (pid {holder}); "
                             "wait for it to end, or use another --out") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def rows(self) -> list[dict]:
        """Every row written so far, in order (a torn last line is ignored)."""
        if not self.jsonl.exists():
            return []
        out = []
        for line in self.jsonl.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def latest(self) -> dict[str, dict]:
        """The newest row per run key."""
        return {r["key"]: r for r in self.rows()}

    def finished_keys(self) -> set[str]:
        return {k for k, r in self.latest().items() if r.get("status") == "ok"}

    def run_dir(self, key: str) -> Path:
        return self.dir / "runs" / key

    def append(self, outcome: Outcome) -> dict:
        """Write the run's files, then its row (CSV + JSON line, fsync'd); return the row."""
        row = outcome.row.to_dict()
        self.create()
        d = self.run_dir(row["key"])
        d.mkdir(parents=True, exist_ok=True)
        if outcome.output is not None:
            save_image(d / "output.png", outcome.output)
        if outcome.observation is not None:
            save_image(d / "observation.png", outcome.observation)
        write_atomic(d / "report.json", dumps(outcome.report, indent=1))
        _fsync_append(self.jsonl, dumps(row) + "\n")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS)
        if not self.csv.exists() or self.csv.stat().st_size == 0:
            writer.writeheader()
        writer.writerow({k: dumps(v, sort_keys=True) if isinstance(v, (dict, list))
                         else ("" if v is None else v) for k, v in row.items()})
        _fsync_append(self.csv, buf.getvalue())
        return row


class Locked(ValueError):
    """Another process is running a study in the same folder."""


def check_folder(path: Path) -> None:
    """``ValueError`` unless ``path`` is a folder or can be made one (no file in the way)."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                where = f"--out {path}" if p == path else f"--out {path}: {p}"
                raise ValueError(f"{where} is a file, not a folder: name a folder for the "
                                 "results")
            if not os.access(p, os.W_OK | os.X_OK):
                raise ValueError(f"--out {path}: cannot write in {p} (permission denied)")
            return


def strict(v):
    """A copy of ``v`` that is strict JSON: NumPy -> Python, tuples -> lists, NaN/inf -> None."""
    if isinstance(v, dict):
        return {str(k): strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [strict(x) for x in v]
    if isinstance(v, np.ndarray):
        return strict(v.tolist())
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if v is None or isinstance(v, str):
        return v
    return str(v)


def dumps(v, **kw) -> str:
    return json.dumps(strict(v), allow_nan=False, **kw)
