"""Run ONE study run (on a Dask worker or in-process) -> a :class:`Row` plus its files.

:func:`run_one` gets a :class:`Payload` holding the clean pixels (not a path: the image
travels with the run) and returns an :class:`Outcome`; it never raises for a failing run
(bad setting, too small an image, out of memory inside NumPy...): the failure becomes a row
with ``status = "failed"`` and the error text. A fit cut short by Ctrl-C or SIGTERM (the fit
keeps its result and says so) becomes ``status = "interrupted"``: never a finished run, so a
resumed study redoes it. Only a worker that dies (killed, OOM-killed, ``os._exit``) escapes
it; the engine retries those. A Ctrl-C outside the fit propagates.
"""

from __future__ import annotations

import math
import os
import resource
import socket
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np

from .. import __version__
from ..metrics import psnr, ssim
from . import problems as study_problems
from .problems import TaskSpec


@dataclass
class Row:
    """One result row (CSV column order = field order). Missing numbers are ``None``."""

    key: str
    study: str
    image: str
    image_hash: str
    task: str
    task_kind: str
    degradation: dict
    setting: str
    settings: dict
    seed: int
    status: str = "failed"  # "ok" | "failed" | "interrupted" (cut short: redone on resume)
    error: str = ""
    psnr: float | None = None  # RGB (all channels), output vs truth
    psnr_y: float | None = None  # Y of YCbCr (BT.601), border cropped (SR: factor pixels)
    ssim: float | None = None
    psnr_input: float | None = None  # observation vs truth (denoise, inpaint)
    baseline: str = ""
    baseline_psnr: float | None = None
    baseline_psnr_y: float | None = None
    baseline_ssim: float | None = None
    max_iters: int | None = None
    iters_run: int | None = None
    stopped_iter: int | None = None  # None: ran the whole budget
    stop_reason: str = ""
    output_iter: int | None = None  # iterate the output image comes from
    best_iter: int | None = None  # lowest-loss iterate
    oracle_psnr: float | None = None  # max PSNR over the run (last and smoothed outputs)
    oracle_iter: int | None = None
    seconds: float | None = None  # wall time of the run on the worker (fit + metrics)
    fit_seconds: float | None = None
    peak_rss_mb: float | None = None  # worker process high-water mark (ru_maxrss) after it
    threads: int = 1
    worker: str = ""  # host:pid
    version: str = __version__
    finished: str = ""  # UTC ISO time

    def to_dict(self) -> dict:
        return {k: clean_number(v) for k, v in asdict(self).items()}


def clean_number(v):
    """Strict JSON: non-finite floats -> None; NumPy scalars -> Python; 4 decimals."""
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return round(v, 4) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class Payload:
    """Everything a worker needs: no paths, no shared filesystem."""

    key: str
    study: str
    image: str
    image_hash: str
    pixels: np.ndarray | None  # None: the client could not read the image (error set)
    task: TaskSpec
    setting_name: str
    setting: dict
    seed: int
    threads: int = 1
    baseline: bool = True
    error: str = ""


@dataclass
class Outcome:
    row: Row
    output: np.ndarray | None = None  # HxWxC float32 in [0, 1]
    observation: np.ndarray | None = None
    report: dict = field(default_factory=dict)
    interrupted_by: str | None = None  # "SIGINT" | "SIGTERM": the fit was cut by that signal


def luma(img: np.ndarray) -> np.ndarray:
    """Y of YCbCr (ITU-R BT.601, MATLAB's rgb2ycbcr) in [16, 235] / 255; gray: the image."""
    a = np.asarray(img, dtype=np.float64)
    if a.shape[2] == 1:
        return a[:, :, 0]
    return (16.0 + 65.481 * a[:, :, 0] + 128.553 * a[:, :, 1] + 24.966 * a[:, :, 2]) / 255.0


def psnr_y(x: np.ndarray, ref: np.ndarray, border: int = 0) -> float:
    """PSNR on the Y channel, ``border`` pixels cropped on each side (SR papers' protocol)."""
    a, b = luma(x), luma(ref)
    if border:
        a, b = a[border:-border, border:-border], b[border:-border, border:-border]
    return psnr(a, b)


def _scores(img: np.ndarray, truth: np.ndarray, border: int) -> tuple[float, float, float]:
    return psnr(img, truth), psnr_y(img, truth, border), ssim(img, truth)


def _tune_malloc() -> None:
    """Undo Dask's ``MALLOC_TRIM_THRESHOLD_=65536`` for this worker process (glibc only).

    That variable (set by the Dask nanny for every worker) also freezes glibc's mmap threshold
    at 128 KiB, so every array above it is mmapped and unmapped again: page faults on each
    of the fit's temporaries, measured 1.6-2.4x slower per iteration in a worker. glibc's
    dynamic maximum is restored instead: mmap above 32 MiB, trim above 64 MiB.
    """
    if _state.get("malloc") or not os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        return
    _state["malloc"] = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


_state: dict = {}


def _set_threads(n: int) -> None:
    import numba

    from ..functional import gemm

    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    gemm.set_threads(n)


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / (1024.0 * 1024.0) if sys.platform == "darwin" else kb / 1024.0


def _oracle(history: list[dict]) -> tuple[float | None, int | None]:
    best, at = -math.inf, None
    for rec in history:
        for k in ("psnr", "psnr_smoothed"):
            v = rec.get(k)
            if v is not None and math.isfinite(v) and v > best:
                best, at = v, rec["iter"]
    return (best, at) if at is not None else (None, None)


def run_one(p: Payload) -> Outcome:
    """Degrade, fit, score; every failure becomes a failed row."""
    t0 = time.perf_counter()
    row = Row(p.key, p.study, p.image, p.image_hash, p.task.name, p.task.kind,
              dict(p.task.params), p.setting_name, dict(p.setting), p.seed,
              threads=p.threads, worker=f"{socket.gethostname()}:{os.getpid()}",
              max_iters=p.setting.get("iters"))
    out = Outcome(row)
    try:
        if p.pixels is None:
            raise ValueError(p.error or "no pixels")
        _tune_malloc()
        _set_threads(p.threads)
        problem = study_problems.degrade(p.task, np.asarray(p.pixels, np.float32), p.seed)
        out.observation = problem.observation
        border, truth = problem.psnr_border, problem.truth
        base = study_problems.baseline(p.task, problem) if p.baseline else None
        if base is not None:
            row.baseline = base[0]
            row.baseline_psnr, row.baseline_psnr_y, row.baseline_ssim = \
                _scores(base[1], truth, border)
        res = study_problems.fit(p.task, problem, p.setting, p.seed)
        # read everything through the public TaskResult API: images, psnr, report()
        rep = res.report()
        out.output = res.images["output"]
        row.psnr, row.psnr_y, row.ssim = _scores(out.output, truth, border)
        row.psnr_input = res.psnr.get("input")
        row.max_iters = rep.get("max_iters")
        row.iters_run, row.stopped_iter = rep.get("iters"), rep.get("stopped_iter")
        row.stop_reason = rep.get("stop_reason") or ""
        row.output_iter, row.best_iter = rep.get("output_iter"), rep.get("best_iter")
        row.oracle_psnr, row.oracle_iter = _oracle(res.fit.history)
        row.fit_seconds = rep.get("seconds")
        out.report = rep
        row.status = "ok"
        if res.fit.interrupted:  # cut short: not a finished run, whatever it produced
            out.interrupted_by = res.fit.interrupted_by or "SIGINT"
            row.status = "interrupted"
            row.error = (f"interrupted ({out.interrupted_by}) after {row.iters_run} of "
                         f"{row.max_iters} iterations")
    except Exception as exc:  # noqa: BLE001 - a failed run is a row, not a crash
        msg = " ".join(str(exc).split()) or type(exc).__name__
        row.error = f"{type(exc).__name__}: {msg}"
        out.report = {"error": row.error, "traceback": traceback.format_exc(limit=8)}
    row.seconds = time.perf_counter() - t0
    row.peak_rss_mb = _peak_rss_mb()
    row.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out.report = {"row": row.to_dict(), **out.report}
    return out


COLUMNS = [f for f in Row.__dataclass_fields__]
