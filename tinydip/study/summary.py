"""``summary.md`` and figures of a study folder (rewritten atomically after every session).

* ``summary.md``: per task and setting, mean ± std (over images and seeds) of PSNR, PSNR-Y,
  SSIM, the oracle best PSNR, iterations and seconds, with the task's classical baseline on
  the same observations as an extra line; then the failed runs.
* ``psnr_per_image.png``: PSNR per image, one marker per setting (mean over seeds), the
  baseline as a black cross, one panel per task.
* ``curves.png``: mean PSNR vs iteration per setting (from the runs' reports), per task: the
  last iterate, the smoothed output when it differs, and the output the table reports.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .spec import Study, expand
from .store import Store, write_atomic


def _ms(values: list) -> str:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return "–"
    if len(v) == 1:
        return f"{v[0]:.2f}"
    return f"{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f}"


def _mean(values: list, fmt: str = ".0f") -> str:
    v = [x for x in values if x is not None]
    return format(float(np.mean(v)), fmt) if v else "–"


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def study_rows(store: Store, study: Study) -> list[dict]:
    """The newest row of each run of ``study`` present in the folder, in run order."""
    latest = store.latest()
    return [latest[r.key] for r in expand(study) if r.key in latest]


def summary_markdown(rows: list[dict], study: Study) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] != "ok"]  # failed or interrupted
    n_cut = sum(r["status"] == "interrupted" for r in failed)
    n_runs = len(study.images) * len(study.tasks) * len(study.settings) * len(study.seeds)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Study {study.name}", "",
             f"{len(rows)} of {n_runs} runs recorded: {len(ok)} ok, {n_cut} interrupted, "
             f"{len(failed) - n_cut} failed "
             f"({now}). {_n(len(study.images), 'image')} x {_n(len(study.tasks), 'task')} "
             f"x {_n(len(study.settings), 'setting')} x {_n(len(study.seeds), 'seed')}.", "",
             "Mean ± std over images and seeds. PSNR in dB on all channels; PSNR-Y on the "
             "Y channel (BT.601) with a border of `factor` pixels cropped for SR; oracle = the "
             "best PSNR any iterate reached (needs the truth; not a usable output).", "",
             "| task | setting | n | PSNR | PSNR-Y | SSIM | oracle | iterations | s/run |",
             "|---|---|---|---|---|---|---|---|---|"]
    by = defaultdict(list)
    for r in ok:
        by[(r["task"], r["setting"])].append(r)
    for task in study.tasks:
        base = {}
        for s in study.settings:
            g = by.get((task.name, s.name), [])
            if not g:
                continue
            lines.append(f"| {task.name} | {s.name} | {len(g)} | {_ms([r['psnr'] for r in g])} "
                         f"| {_ms([r['psnr_y'] for r in g])} | {_ms([r['ssim'] for r in g])} "
                         f"| {_ms([r['oracle_psnr'] for r in g])} "
                         f"| {_mean([r['iters_run'] for r in g])} "
                         f"| {_mean([r['seconds'] for r in g], '.1f')} |")
            for r in g:
                if r.get("baseline"):
                    base[(r["image"], r["seed"])] = r
        if base:
            b = list(base.values())
            lines.append(f"| {task.name} | *baseline: {b[0]['baseline']}* | {len(b)} "
                         f"| {_ms([r['baseline_psnr'] for r in b])} "
                         f"| {_ms([r['baseline_psnr_y'] for r in b])} "
                         f"| {_ms([r['baseline_ssim'] for r in b])} | | | |")
    if failed:
        lines += ["", f"## Failed or interrupted runs ({len(failed)}; redone on resume)", "",
                  "| image | task | setting | seed | error |", "|---|---|---|---|---|"]
        for r in failed:
            err = str(r.get("error", "")).replace("|", "/")[:300]
            lines.append(f"| {r['image']} | {r['task']} | {r['setting']} | {r['seed']} | {err} |")
    lines += ["", "The table: `results.csv` (the latest row of each run); the log of every "
              "attempt: `runs.csv`, `runs.jsonl`; per run: `runs/KEY/` (output.png, "
              "observation.png, report.json). Figures: `psnr_per_image.png`, `curves.png`.", ""]
    return "\n".join(lines)


def _save(fig, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)


def _panels(n: int, width: float = 5.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n, 3.8))
    axes = fig.subplots(1, n, squeeze=False)[0]
    return fig, axes


def plot_per_image(rows: list[dict], study: Study, path: Path) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return
    images = [i.name for i in study.images]
    fig, axes = _panels(len(study.tasks))
    for ax, task in zip(axes, study.tasks):
        tr = [r for r in ok if r["task"] == task.name]
        for j, s in enumerate(study.settings):
            xs, ys = [], []
            for i, img in enumerate(images):
                v = [r["psnr"] for r in tr if r["setting"] == s.name and r["image"] == img
                     and r["psnr"] is not None]
                if v:
                    xs.append(i + 0.08 * (j - (len(study.settings) - 1) / 2))
                    ys.append(float(np.mean(v)))
            if xs:
                ax.plot(xs, ys, "o", label=s.name, alpha=0.85)
        bx, by_ = [], []
        for i, img in enumerate(images):
            v = {(r["seed"]): r["baseline_psnr"] for r in tr if r["image"] == img
                 and r.get("baseline_psnr") is not None}
            if v:
                bx.append(i)
                by_.append(float(np.mean(list(v.values()))))
        if bx:
            ax.plot(bx, by_, "kx", ms=8, label=f"baseline ({tr[0]['baseline']})")
        ax.set_title(task.name)
        ax.set_xticks(range(len(images)))
        ax.set_xticklabels([Path(n).name for n in images], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, path)


def _history(store: Store, key: str) -> list[dict]:
    try:
        rep = json.loads((store.run_dir(key) / "report.json").read_text())
    except (OSError, ValueError):
        return []
    return rep.get("history", [])


def _mean_curve(curves: list[dict]) -> tuple[list, list]:
    iters = sorted(set().union(*curves))
    return iters, [float(np.mean([c[i] for c in curves if i in c])) for i in iters]


def _setting_curves(ax, runs: list[dict], store: Store, name: str, color) -> bool:
    """One setting's lines on ``ax``: the last iterate's PSNR (solid), the smoothed output's
    (dashed, when it differs) and the selected output the table reports (a diamond at the
    mean output iteration and mean PSNR of the rows)."""
    last, smooth = [], []
    for r in runs:
        h = _history(store, r["key"])
        last.append({p["iter"]: p["psnr"] for p in h if p.get("psnr") is not None})
        smooth.append({p["iter"]: p["psnr_smoothed"] for p in h
                       if p.get("psnr_smoothed") is not None})
    last, smooth = [c for c in last if c], [c for c in smooth if c]
    if not last:
        return False
    ax.plot(*_mean_curve(last), color=color, lw=1.2, label=f"{name}: last iterate (n={len(last)})")
    if smooth and any(abs(c.get(i, v) - v) > 1e-6 for c, d in zip(smooth, last)
                      for i, v in d.items()):
        ax.plot(*_mean_curve(smooth), color=color, lw=1.2, ls="--",
                label=f"{name}: smoothed output")
    sel = [(r["output_iter"], r["psnr"]) for r in runs
           if r.get("output_iter") is not None and r.get("psnr") is not None]
    if sel:
        x, y = np.mean([a for a, _ in sel]), np.mean([b for _, b in sel])
        ax.plot([x], [y], "D", color=color, ms=7, mec="black",
                label=f"{name}: the output (table's PSNR {y:.2f} dB)")
    return True


def plot_curves(rows: list[dict], study: Study, store: Store, path: Path) -> None:
    """Mean PSNR vs iteration per setting, per task: the last iterate and (if different) the
    smoothed output as lines, and the output each run returned -- the PSNR of the results
    table -- as a diamond at its iteration (stopping rules pick an earlier iterate)."""
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return
    fig, axes = _panels(len(study.tasks), width=6.0)
    colors = [f"C{i % 10}" for i in range(len(study.settings))]
    drawn = False
    for ax, task in zip(axes, study.tasks):
        for s, color in zip(study.settings, colors):
            runs = [r for r in ok if r["task"] == task.name and r["setting"] == s.name]
            drawn |= _setting_curves(ax, runs, store, s.name, color)
        ax.set_title(task.name)
        ax.set_xlabel("iteration")
        ax.set_ylabel("mean PSNR vs truth (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    if drawn:
        _save(fig, path)


def write_summary(store: Store, study: Study) -> Path:
    """Write ``summary.md`` and the figures; figures are skipped (with the reason in the
    summary) if matplotlib fails."""
    rows = study_rows(store, study)
    text = summary_markdown(rows, study)
    try:
        plot_per_image(rows, study, store.dir / "psnr_per_image.png")
        plot_curves(rows, study, store, store.dir / "curves.png")
    except Exception as exc:  # noqa: BLE001 - a figure must not lose the table
        text += f"\n(figures not written: {type(exc).__name__}: {exc})\n"
    path = store.dir / "summary.md"
    write_atomic(path, text)
    return path
