"""What a task returns: :class:`TaskResult` (images, PSNRs, the fit, a JSON-ready report)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..fitting.fit import FitResult


@dataclass
class TaskResult:
    """What a task returns: HxWxC images, PSNRs and the underlying :class:`FitResult`."""

    task: str
    net: str
    params: int
    fit: FitResult
    images: dict[str, np.ndarray]  # observation, [truth], last, best, smoothed, output
    psnr: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    baselines: dict[str, float] = field(default_factory=dict)  # PSNR of classical methods
    extra: dict = field(default_factory=dict)  # the problem's report fields

    @property
    def output(self) -> np.ndarray:
        return self.images["output"]

    def marks(self) -> dict[str, int]:
        """Iterations worth marking on a training curve: where the rule stopped, the
        iteration the output comes from and -- with a truth -- the best iterate of the stream
        the output comes from (the oracle's pick, for comparison only)."""
        f, sel = self.fit, self.fit.selection
        marks = {}
        if f.stopped_iter is not None:
            marks["auto stop"] = f.stopped_iter
        if sel.by_rule:
            marks["selected"] = sel.iteration
        if self.psnr and f.history and "psnr" in f.history[0]:
            key = "psnr_smoothed" if sel.smoothed else "psnr"
            marks["oracle best"] = max(f.history, key=lambda r: r[key])["iter"]
        return marks

    def report(self, history_every: int = 10) -> dict:
        """A JSON-ready summary (the CLI's ``--report``)."""
        f = self.fit
        sel = f.selection
        h, w = self.output.shape[:2]
        rep = {"task": self.task, "net": self.net, "iters": f.iters_run,
               "max_iters": self.settings.get("iters"), "seed": self.settings.get("seed"),
               "seconds": round(f.seconds, 3),
               "seconds_per_iter": round(f.seconds_per_iter, 5), "params": self.params,
               "height": h, "width": w, "channels": self.output.shape[2],
               "best_iter": f.best_iter, "output": sel.describe(), "output_iter": sel.iteration,
               "output_stream": sel.stream, "output_rule": sel.rule,
               "stop_rule": self.settings.get("stop"),
               "stop_requested": self.settings.get("stop_requested"),
               "stop_on": self.settings.get("stop_on"),
               "stop_options": self.settings.get("stop_options"), "stopped_iter": f.stopped_iter,
               "stop_reason": f.stop_reason, "budget_limited": f.budget_limited,
               "interrupted": f.interrupted,
               "rollbacks": list(f.rollbacks),
               "settings": self.settings}
        for k, v in {**self.psnr, **self.baselines}.items():
            rep[f"psnr_{k}"] = None if not math.isfinite(v) else round(v, 4)
        rep.update(self.extra)
        keep = {"iter", "loss", "psnr", "psnr_smoothed", "stat", "val_loss"}
        rep["history"] = [{k: v for k, v in r.items() if k in keep}
                          for r in f.history if r["iter"] % history_every == 0
                          or r["iter"] == f.iters_run - 1]
        return rep
