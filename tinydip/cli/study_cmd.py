"""``tinydip study STUDY.toml --out DIR``: many images x tasks x settings x seeds, on Dask."""

from __future__ import annotations

import argparse
import sys

from .argtypes import nonnegative_int, positive_int


def add_study(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", nargs="?", metavar="STUDY.toml", help="study file (TOML)")
    p.add_argument("--preset", choices=("paper",), help="a built-in study instead of a file: "
                   "'paper' = DIP paper's denoise/inpaint/SR experiments, small")
    p.add_argument("--images", metavar="FOLDER", help="--preset: use the images in FOLDER "
                   "(default: the built-in samples)")
    p.add_argument("--size", type=positive_int, default=None, help="--preset: image side "
                   "(images are cropped to a centred square and resized; default 64)")
    p.add_argument("--iters", type=positive_int, default=None, help="--preset: iteration "
                   "budget (default 1000)")
    p.add_argument("--out", metavar="DIR", help="results folder (rerun the same command to "
                   "resume: finished runs are skipped); required unless --table")
    p.add_argument("--workers", type=nonnegative_int, default=None, help="local Dask worker "
                   "processes (default: one per core); 0 = no Dask, runs in this process")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="use an existing Dask "
                   "scheduler and its workers instead of a local cluster")
    p.add_argument("--retries", type=positive_int, default=3, help="attempts per run when "
                   "its worker dies (killed, out of memory; default 3)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    p.add_argument("--table", metavar="DIR", help="print the results table of the study "
                   "folder DIR (the latest row of every run; all columns: DIR/results.csv) "
                   "and exit")
    p.add_argument("--no-dashboard", dest="dashboard", action="store_false", help="no Dask "
                   "dashboard (default: on port 8787 or the next free one, link printed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_study_cmd)


def _load(args):
    from ..study.presets import preset_study
    from ..study.spec import load_study

    if args.out is None:
        raise ValueError("--out DIR is required (the results folder)")
    if (args.study is None) == (args.preset is None):
        raise ValueError("give either a study file or --preset NAME")
    if args.study is not None and (args.images or args.size or args.iters):
        raise ValueError("--images, --size and --iters only go with --preset (a study file "
                         "says these itself)")
    if args.preset:
        return preset_study(args.preset, args.images, args.size or 64, args.iters or 1000)
    return load_study(args.study)


def dry_run(study, out: str) -> None:
    from ..study.spec import expand
    from ..study.store import Store

    runs = expand(study)
    store = Store(out)  # ValueError if --out names a file
    done = store.finished_keys() if _exists(out) else set()
    n_todo = sum(r.key not in done for r in runs)
    print(f"study {study.name}: {_n(len(study.images), 'image')} x "
          f"{_n(len(study.tasks), 'task')} x {_n(len(study.settings), 'setting')} x "
          f"{_n(len(study.seeds), 'seed')} = {_n(len(runs), 'run')} "
          f"({len(runs) - n_todo} finished in {out}, {n_todo} to run)")
    w = max([len(r.image.name) for r in runs] + [5])
    t = max([len(r.task.name) for r in runs] + [4])
    s = max([len(r.setting.name) for r in runs] + [7])
    print(f"{'KEY':<16}  {'IMAGE':<{w}}  {'TASK':<{t}}  {'SETTING':<{s}}  SEED  STATE")
    for r in runs:
        state = "done" if r.key in done else "todo"
        print(f"{r.key:<16}  {r.image.name:<{w}}  {r.task.name:<{t}}  {r.setting.name:<{s}}  "
              f"{r.seed:>4}  {state}")
    budgets = [r.setting.options.get("iters") for r in runs if r.key not in done]
    if budgets and all(b is not None for b in budgets):
        print(f"at most {sum(budgets)} iterations to run (budgets; an automatic stop usually "
              "ends a run earlier)")


def cap_workers(workers: int | None, study, scheduler: str | None) -> int | None:
    """``--workers`` capped at min(runs, cores): more local processes than runs or cores
    only cost memory and start-up (issue 27: ``--workers 1000`` for one run)."""
    import os

    from ..study.spec import expand

    if workers is None or workers == 0 or scheduler is not None:
        return workers
    cap = max(1, min(len(expand(study)), os.cpu_count() or 1))
    if workers > cap:
        print(f"tinydip: note: --workers {workers} capped at {cap} (the runs and the cores)",
              file=sys.stderr)
    return min(workers, cap)


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _exists(out: str) -> bool:
    from pathlib import Path

    return (Path(out) / "runs.jsonl").exists()


def table_cmd(folder: str) -> int:
    from ..study.table import format_table

    try:
        text = format_table(folder)
    except ImportError as exc:  # pandas missing
        print(f"tinydip: error: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


def run_study_cmd(args) -> int:
    from ..study.engine import ClusterError, MissingDask, WorkersGone, run_study
    from ..study.spec import StudyError

    if args.table is not None:
        if args.study or args.preset or args.out:
            raise ValueError("--table DIR prints a study folder's results: give it alone")
        return table_cmd(args.table)
    try:
        study = _load(args)
    except StudyError as exc:
        for line in exc.problems:
            print(f"tinydip: error: {line}", file=sys.stderr)
        return 2
    if args.dry_run:
        dry_run(study, args.out)
        return 0
    try:
        res = run_study(study, args.out, workers=cap_workers(args.workers, study,
                                                             args.scheduler),
                        scheduler=args.scheduler,
                        retries=args.retries, progress=not args.quiet,
                        dashboard=args.dashboard)
    except (MissingDask, ClusterError) as exc:
        print(f"tinydip: error: {exc}", file=sys.stderr)
        return 1 if isinstance(exc, WorkersGone) else 2
    print(f"{res.ok} ok, {res.failed} failed, {res.interrupted} interrupted, {res.skipped} "
          f"already done: {res.out / 'summary.md'}")
    return 1 if res.failed or res.interrupted else 0
