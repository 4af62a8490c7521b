"""Averaging restarts: several fits of one problem from different seeds, one image.

Each fit of DIP lands on a different image near the clean one; their errors are partly
independent, so the average is closer than any member (the DIP paper averages two
denoising runs: +0.57 dB). With the held-out-pixel stopping rule each member also holds
out different pixels, so the average has been fitted to (almost) every pixel.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..io.images import to_tensor
from ..metrics import psnr
from ..runtime.interrupt import Terminated
from .result import TaskResult

STREAMS = ("last", "best", "smoothed", "output")


def combine(members: list[TaskResult], requested: int,
            interrupted: BaseException | None = None,
            seconds: float | None = None) -> TaskResult:
    """One :class:`TaskResult` whose images are the members' means.

    Members that were interrupted or diverged are left out of the mean when a complete one
    exists (an interrupted member stopped before its best; kept alone only if nothing
    completed). ``fit`` is the first member's :class:`~tinydip.fitting.fit.FitResult` (its history
    and selection) with the mean output and the TOTAL iterations and seconds;
    ``extra["ensemble"]`` lists every member (seed, iterations, seconds, output iteration
    and, with a truth, PSNR). ``interrupted``: a Ctrl-C/SIGTERM caught between two fits.
    ``seconds``: the wall time when the members ran side by side (default: their sum).
    """
    if not members:
        raise ValueError("combine: no fit to average")
    complete = [m for m in members if not (m.fit.interrupted or m.fit.diverged)]
    used = complete or members[:1]
    first = used[0]
    images = {k: first.images[k] for k in ("observation", "truth") if k in first.images}
    for k in STREAMS:
        images[k] = np.mean([m.images[k] for m in used], axis=0, dtype=np.float64) \
            .astype(np.float32)
    scores = {}
    if "truth" in images:
        if "input" in first.psnr:
            scores["input"] = first.psnr["input"]
        for k in STREAMS:
            scores[k] = psnr(images[k], images["truth"])
    stopped = [m for m in members if m.fit.interrupted]
    by = stopped[0].fit.interrupted_by if stopped else None
    if interrupted is not None and by is None:
        by = "SIGTERM" if isinstance(interrupted, Terminated) else "SIGINT"
    fit = replace(first.fit, output=to_tensor(images["output"]),
                  iters_run=sum(m.fit.iters_run for m in members),
                  seconds=sum(m.fit.seconds for m in members) if seconds is None else seconds,
                  interrupted=by is not None, interrupted_by=by,
                  diverged=any(m.fit.diverged for m in members))
    rows = []
    for m in members:
        row = {"seed": m.settings.get("seed"), "iters": m.fit.iters_run,
               "seconds": round(m.fit.seconds, 3), "output_iter": m.fit.output_iter,
               "averaged": any(m is u for u in used)}
        if "output" in m.psnr and math.isfinite(m.psnr["output"]):
            row["psnr_output"] = round(m.psnr["output"], 4)
        rows.append(row)
    extra = {**first.extra, "ensemble": {"requested": requested, "averaged": len(used),
                                         "members": rows}}
    return TaskResult(first.task, first.net, first.params, fit, images, scores,
                      dict(first.settings), dict(first.baselines), extra)
