"""One subcommand per registered task (``tinydip denoise | inpaint | sr | ...``): build the
problem from the arguments, fit, write results.

The task's own options and how its problem is made come from its declaration
(:mod:`tinydip.tasks.catalogue`, as flags by :mod:`.task_args`); the options every task
shares are added here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from functools import partial

from .. import tasks
from ..fitting.stopping import RULE_NAMES
from ..io.files import FIGURE_EXTENSIONS, IMAGE_EXTENSIONS, check_outputs, write_json
from ..io.images import load_input, save_image
from ..tasks.plotting import plot_training
from ..tasks.registry import Task
from .argtypes import learning_rate, memory_size, positive_int
from .task_args import add_task_options, task_values

# what each early-stopping rule's statistic is, for the plot's second loss axis
STAT_LABELS = {"val": "held-out MSE (val rule)", "wmv": "output variance (wmv rule)"}


def _common(p: argparse.ArgumentParser, iters_default: str) -> None:
    p.add_argument("--truth", metavar="GT", help="ground-truth image: enables PSNR")
    p.add_argument("--net", choices=tasks.NETS, default="unet",
                   help="prior: the DIP skip U-Net (default) or the Deep Decoder")
    p.add_argument("--iters", type=positive_int, default=None,
                   help=f"iteration budget (default {iters_default}; with --stop auto, an "
                   "upper bound)")
    p.add_argument("--lr", type=learning_rate, default=None, help="Adam learning rate "
                   "(default 0.01; at most 1)")
    p.add_argument("--seed", type=int, default=0, help="seed for z, jitter, init (default 0)")
    p.add_argument("--stop", choices=RULE_NAMES, default="auto",
                   help="ground-truth-free early stopping (default auto; none = run all "
                   "iterations)")
    p.add_argument("--out", metavar="OUT.png", help="write the output image here")
    p.add_argument("--report", metavar="REPORT.json", help="write a JSON report here")
    p.add_argument("--plot", metavar="FIG.png", help="write training curves and images here")
    p.add_argument("--rollback", action="store_true",
                   help="undo a step whose loss jumps above 10^0.5 times the last one (the "
                   "official DIP denoising code's backtracking; off by default)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--max-memory", type=memory_size, metavar="SIZE", default=None,
                   help="refuse to start a fit estimated to need more memory than this "
                   "(e.g. 4G; default: 80%% of the memory available now)")


def add_task(p: argparse.ArgumentParser, task: Task) -> None:
    """The subcommand of ``task``: its own options, then the shared ones."""
    add_task_options(p, task)
    _common(p, str(task.fit_defaults.get("iters", 3000)))
    p.set_defaults(func=partial(run_task, task))


def _options(args) -> dict:
    opts = {"stop": args.stop, "progress": False if args.quiet else None}
    if args.iters is not None:
        opts["iters"] = args.iters
    if args.lr is not None:
        opts["lr"] = args.lr
    if args.rollback:
        opts["rollback"] = True
    return opts


def _truth(args, shape):
    if not args.truth:
        return None
    truth = load_input(args.truth, "truth")
    if truth.shape[:2] != tuple(shape[:2]):
        raise ValueError(f"truth {args.truth} is {truth.shape[0]}x{truth.shape[1]} but the "
                         f"output is {shape[0]}x{shape[1]}")
    if truth.shape[2] != shape[2]:
        raise ValueError(f"truth {args.truth} has {truth.shape[2]} channel(s), the image has "
                         f"{shape[2]}")
    return truth


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def check_paths(args) -> None:
    """Output paths are checked before anything is loaded or fitted (one line, exit 2)."""
    inputs = {opt: vars(args).get(key) for opt, key in
              (("IMAGE", "image"), ("--truth", "truth"), ("--mask", "mask"))}
    check_outputs({"--out": (args.out, IMAGE_EXTENSIONS),
                   "--report": (args.report, (".json",)),
                   "--plot": (args.plot, FIGURE_EXTENSIONS)}, inputs)


def run_task(task: Task, args) -> int:
    check_paths(args)
    problem = task.from_options(task_values(task, args))
    if problem.preview is not None:  # e.g. inpaint --preview-mask: instead of the fit
        return _write_preview(args, problem)
    for note in problem.notes:
        print(note, file=sys.stderr)
    if args.truth:  # --truth wins over a truth the task made itself
        problem = replace(problem, truth=_truth(args, problem.output_shape()))
    result = tasks.run(task, problem, net=args.net, seed=args.seed,
                       max_memory=args.max_memory, log=_stderr, **_options(args))
    return _finish(args, result)


def _write_preview(args, problem) -> int:
    """The problem's preview images instead of a fit (paths checked first: exit 2)."""
    inputs = {opt: vars(args).get(key) for opt, key in
              (("IMAGE", "image"), ("--truth", "truth"), ("--mask", "mask"))}
    check_outputs({label: (path, (".png",)) for label, (path, _) in problem.preview.items()},
                  inputs)
    paths = [str(save_image(path, image)) for path, image in problem.preview.values()]
    print("; ".join(problem.notes) + "; wrote " + " and ".join(paths))
    return 0


def _finish(args, result: tasks.TaskResult) -> int:
    rep = result.report()
    f = result.fit
    sel = f.selection
    print(f"{result.task}: {f.iters_run} iterations in {f.seconds:.1f} s "
          f"({f.seconds_per_iter * 1000:.0f} ms/it), output = {sel.describe()} "
          f"(iteration {sel.iteration})")
    if f.stopped_iter is not None:
        print(f"  stopped early: {f.stop_reason}")
    if f.budget_limited:
        print(f"  the {sel.rule} rule had not stopped when the budget (--iters "
              f"{result.settings.get('iters')}) ran out: the fit may still be improving, "
              f"and a larger --iters may do better")
    if f.rollbacks:
        print(f"  rolled back {len(f.rollbacks)} step(s) whose loss jumped")
    if f.interrupted:
        print(f"  interrupted ({f.interrupted_by}): writing the results so far")
    if f.diverged:
        print(f"tinydip: warning: {f.stop_reason}", file=sys.stderr)
    if result.psnr:
        print("  PSNR " + ", ".join(f"{k} {v:.2f} dB" for k, v in result.psnr.items()))
    for name, value in result.baselines.items():
        print(f"  {name} baseline PSNR {value:.2f} dB")
    if args.out:
        print(f"  wrote {save_image(args.out, result.output)}")
    if args.report:
        print(f"  wrote {write_json(args.report, rep)}")
    if args.plot:
        names = ["observation", "truth", "last", "best", "smoothed", "pilot", "output"]
        imgs = {k: result.images[k] for k in names if k in result.images}
        rule = result.settings.get("stop")
        plot_training(f.history, imgs, args.plot, title=f"{result.task} ({result.net})",
                      marks=result.marks(), stat_label=STAT_LABELS.get(rule, "stopping statistic"))
        print(f"  wrote {args.plot}")
    if f.interrupted:
        return INTERRUPT_STATUS[f.interrupted_by]
    return 1 if f.diverged else 0


# exit status of an interrupted run (the shell's 128 + signal number)
INTERRUPT_STATUS = {"SIGINT": 130, "SIGTERM": 143}
