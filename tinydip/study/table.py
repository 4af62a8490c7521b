"""One results table per study folder: the latest row of every run of the current study file.

``runs.csv`` / ``runs.jsonl`` are the append-only log of every attempt (superseded failed rows,
interrupted runs, rows of older versions of the study file). The table keeps, for each run key
listed in ``study.json`` (the study file as last run), its newest row, in the study's run
order, with the ``degradation`` and ``settings`` dicts expanded into columns
(``degradation.sigma``, ``settings.lr``, ``settings.net_options.channels``).

* :func:`load` returns it as a pandas DataFrame (``tinydip.study.load(OUT)``);
* :func:`write_results` writes it as ``OUT/results.csv`` (no pandas needed), after every run
  of the study;
* :func:`format_table` is what ``tinydip study --table OUT`` prints.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .runner import COLUMNS
from .store import Store, dumps, write_atomic

EXPANDED = ("degradation", "settings")
SHOWN = ("image", "task", "setting", "seed", "status", "psnr", "psnr_y", "ssim",
         "baseline_psnr", "iters_run", "output_iter", "seconds")


def _flat(prefix: str, d: dict) -> dict:
    out = {}
    for k, v in d.items():
        name = f"{prefix}.{k}"
        if isinstance(v, dict):
            out.update(_flat(name, v))
        else:
            out[name] = dumps(v) if isinstance(v, list) else v
    return out


def study_keys(out: str | Path) -> list[str]:
    """The run keys of the study as last run in ``out`` (``study.json``)."""
    path = Path(out) / "study.json"
    try:
        return [r["key"] for r in json.loads(path.read_text(encoding="utf-8"))["runs"]]
    except FileNotFoundError:
        raise ValueError(f"{out}: no study here (no study.json; run tinydip study "
                         f"STUDY.toml --out {out} first)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: unreadable ({exc})") from None


def records(out: str | Path) -> tuple[list[str], list[dict]]:
    """``(columns, rows)`` of the table (runs not attempted yet have no row)."""
    keys = study_keys(out)
    latest = Store(out).latest()
    rows, extra = [], {c: {} for c in EXPANDED}
    for key in keys:
        if key not in latest:
            continue
        row = dict(latest[key])
        for c in EXPANDED:
            flat = _flat(c, row.pop(c, None) or {})
            extra[c].update(dict.fromkeys(flat))
            row.update(flat)
        rows.append(row)
    columns = []
    for c in COLUMNS:
        columns += sorted(extra[c]) if c in EXPANDED else [c]
    return columns, rows


def write_results(out: str | Path) -> Path:
    """``OUT/results.csv``: the table (empty cells for missing numbers), written atomically."""
    columns, rows = records(out)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r[k] for k in columns})
    path = Path(out) / "results.csv"
    write_atomic(path, buf.getvalue())
    return path


def load(out: str | Path):
    """The results table of the study folder ``out`` as a pandas DataFrame: one row per run of
    the current study file (its newest attempt), settings and degradation as columns."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("tinydip.study.load needs pandas: pip install 'tinydip[study]'") \
            from None
    columns, rows = records(out)
    return pd.DataFrame(rows, columns=columns)


def format_table(out: str | Path) -> str:
    """A readable table of the main columns (the full one is ``results.csv``)."""
    n_keys = len(study_keys(out))  # no study here: says so even without pandas
    df = load(out)
    head = (f"{out}: {len(df)} of {n_keys} runs recorded, "
            f"{int((df['status'] == 'ok').sum()) if len(df) else 0} ok")
    if not len(df):
        return head
    cols = list(SHOWN) + (["error"] if (df["status"] != "ok").any() else [])
    shown = df[cols].apply(lambda col: col.map(lambda v: _cell(col.name, v)))
    return head + "\n" + shown.to_string(index=False)


def _cell(column: str, v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}" if column == "ssim" else f"{v:.2f}"
    return str(v)
