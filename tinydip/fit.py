"""The Deep Image Prior fitting loop: Adam on one image, with the tricks that matter.

    theta* = argmin_theta E(A(f(z + sigma_t * eta_t; theta)), x0),  eta_t ~ N(0, I) each step

E is the MSE (over known pixels for inpainting), A the identity or a fixed degradation operator
(super-resolution). Returned: the last output, the output with the lowest training loss, an
exponential moving average of outputs, and the output a stopping rule selected.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

import numpy as np
from tqdm.auto import tqdm

from .functional import mse_loss
from .jit_notice import compile_notice
from .metrics import psnr
from .nn import Module
from .optim import Adam
from .stopping import NoStop, make_holdout, make_rule, masked_mse

OUTPUTS = ("smoothed", "best", "last")


@dataclass(frozen=True)
class FitConfig:
    """Settings of :func:`fit` (defaults: the paper's denoising settings)."""

    iters: int = 3000
    lr: float = 0.01
    reg_noise_std: float = 1.0 / 30  # sigma of the input jitter (0: off)
    reg_noise_decay: float = 1.0  # multiply the jitter sigma by this ...
    reg_noise_every: int = 0  # ... every this many steps (0: never)
    ema: float = 0.99  # weight of the exponential moving average of outputs
    input_scale: float = 0.1  # z ~ U(0, input_scale)
    seed: int = 0
    output: str = "smoothed"  # which image `FitResult.output` is without a stopping rule
    stop: str = "none"  # "none", "auto" (stopping.auto_rule_spec(None)), "wmv" or "val"
    stop_on: str = "smoothed"  # output stream the rule watches (and "val" validates)
    stop_options: dict = field(default_factory=dict)  # passed to the rule's constructor
    holdout: float = 0.05  # fraction of known pixels held out by the "val" rule
    progress: bool | None = None  # None: a progress bar when the run is long
    keep_best_state: bool = False  # also return the weights that produced `best` (best_state)


@dataclass
class FitResult:
    """Outputs (NCHW, cropped to the requested size) and the history of a fit."""

    last: np.ndarray
    best: np.ndarray
    smoothed: np.ndarray
    output: np.ndarray  # the image the run recommends (see `output_kind`)
    output_kind: str
    output_iter: int
    best_iter: int
    best_loss: float
    iters_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    stopped_iter: int | None = None
    stop_reason: str = "iteration budget reached"
    interrupted: bool = False
    z: np.ndarray | None = None
    net: Module | None = None
    best_state: dict[str, np.ndarray] | None = None  # state_dict at best_iter (keep_best_state)

    @property
    def seconds_per_iter(self) -> float:
        return self.seconds / max(self.iters_run, 1)


def _noise_input(net: Module, out_hw: tuple[int, int], scale: float, rng) -> np.ndarray:
    m, s = getattr(net, "downsampling", 1), getattr(net, "z_stride", 1)
    low = getattr(net, "min_size", m)
    H, W = (max(-(-n // m) * m, low) for n in out_hw)  # round up to a multiple of m
    shape = (1, net.in_channels, H // s, W // s)
    return (rng.random(shape, dtype=np.float32) * np.float32(scale)).astype(np.float32)


def fit(net: Module, observation: np.ndarray, *, mask: np.ndarray | None = None,
        operator=None, truth: np.ndarray | None = None, config: FitConfig | None = None,
        z: np.ndarray | None = None, callback: Callable[[int, dict], None] | None = None,
        callback_every: int = 100, **overrides) -> FitResult:
    """Fit ``net`` to one degraded observation and return its outputs.

    Parameters
    ----------
    net : a model with ``in_channels``, ``downsampling`` and ``z_stride`` attributes
        (``skip_unet`` / ``deep_decoder``), float32.
    observation : (1, C, h, w) float32, the degraded image x0.
    mask : None or broadcastable to the observation, 1 = known pixel (inpainting).
    operator : None or an object with ``forward(x)`` / ``adjoint(dy)`` and an integer
        ``factor``: the output is ``factor`` times larger than the observation (super-resolution).
    truth : optional (1, C, H, W) ground truth of the OUTPUT, for PSNR curves only.
    config / overrides : :class:`FitConfig` fields.
    z : optional fixed network input; by default U(0, input_scale) of the right shape.
    callback : called as ``callback(it, info)`` every ``callback_every`` iterations.

    Output sizes that are not a multiple of ``net.downsampling`` are handled by generating a
    larger image and cropping it (the loss never sees the extra border). BatchNorm uses batch
    statistics throughout, so every returned image is exactly an output seen during fitting.
    Ctrl-C stops the loop cleanly: the result so far is returned with ``interrupted=True``.
    """
    cfg = replace(config or FitConfig(), **overrides)
    for name, value, allowed in (("output", cfg.output, OUTPUTS),
                                 ("stop_on", cfg.stop_on, ("smoothed", "raw"))):
        if value not in allowed:
            raise ValueError(f"fit: {name} must be one of {allowed}, got {value!r}")
    if cfg.iters < 1:
        raise ValueError(f"fit: iters must be >= 1, got {cfg.iters}")
    obs = np.asarray(observation)
    if obs.ndim != 4 or obs.shape[0] != 1:
        raise ValueError(f"fit: observation must have shape (1, C, H, W), got {obs.shape}")
    obs = obs.astype(np.float32, copy=False)
    factor = getattr(operator, "factor", 1) if operator is not None else 1
    H, W = obs.shape[2] * factor, obs.shape[3] * factor
    if truth is not None and truth.shape[2:] != (H, W):
        raise ValueError(f"fit: truth is {truth.shape[2]}x{truth.shape[3]}, the output is {H}x{W}")

    rng = np.random.default_rng(cfg.seed)
    if z is None:
        z = _noise_input(net, (H, W), cfg.input_scale, rng)
    z = z.astype(np.float32, copy=False)

    rule = make_rule(cfg.stop, **cfg.stop_options) if cfg.stop != "none" else NoStop()
    train_mask, val_mask = mask, None
    if rule.needs_val:
        train_mask, val_mask = make_holdout(mask, obs.shape, cfg.holdout, rng, channel_axis=1)

    net.train()
    opt = Adam(net.parameters(), lr=cfg.lr)
    sigma = cfg.reg_noise_std
    show = cfg.progress if cfg.progress is not None else cfg.iters * H * W >= 2e6
    bar = tqdm(total=cfg.iters, disable=not show, unit="it", dynamic_ncols=True, leave=False)
    notice = ExitStack()  # one line (above the bar) if this run compiles kernels; not if quiet
    notice.enter_context(compile_notice(
        None if cfg.progress is False else (lambda s: tqdm.write(s, file=sys.stderr))))
    history: list[dict] = []
    last = best = smoothed = None
    best_loss, best_iter, it_done = np.inf, 0, 0
    best_state = None
    stopped_iter, stop_reason, interrupted = None, "iteration budget reached", False
    start = time.perf_counter()
    try:
        for it in range(cfg.iters):
            if cfg.reg_noise_every and it and it % cfg.reg_noise_every == 0:
                sigma *= cfg.reg_noise_decay
            zin = z
            if sigma > 0:
                zin = z + np.float32(sigma) * rng.standard_normal(z.shape, dtype=np.float32)
            full = net(zin)  # (1, C, Hp, Wp)
            if full.dtype != np.float32:
                raise AssertionError(f"fit: network produced {full.dtype}, expected float32")
            out = full[:, :, :H, :W]  # (1, C, H, W) view
            pred = operator.forward(out) if operator is not None else out
            loss, dpred = mse_loss(pred, obs, train_mask)
            dout = operator.adjoint(dpred) if operator is not None else dpred
            if full.shape != out.shape:
                dfull = np.zeros_like(full)
                dfull[:, :, :H, :W] = dout
                dout = dfull
            net.zero_grad()
            net.backward(dout.astype(np.float32, copy=False))
            if cfg.keep_best_state and loss < best_loss:  # the weights that produced `out`
                best_state = net.state_dict()
            opt.step()

            # bookkeeping: `out` was produced by the parameters before this step's update
            last = out
            smoothed = out.copy() if smoothed is None else \
                smoothed * np.float32(cfg.ema) + out * np.float32(1 - cfg.ema)
            if loss < best_loss:
                best_loss, best_iter, best = loss, it, out.copy()
            rec = {"iter": it, "loss": loss}
            val_loss = None
            if val_mask is not None:  # held-out misfit of the stream the rule watches
                vpred = pred
                if cfg.stop_on == "smoothed":
                    vpred = operator.forward(smoothed) if operator is not None else smoothed
                val_loss = masked_mse(vpred, obs, val_mask)
                rec["val_loss"] = val_loss
            if truth is not None:
                rec["psnr"] = psnr(out, truth)
                rec["psnr_smoothed"] = psnr(smoothed, truth)
            stop = rule.update(it, smoothed if cfg.stop_on == "smoothed" else out, loss,
                               val_loss=val_loss)
            if np.isfinite(rule.statistic):
                rec["stat"] = float(rule.statistic)
            history.append(rec)
            it_done = it + 1
            bar.update(1)
            if it % 10 == 0:
                post = {"loss": f"{loss:.2e}"}
                if truth is not None:
                    post["psnr"] = f"{rec['psnr']:.2f}"
                bar.set_postfix(post, refresh=False)
            if callback is not None and (it % callback_every == 0 or it == cfg.iters - 1):
                callback(it, {**rec, "output": out, "smoothed": smoothed})
            if stop:
                stopped_iter, stop_reason = it, rule.reason
                break
    except KeyboardInterrupt:
        interrupted, stop_reason = True, "interrupted (Ctrl-C)"
    finally:
        notice.close()
        bar.close()
    seconds = time.perf_counter() - start
    if last is None:
        raise KeyboardInterrupt("fit: interrupted before the first iteration finished")

    outputs = {"last": last.copy(), "best": best, "smoothed": smoothed}
    if rule.best_output is not None:
        output, out_iter = rule.best_output, int(rule.best_iter)
        kind = f"{cfg.stop_on} selected by the {rule.name} rule"
    else:
        output = outputs[cfg.output]
        out_iter = best_iter if cfg.output == "best" else it_done - 1
        kind = cfg.output
    return FitResult(last=outputs["last"], best=best, smoothed=smoothed, output=output,
                     output_kind=kind, output_iter=out_iter, best_iter=best_iter,
                     best_loss=float(best_loss), iters_run=it_done, seconds=seconds,
                     history=history, stopped_iter=stopped_iter, stop_reason=stop_reason,
                     interrupted=interrupted, z=z, net=net, best_state=best_state)
