"""Run a registered task on a :class:`~tinydip.tasks.registry.Problem`: build the prior, fit,
score, report.

:func:`run` builds the prior (the task's U-Net preset, or a Deep Decoder), fits it with
:func:`tinydip.fitting.fit.fit` through the problem's operator and returns a :class:`TaskResult`
holding HxWxC images, PSNRs against the ground truth when one is given (and of the task's
classical baselines), and a JSON-ready report.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..fitting.fit import FitConfig, fit
from ..fitting.memory import format_bytes, peak_rss, plan_fit
from ..io.images import check_min_size, to_image, to_tensor
from ..metrics import psnr
from ..models import Net, Prior, deep_decoder, skip_unet, unet_config
from ..runtime.interrupt import Terminated, describe
from ..runtime.jit_notice import compile_notice
from .ensemble import combine
from .parallel import run_side_by_side, side_by_side
from .registry import Problem, Task, auto_rule_spec, get_task
from .result import TaskResult


def resolve_stop(task: str | Task, settings: dict, spec: dict | None = None) -> dict:
    """Settings with ``stop`` resolved for ``task`` (``"auto"`` -> the task's rule).

    ``"auto"``, ``"wmv"`` and ``"val"`` get the task's tuned options and watched stream
    (``Task.stopping``, or ``spec`` if given); explicit ``stop_options`` / ``stop_on`` win.
    The requested name is kept as ``stop_requested``.
    """
    out = dict(settings)
    requested = str(out.get("stop", "none")).strip().lower()
    name, opts, stream = auto_rule_spec(task, requested, spec)
    out["stop_requested"], out["stop"] = requested, name
    if name != "none":
        out["stop_options"] = {**opts, **(out.get("stop_options") or {})}
        out.setdefault("stop_on", stream)
    return out


def build_net(net: str, task: str | Task, channels: int, seed: int = 0, **options) -> Prior:
    """The prior for ``task``: ``"unet"`` (the task's preset) or ``"decoder"``.

    ``options`` override fields of the U-Net config or arguments of ``deep_decoder``.
    """
    rng = np.random.default_rng(seed)
    if Net.of(net) is Net.UNET:
        preset = get_task(task).prior
        return skip_unet(unet_config(preset, out_channels=channels, **options), rng=rng)
    return deep_decoder(out_channels=channels, rng=rng, **options)


def as_image(img: np.ndarray, name: str) -> np.ndarray:
    """An HxWxC float32 view/copy of an HxW / HxWx1 / HxWx3 float image, else ValueError."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{name} must be HxW, HxWx1 or HxWx3, got shape {np.shape(img)}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be a float image in [0, 1], got dtype {a.dtype}")
    return a.astype(np.float32, copy=False)


def run(task: str | Task, problem: Problem, *, net: str = "unet", seed: int = 0,
        net_options: dict | None = None, max_memory: int | None = None,
        log: Callable[[str], None] | None = None, workers: int | None = None,
        callback: Callable[[int, dict], None] | None = None, callback_every: int = 100,
        **fit_options) -> TaskResult:
    """Fit ``task``'s prior to ``problem`` (``fit_options``: :class:`FitConfig` fields over the
    task's ``fit_defaults``).

    Before fitting, the peak memory is estimated (:func:`tinydip.fitting.memory.plan_fit`): over
    ``max_memory`` bytes (default: 80% of the memory available now) the convolutions switch to
    lean mode (rebuild their buffers in backward: less memory, a little more time), and a
    :class:`~tinydip.fitting.memory.MemoryBudgetError` is raised if even that is over. The estimate
    is in the report and, with ``log``, announced in one line before the fit starts.
    ``problem.restarts > 1``: that many fits (seeds ``seed``, ``seed + 1``, ...) averaged
    (:func:`~.ensemble.combine`), ``workers`` of them side by side in worker processes
    (None: one per usable core; 1: one after the other; :mod:`~.parallel`).
    ``problem.postfilter``: applied to that output last (:func:`apply_postfilter`).
    ``callback(it, info)``: called every ``callback_every`` iterations (:func:`fit`'s)."""
    t = get_task(task)
    if problem.postfilter is not None:
        res = run(t, replace(problem, postfilter=None), net=net, seed=seed,
                  net_options=net_options, max_memory=max_memory, log=log, workers=workers,
                  callback=callback, callback_every=callback_every, **fit_options)
        return apply_postfilter(res, problem.postfilter, log)
    if problem.restarts > 1:
        return _restarts(t, problem, net=net, seed=seed, net_options=net_options,
                         max_memory=max_memory, log=log, workers=workers, **fit_options)
    obs = as_image(problem.observation, "observation")
    problem = replace(problem, observation=obs)
    H, W, C = problem.output_shape()
    check_min_size(H, W)
    truth = problem.truth
    if truth is not None:
        truth = as_image(truth, "truth")
        if truth.shape != (H, W, C):
            raise ValueError(f"truth is {truth.shape[0]}x{truth.shape[1]}x{truth.shape[2]} but "
                             f"the output is {H}x{W}x{C}")
    model = build_net(net, t, C, seed, **{**problem.net_options.get(net, {}),
                                          **(net_options or {})})
    estimate = plan_fit(model, H, W, max_memory, MEMORY_ADVICE)
    if log is not None:
        if "noise_sigma_estimate" in problem.extra:
            log(f"{t.name}: estimated noise sigma {problem.extra['noise_sigma_estimate']:.1f} "
                "(0-255 scale, from the image alone)")
        lean = ", lean mode to fit the memory budget" if estimate.lean else ""
        log(f"{t.name}: fitting a {model.num_parameters():,}-parameter "
            f"{Net.of(net).title} to {H}x{W}x{C} (estimated peak "
            f"memory {format_bytes(estimate.peak_bytes)}{lean}, about "
            f"{estimate.seconds_per_iter:.2g} s per iteration)")
    # The Deep Decoder is fitted without input jitter (Heckel & Hand): with the U-Net's 0.03
    # it barely fits (measured ~14 dB vs ~24 dB on text inpainting at 64x64).
    net_defaults = {"reg_noise_std": 0.0} if Net.of(net) is Net.DECODER else {}
    settings = resolve_stop(t, {**t.fit_defaults, **net_defaults, **problem.fit_options,
                                **fit_options, "seed": seed}, problem.stopping)
    requested = settings.pop("stop_requested")
    cfg = FitConfig(**settings)
    res = fit(model, to_tensor(obs), operator=problem.operator,
              truth=None if truth is None else to_tensor(truth), config=cfg,
              callback=callback, callback_every=callback_every,
              **({"loss_fn": problem.loss_fn} if problem.loss_fn is not None else {}))
    images = {"observation": obs}
    if truth is not None:
        images["truth"] = truth
    for k in ("last", "best", "smoothed", "output"):
        images[k] = np.clip(to_image(getattr(res, k)), 0, 1)
    scores, base = {}, {}
    if truth is not None:
        if obs.shape == truth.shape:  # unknown pixels of an inpainting observation are 0
            scores["input"] = psnr(obs, truth)
        for k in ("last", "best", "smoothed", "output"):
            scores[k] = psnr(images[k], truth)
        for name, make in problem.baselines.items():
            base[name] = psnr(np.clip(make(), 0, 1), truth)
    settings.update(stop=cfg.stop, stop_requested=requested, stop_on=cfg.stop_on,
                    stop_options=dict(cfg.stop_options))
    extra = {**problem.extra, "memory_estimate": estimate.as_dict(),
             "peak_rss_mb": round(peak_rss() / 2**20, 1)}
    return TaskResult(t.name, net, model.num_parameters(), res, images, scores, settings,
                      base, extra)


def apply_postfilter(res: TaskResult, postfilter: Callable, log=None) -> TaskResult:
    """``res`` with ``postfilter(observation, output)`` as its output; the fit's output is
    kept as ``images["pilot"]`` (and ``psnr["pilot"]``); the filter's report fields and
    seconds go to ``extra["postfilter"]``. A Ctrl-C or SIGTERM during the pass keeps the fit's
    output (nothing lost): the result is marked interrupted and ``extra["postfilter"]`` says
    the pass did not run to the end."""
    t0 = time.perf_counter()
    if log is not None:
        log(f"{res.task}: the classical pass after the fit ...")
    try:
        with compile_notice(log):  # the pass's numba kernels compile on first use (~10 s)
            image, info = postfilter(res.images["observation"], res.images["output"])
    except KeyboardInterrupt as exc:
        by = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        if log is not None:
            log(f"{res.task}: pass interrupted ({describe(exc)}): the output is the fit's")
        fit_result = replace(res.fit, interrupted=True,
                             interrupted_by=res.fit.interrupted_by or by)
        extra = {**res.extra, "postfilter": {"interrupted": True,
                                             "seconds": round(time.perf_counter() - t0, 3)}}
        return replace(res, fit=fit_result, extra=extra)
    seconds = time.perf_counter() - t0
    images = {**res.images, "pilot": res.images["output"], "output": image}
    scores = dict(res.psnr)
    if "truth" in images:
        scores["pilot"] = scores["output"]
        scores["output"] = psnr(image, images["truth"])
    extra = {**res.extra, "postfilter": {**info, "seconds": round(seconds, 3)}}
    if log is not None:
        log(f"{res.task}: {info['method']} ({seconds:.1f} s)")
    return replace(res, images=images, psnr=scores, extra=extra)


MEMORY_ADVICE = ("use a smaller image (--size for the built-in sample), a smaller network "
                 "(--net decoder), or raise --max-memory if the machine has the memory")


def _restarts(t: Task, problem: Problem, *, seed: int, log, workers: int | None,
              **options) -> TaskResult:
    """``problem.restarts`` fits, one seed each, averaged. Side by side (:mod:`.parallel`)
    when more than one core is usable, else one after the other, where an interrupted or
    diverged member ends the series (the completed members are kept: nothing lost)."""
    seeds = [seed + k for k in range(problem.restarts)]
    iters = {**t.fit_defaults, **problem.fit_options, **options}.get("iters", 0)
    n = side_by_side(t, problem.restarts, workers, iters)
    if n > 1:
        t0 = time.perf_counter()
        members, interrupted = run_side_by_side(t, problem, seeds, n, log=log, bar_iters=iters,
                                                **options)
        wall = time.perf_counter() - t0
        truth = problem.truth
        if truth is not None:  # the members ran without the baselines (closures)
            base = {name: psnr(np.clip(make(), 0, 1), as_image(truth, "truth"))
                    for name, make in problem.baselines.items()}
            members[0] = replace(members[0], baselines=base)
        return combine(members, problem.restarts, interrupted=interrupted, seconds=wall)
    single = replace(problem, restarts=1)
    members: list[TaskResult] = []
    interrupted = None
    for k, s in enumerate(seeds):
        if log is not None:
            log(f"{t.name}: fit {k + 1} of {problem.restarts} (seed {s}); the output "
                "is their average")
        try:
            member = run(t, single, seed=s, log=log, **options)
        except KeyboardInterrupt as exc:  # between two fits: keep what is done
            if not members:
                raise
            interrupted = exc
            break
        members.append(member)
        if member.fit.interrupted or member.fit.diverged:
            break
    return combine(members, problem.restarts, interrupted=interrupted)





def make_api(task: str | Task):
    """The Python function of a task: ``f(*args, truth=None, net="unet", seed=0,
    net_options=None, **options)``; keyword arguments that ``task.problem`` accepts go to it,
    the rest are :class:`FitConfig` fields."""
    t = get_task(task)
    accepted = set(inspect.signature(t.problem).parameters) - {"truth"}

    def api(*args, truth: np.ndarray | None = None, net: str = "unet", seed: int = 0,
            net_options: dict | None = None, **options) -> TaskResult:
        kw = {k: options.pop(k) for k in list(options) if k in accepted}
        return run(t, t.problem(*args, truth=truth, **kw), net=net, seed=seed,
                   net_options=net_options, **options)

    api.__name__ = api.__qualname__ = t.api_name
    api.__doc__ = t.problem.__doc__
    api.__module__ = "tinydip.tasks"
    return api
