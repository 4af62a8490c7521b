"""``tinydip exercise list | start NAME | check NAME``: exercises with a checker."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .argtypes import positive_float


def run_list(args) -> int:
    from ..exercises import EXERCISES, progress  # imported when used: keeps --help fast

    records = progress.load(".")
    wn = max(len("exercise"), *(len(e.name) for e in EXERCISES))  # columns fit their contents
    wc = max(len("chapter"), *(len(e.chapter) for e in EXERCISES))
    wt = max(len("title"), *(len(e.title) for e in EXERCISES))
    print(f"{'exercise':{wn}s} {'chapter':{wc}s} {'title':{wt}s} {'levels':13s} diff "
          f"{'time':11s} progress")
    for e in EXERCISES:
        time = f"{e.minutes}" + (f"/{e.derive_minutes()}" if e.derive_minutes() else "")
        print(f"{e.name:{wn}s} {e.chapter:{wc}s} {e.title:{wt}s} {'/'.join(e.levels):13s} "
              f"{e.difficulty:^4d} {time + ' min':11s} {progress.status('.', e.name, records)}")
    print("start one with: tinydip exercise start NAME   (then: tinydip exercise check NAME)")
    return 0


def run_start(args) -> int:
    from ..exercises import start

    path = start(args.name, args.dir, args.force, args.level)
    print(f"wrote {path}: fill in the TODO blocks, then run "
          f"'tinydip exercise check {args.name}'"
          + (f" --file {path}" if Path(args.dir).resolve() != Path.cwd() else ""))
    return 0


def run_check(args) -> int:
    """The verdict is printed here, from the results the checker's child process reported
    (the learner's code runs there: it cannot print or exit its way to a pass)."""
    from ..exercises import check

    path, results = check(args.name, args.file, time_limit=args.time_limit,
                          log=lambda s: print(s, file=sys.stderr, flush=True))
    for r in results:
        print(f"PASS  {r.name}" if r.passed else f"FAIL  {r.name} -- {r.message}")
    passed = sum(r.passed for r in results)
    if passed == len(results):
        print(f"all {len(results)} checks pass: {args.name} done")
        return 0
    print(f"{passed}/{len(results)} checks pass ({path})")
    return 1


def add_exercise(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True
    ls = sub.add_parser("list", help="all exercises with your progress")
    ls.set_defaults(func=run_list)
    st = sub.add_parser("start", help="write NAME.py (a stub with TODOs) into the folder")
    st.add_argument("name", metavar="NAME")
    st.add_argument("--dir", default=".", help="folder to write into (default: here; "
                    "progress is recorded here, where 'exercise list' looks)")
    st.add_argument("--force", action="store_true", help="overwrite an existing NAME.py")
    st.add_argument("--level", choices=("guided", "derive"), default="guided",
                    help="guided (default): equations and hints given; derive: the forward "
                    "and the shapes only, you derive the backward")
    st.set_defaults(func=run_start)
    ck = sub.add_parser("check", help="import your NAME.py and run the checks")
    ck.add_argument("name", metavar="NAME")
    ck.add_argument("--file", help="your file (default: ./NAME.py); progress is recorded "
                    "here, in the working folder, where 'exercise list' looks")
    ck.add_argument("--time-limit", type=positive_float, default=10.0, metavar="SECONDS",
                    help="stop a check of your code after this long (default 10; numba "
                    "compiling does not count)")
    ck.set_defaults(func=run_check)
