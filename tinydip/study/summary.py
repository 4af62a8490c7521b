"""``summary.md`` and figures of a study folder (rewritten atomically after every session).

* ``summary.md``: per task and setting, mean ± std (over images and seeds) of PSNR, PSNR-Y,
  SSIM, the oracle best PSNR, iterations and seconds, with the task's classical baseline on
  the same observations as an extra line; then the failed runs.
* ``psnr_per_image.png``: PSNR per image, one marker per setting (mean over seeds), the
  baseline as a black cross, one panel per task.
* ``curves.png``: mean PSNR vs iteration per setting (from the runs' reports), per task.
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


def study_rows(store: Store, study: Study) -> list[dict]:
    """The newest row of each run of ``study`` present in the folder, in run order."""
    latest = store.latest()
    return [latest[r.key] for r in expand(study) if r.key in latest]


def summary_markdown(rows: list[dict], study: Study) -> str:
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] != "ok"]
    n_runs = len(study.images) * len(study.tasks) * len(study.settings) * len(study.seeds)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Study {study.name}", "",
             f"{len(rows)} of {n_runs} runs recorded: {len(ok)} ok, {len(failed)} failed "
             f"({now}). {len(study.images)} images x {len(study.tasks)} tasks x "
             f"{len(study.settings)} settings x {len(study.seeds)} seeds.", "",
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
        lines += ["", f"## Failed runs ({len(failed)})", "",
                  "| image | task | setting | seed | error |", "|---|---|---|---|---|"]
        for r in failed:
            err = str(r.get("error", "")).replace("|", "/")[:300]
            lines.append(f"| {r['image']} | {r['task']} | {r['setting']} | {r['seed']} | {err} |")
    lines += ["", "Rows: `runs.csv`, `runs.jsonl`; per run: `runs/KEY/` (output.png, "
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


def plot_curves(rows: list[dict], study: Study, store: Store, path: Path) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        return
    fig, axes = _panels(len(study.tasks))
    drawn = False
    for ax, task in zip(axes, study.tasks):
        for s in study.settings:
            curves = []
            for r in ok:
                if r["task"] != task.name or r["setting"] != s.name:
                    continue
                try:
                    rep = json.loads((store.run_dir(r["key"]) / "report.json").read_text())
                except (OSError, ValueError):
                    continue
                h = [(p["iter"], p["psnr"]) for p in rep.get("history", [])
                     if p.get("psnr") is not None]
                if h:
                    curves.append(dict(h))
            if not curves:
                continue
            iters = sorted(set().union(*curves))
            mean = [np.mean([c[i] for c in curves if i in c]) for i in iters]
            ax.plot(iters, mean, label=f"{s.name} (n={len(curves)})")
            drawn = True
        ax.set_title(task.name)
        ax.set_xlabel("iteration")
        ax.set_ylabel("mean PSNR of the current output (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
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
