"""Checks for the Lanczos downsampler's adjoint (chapter 6) and a ground-truth-free stopping
rule, windowed variance with patience (chapter 4; the library's ``stopping.py``)."""

from __future__ import annotations

import math

import numpy as np

from ..fitting.stopping import WindowedVariance
from ..operators import Downsampler
from .checks import Fail, LearnerModule, Suite, compare, expect_array, gradcheck

DOWNSAMPLER = Suite()
STOPPING = Suite()

# ---- downsampler adjoint ------------------------------------------------------------------

DS_CASES = (((2, 3, 8, 12), 2), ((1, 2, 16, 8), 4), ((1, 1, 4, 2), 2))


def _adjoint_1d(dy: np.ndarray, f: int, n: int, edges: str) -> np.ndarray:
    """A 1-D adjoint along the last axis; edges "clamp" (right), "drop" or "fancy" (mistakes)."""
    k = Downsampler(f).taps()
    i = np.arange(n // f)[:, None]
    raw = f * i - 3 * f // 2 + np.arange(4 * f)[None, :]  # (n/f, 4f)
    dx = np.zeros(dy.shape[:-1] + (n,))
    if edges == "fancy":  # dx[..., idx] += ... keeps ONE of the repeated indices' updates
        dx[..., np.clip(raw, 0, n - 1)] += dy[..., :, None] * k
        return dx
    if edges == "fancy-column":  # the same inside a loop over j: repeats only at the borders
        for j in range(4 * f):
            dx[..., np.clip(raw[:, j], 0, n - 1)] += k[j] * dy
        return dx
    for j in range(4 * f):
        cols = np.clip(raw[:, j], 0, n - 1)
        keep = (raw[:, j] == cols) if edges == "drop" else np.ones(len(cols), bool)
        np.add.at(dx, (Ellipsis, cols[keep]), dy[..., keep] * k[j])
    return dx


def _adjoint_variant(dy: np.ndarray, f: int, edges: str) -> np.ndarray:
    N, C, h, w = dy.shape
    a = _adjoint_1d(dy, f, w * f, edges)  # along W
    a = _adjoint_1d(np.swapaxes(a, 2, 3), f, h * f, edges)  # along H
    return np.swapaxes(a, 2, 3)


@DOWNSAMPLER.check("shape and dtype (float32)")
def _ds_shape(m: LearnerModule) -> None:
    dy = np.random.default_rng(100).standard_normal((2, 3, 4, 6)).astype(np.float32)
    expect_array(m.downsample_adjoint(dy, 2), "dx", (2, 3, 8, 12), np.float32)


@DOWNSAMPLER.check("matches tinydip's Downsampler.adjoint (factors 2, 4; non-square)")
def _ds_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(101)
    for shape, f in DS_CASES:
        x = rng.standard_normal(shape)
        op = Downsampler(f)
        compare(m.downsample_forward(x, f), op.forward(x), "downsample_forward (given)", 1e-12,
                hint="the given forward was changed; restore it from the stub")
        N, C, H, W = shape
        dy = rng.standard_normal((N, C, H // f, W // f))
        ref = op.adjoint(dy)
        got = expect_array(m.downsample_adjoint(dy, f), "dx", shape)
        nearest = np.repeat(np.repeat(dy, f, axis=2), f, axis=3)
        compare(got, ref, "dx", 1e-10, mistakes={
            "fancy-index += (dx[..., idx] += ...) keeps only ONE update per repeated index, and "
            "neighbouring windows overlap: accumulate with np.add.at or an explicit loop":
                _adjoint_variant(dy, f, "fancy"),
            "fancy-index += inside the loop over j (dx[..., idx[:, j]] += ...) still loses "
            "updates: at the clamped borders one column idx[:, j] repeats an index, and only "
            "one of those updates survives -- use np.add.at(dx, (Ellipsis, idx[:, j]), ...)":
                _adjoint_variant(dy, f, "fancy-column"),
            "the taps that the forward clamped to the first/last pixel are dropped: clamp the "
            "index the same way and ADD those taps to the edge pixel":
                _adjoint_variant(dy, f, "drop"),
            "that is nearest-neighbour upsampling, not the adjoint: each dy[i] goes back to "
            "the 4f pixels of its window, weighted by the taps": nearest,
            "that is nearest upsampling divided by f^2, not the adjoint": nearest / f**2,
            "the adjoint is not an inverse: do not rescale it": ref * f**2,
        }, hint=f"case dy {dy.shape}, factor {f}")


@DOWNSAMPLER.check("dot-product test <A x, y> = <x, A^T y> (float64)")
def _ds_dot(m: LearnerModule) -> None:
    rng = np.random.default_rng(102)
    x = rng.standard_normal((1, 2, 16, 12))
    y = rng.standard_normal((1, 2, 4, 3))
    aty = expect_array(m.downsample_adjoint(y, 4), "dx", x.shape)
    compare(float(np.vdot(x, aty)), float(np.vdot(m.downsample_forward(x, 4), y)),
            "<x, A^T y>", 1e-12, against="<A x, y>",
            hint="A^T must be the exact transpose of the given forward")


@DOWNSAMPLER.check("float64 gradient check (the adjoint is the forward's backward)")
def _ds_gradcheck(m: LearnerModule) -> None:
    rng = np.random.default_rng(103)
    x = rng.standard_normal((1, 2, 8, 4))
    dy = rng.standard_normal((1, 2, 4, 2))
    gradcheck(lambda: m.downsample_forward(x, 2), x, dy, m.downsample_adjoint(dy, 2), "dx")


# ---- stopping rule ------------------------------------------------------------------------

WINDOW, PATIENCE = 8, 15


def _trajectory(seed: int, T: int = 140, shape=(1, 3, 6, 5)) -> np.ndarray:
    """Outputs that move fast (fit), slow down, then speed up again (overfitting noise)."""
    rng = np.random.default_rng(seed)
    u, v = rng.standard_normal(shape), rng.standard_normal(shape)
    t = np.arange(T, dtype=np.float64)[:, None, None, None, None]
    frames = np.exp(-t / 8) * u + 0.3 * (t / 60) ** 3 * v + 0.002 * rng.standard_normal(
        (T, *shape))
    return frames.astype(np.float32)


def _run(make, frames: np.ndarray, reuse_buffer: bool = False):
    rule = make()
    stats, stop = [], None
    buf = np.empty_like(frames[0])
    for it, frame in enumerate(frames):
        if reuse_buffer:
            buf[...] = frame
            frame = buf
        stopped = rule.update(it, frame)
        stats.append(float(rule.statistic) if rule.statistic is not None else math.nan)
        if stopped:
            stop = it
            break
    return np.array(stats), stop, rule.best_iter


def _reference(frames: np.ndarray):
    def make():
        r = WindowedVariance(WINDOW, PATIENCE, warmup=0, select="last", min_rel_delta=0.0)
        r.update = lambda it, x, _u=r.update: _u(it, x, 0.0)
        return r
    return _run(make, frames)


def _learner(m: LearnerModule, frames: np.ndarray, reuse_buffer: bool = False):
    return _run(lambda: m.VarianceStopper(WINDOW, PATIENCE), frames, reuse_buffer)


def _variance_variants(frames: np.ndarray, n: int) -> dict[str, np.ndarray]:
    W = WINDOW
    def stat(i0, i1, ddof=0, pooled=False):
        win = frames[max(i0, 0):i1 + 1].astype(np.float64)
        return float(np.var(win, ddof=ddof) if pooled else np.var(win, axis=0, ddof=ddof).mean())
    out = {}
    for label, first, lo, ddof, pooled in (
            ("the window is one short: it must hold exactly W outputs, the first statistic "
             "exists at it = W - 1", W - 2, W - 2, 0, False),
            ("the window is one too long: it must hold exactly W outputs, the first statistic "
             "exists at it = W - 1", W, W, 0, False),
            ("use the population variance (ddof=0, divide by W), as the rule is defined",
             W - 1, W - 1, 1, False),
            ("take the variance ACROSS the window per element (axis 0), then the mean over "
             "elements, not the variance of all values pooled", W - 1, W - 1, 0, True)):
        span = lo + 1
        s = np.full(n, np.nan)
        for it in range(first, n):
            s[it] = stat(it - span + 1, it, ddof, pooled)
        out[label] = s
    return out


def _nan_equal_compare(got: np.ndarray, ref: np.ndarray, frames) -> None:
    n = min(len(got), len(ref))
    got, ref = got[:n], ref[:n]
    if not np.array_equal(np.isnan(got), np.isnan(ref)):
        for label, wrong in _variance_variants(frames, n).items():
            if np.array_equal(np.isnan(got), np.isnan(wrong)) and "window" in label:
                raise Fail(f"the statistic: {label}")
        first = int(np.argmax(~np.isnan(ref)))
        raise Fail(f"the statistic must be nan until the window is full and a number from "
                   f"it = {first} on (W = {WINDOW})")
    ok = ~np.isnan(ref)
    variants = {k: v[ok] for k, v in _variance_variants(frames, n).items()}
    compare(got[ok], ref[ok], "the statistic", 1e-6, variants)


@STOPPING.check("statistic: nan until the window is full, then the windowed variance")
def _st_stat(m: LearnerModule) -> None:
    frames = _trajectory(0)
    got, _, _ = _learner(m, frames)
    ref, _, _ = _reference(frames)
    _nan_equal_compare(got, ref, frames)


@STOPPING.check("stops exactly `patience` iterations after the last minimum")
def _st_stop(m: LearnerModule) -> None:
    for seed in (1, 2):
        frames = _trajectory(seed)
        _, stop, _ = _learner(m, frames)
        _, ref_stop, _ = _reference(frames)
        if stop == ref_stop:
            continue
        if stop is None:
            raise Fail("update() never returned True: return True once "
                       "it - best_iter >= patience")
        if abs(stop - ref_stop) == 1:
            raise Fail(f"off by one: stopped at it={stop}; stop at the first it with "
                       "it - best_iter >= patience (best_iter: where the minimum was seen)")
        raise Fail(f"stopped at it={stop}, which is not `patience` iterations after the "
                   "statistic's last new minimum")


@STOPPING.check("best_iter: the iteration of the lowest statistic")
def _st_best(m: LearnerModule) -> None:
    frames = _trajectory(3)
    _, _, best = _learner(m, frames)
    _, _, ref_best = _reference(frames)
    if best != ref_best:
        raise Fail(f"best_iter is {best}: it should be the iteration at which the lowest "
                   "statistic so far was computed (a strictly lower value replaces it)")


@STOPPING.check("keeps copies: works when the loop reuses its output buffer")
def _st_copies(m: LearnerModule) -> None:
    frames = _trajectory(4)
    got, _, _ = _learner(m, frames, reuse_buffer=True)
    ref, _, _ = _reference(frames)
    n = min(len(got), len(ref))
    if np.nanmax(np.abs(got[:n]), initial=0) <= 1e-6 * np.nanmax(ref[:n], initial=0):
        raise Fail("the statistic is always 0: the caller reuses its output array, so store "
                   "a copy (output.copy()) in your window, not the array itself")
    _nan_equal_compare(got, ref, frames)
