"""Estimate a fit's peak memory and time per iteration *before* spending them.

A fit's memory is the process as it stands (interpreter, libraries, the network's weights)
plus what one iteration allocates: the activations every layer keeps for backward, the
gradients, the scratch buffers and Adam's two moment arrays. Everything but the moments
scales with the number of output pixels, so

    peak_rss(H, W) ~= rss_now + a + b * H * W + 2 * 4 * n_params

where ``a`` and ``b`` come from two small probe iterations (forward + backward at the two
smallest sizes the network accepts) measured with :mod:`tracemalloc` (NumPy reports its
allocations to it). The time per iteration is timed separately, without tracemalloc (which
slows every allocation) and in the mode the fit runs in: the median of a few warm
iterations at each probe size, extrapolated affinely (:func:`extrapolate_seconds`).
The probes leave the network as it found it (weights, BatchNorm running
statistics, gradients zeroed). Measured against peak RSS it is within ~10% for the paper's
U-Net at 128-256 px (tests check 30% at small sizes).

:func:`check_budget` turns an estimate over the budget (default: 80% of the memory the system
reports available) into one :class:`MemoryBudgetError` line with the estimate and what to do.
:func:`plan_fit` does both and, before giving up, tries the *lean* mode: every convolution
rebuilds its im2col matrix / Winograd tiles in backward instead of keeping them from forward
(:meth:`~tinydip.nn.Conv2d.set_keep_cols`; the default ``keep_cols="auto"`` already rebuilds
the buffers over ``Conv2d.KEEP_MAX_BYTES``). Measured peak RSS of the paper U-Net at 512x512:
1848 MB lean, 2810 MB keeping every buffer (benchmarks/README.md, "Memory at 512x512").
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from ..functional.workspace import clear_workspace
from ..models.prior import Prior
from ..nn import Conv2d
from ..runtime.allocator import keep_freed_memory

__all__ = ["FitEstimate", "MemoryBudgetError", "available_memory", "default_budget",
           "current_rss", "peak_rss", "estimate_fit", "check_budget", "plan_fit",
           "set_lean", "parse_size", "format_bytes"]

BUDGET_FRACTION = 0.8  # of the memory the system reports available


class MemoryBudgetError(ValueError):
    """The estimated peak memory exceeds the budget (one line: estimate and advice)."""


@dataclass(frozen=True)
class FitEstimate:
    """What a fit at ``height x width`` is expected to cost."""

    height: int
    width: int
    peak_bytes: int  # peak resident memory of the whole process
    iteration_bytes: int  # of which one iteration allocates (activations, grads, scratch)
    seconds_per_iter: float  # forward + backward, extrapolated from the probes; rough
    lean: bool = False  # convolutions rebuild their im2col / Winograd buffers in backward

    def as_dict(self) -> dict:
        return {"peak_mb": round(self.peak_bytes / 2**20, 1),
                "iteration_mb": round(self.iteration_bytes / 2**20, 1),
                "seconds_per_iter": round(self.seconds_per_iter, 4),
                "lean": self.lean}


def format_bytes(n: float) -> str:
    for unit, size in (("GB", 2**30), ("MB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**10:.0f} KB"


def parse_size(text: str) -> int:
    """``"4G"``, ``"500M"``, ``"2.5GB"``, ``"1048576"`` -> bytes (binary units)."""
    t = str(text).strip().upper().removesuffix("B")
    mult = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(t[-1:], 1)
    if mult != 1:
        t = t[:-1]
    try:
        value = float(t) * mult
    except ValueError:
        raise ValueError(f"expected a memory size like 4G or 500M, got {text!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive memory size, got {text!r}")
    return int(value)


def _meminfo(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def available_memory() -> int:
    """Bytes the system can give without swapping (Linux MemAvailable; else physical RAM)."""
    avail = _meminfo("MemAvailable")
    if avail is None:
        avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(avail)


def current_rss() -> int:
    """Resident memory of this process now (bytes)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the peak so far is an upper bound
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def default_budget() -> int:
    """What a fit may use by default: :data:`BUDGET_FRACTION` of the available memory plus
    what this process already holds."""
    return int(BUDGET_FRACTION * available_memory()) + current_rss()


def _probe(net: Prior, z: np.ndarray) -> tuple[int, float, list]:
    """Bytes allocated at the peak of one forward + backward, its seconds, and the input shape
    of every convolution (in ``_convs`` order).

    The scratch buffers and the convolutions' kept buffers are released first so that each
    probe counts its own."""
    clear_workspace()
    for conv in _convs(net):
        conv.release_buffer()
    gc.collect()
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        out = net(z)
        shapes = [conv.last_input_shape for conv in _convs(net)]
        net.backward_once(np.ones_like(out), input_grad=False)  # as fit_step does
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, seconds, shapes


TIMED_REPEATS = 3  # warm iterations timed per probe size (their median counts)


def _time_iteration(net: Prior, z: np.ndarray, repeats: int = TIMED_REPEATS) -> float:
    """Median seconds of ``repeats`` warm forward + backward passes (after one untimed)."""
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        out = net(z)
        net.backward_once(np.ones_like(out), input_grad=False)
        if i:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def extrapolate_seconds(points: list[tuple[float, float]], pixels: float) -> float:
    """Seconds per iteration at ``pixels`` from (pixels, seconds) at two probe sizes.

    Affine, ``t = a + b * pixels``: small sizes carry a fixed cost per iteration (one call per
    layer, thread start-up) that a proportional scaling multiplies with the size (it made
    the 128x128 README fit look 1.3-4x slower than it ran). A slope the timing noise made
    non-positive falls back to proportional scaling of the larger probe."""
    (p1, t1), (p2, t2) = sorted(points)
    slope = (t2 - t1) / (p2 - p1) if p2 > p1 else 0.0
    if slope <= 0:
        return t2 * pixels / p2
    return max(t2 + slope * (pixels - p2), slope * pixels)


def estimate_fit(prior: Prior, height: int, width: int,
                 probe_sizes: tuple[int, int] | None = None) -> FitEstimate:
    """Estimate peak memory and time per iteration of fitting ``prior`` to ``height x width``.

    Parameters
    ----------
    prior : the network (float32), in the state the fit will start from.
    height, width : the output size (rounded up as the prior generates it).
    probe_sizes : two square sizes the prior accepts, smallest first (default: one and two
        steps of ``downsampling`` above its minimum size; at the minimum itself the fixed
        costs distort the slope: the paper U-Net's lean probes at 64/96 extrapolated 512x512
        to 68% of the measured peak, at 96/128 to ~93%).

    Notes
    -----
    The probes run in lean mode; the buffers the convolutions keep for backward (which
    ``keep_cols="auto"`` keeps or not by their size) are added for the target size exactly:
    each convolution's input shape at the target is its probe input shape scaled by
    H / probe size, W / probe size, and ``Conv2d.kept_shape`` says what it keeps there.
    """
    H, W = prior.generated_size((height, width))
    keep_freed_memory()  # probe under the fit's allocator setting (fit_step applies it too):
    # with page faults the 64/96 probes' slope put a 256x256 fit at 0.21 s/it, it ran 0.10
    if probe_sizes is None:
        probe_sizes = (prior.min_size + prior.downsampling,
                       prior.min_size + 2 * prior.downsampling)
    state = prior.state_dict()  # weights and BatchNorm buffers: restored after probing
    convs = _convs(prior)
    modes = [conv.keep_cols for conv in convs]
    rng = np.random.default_rng(0)
    points, timings = [], []
    try:
        set_lean(prior)
        _probe(prior, prior.make_input((probe_sizes[0],) * 2, 1.0, rng))  # warm-up
        for s in probe_sizes:
            points.append((s * s, *_probe(prior, prior.make_input((s, s), 1.0, rng))))
        for conv, mode in zip(convs, modes, strict=True):  # time the fit's own mode
            conv.set_keep_cols(mode)
        for s in probe_sizes:
            timings.append((s * s, _time_iteration(prior, prior.make_input((s, s), 1.0, rng))))
    finally:
        for conv, mode in zip(convs, modes, strict=True):
            conv.set_keep_cols(mode)
            conv.release_buffer()  # kept by the timed iterations
        prior.load_state_dict(state)
        prior.zero_grad()
        clear_workspace()
        gc.collect()
    (p1, b1, _, _), (p2, b2, _, shapes) = points
    per_pixel = max((b2 - b1) / (p2 - p1), 0.0)
    fixed = max(b1 - per_pixel * p1, 0.0)
    s2 = probe_sizes[1]
    kept = 0
    for conv, (n, c, h, w) in zip(convs, shapes, strict=True):
        shape = conv.kept_shape((n, c, round(h * H / s2), round(w * W / s2)))
        kept += 0 if shape is None else int(np.prod(shape)) * conv.weight.data.itemsize
    iteration = int(fixed + per_pixel * H * W + kept
                    + 2 * 4 * prior.num_parameters())  # + Adam m, v
    return FitEstimate(H, W, current_rss() + iteration, iteration,
                       extrapolate_seconds(timings, H * W), is_lean(prior))


def _convs(net: Prior) -> list[Conv2d]:
    return [m for m in net.modules() if isinstance(m, Conv2d)]


def is_lean(net: Prior) -> bool:
    """Whether no convolution of ``net`` keeps its im2col / Winograd buffer for backward."""
    return all(c.keep_cols is False for c in _convs(net))


def set_lean(net: Prior, lean: bool = True) -> None:
    """Lean mode on (every convolution rebuilds its im2col matrix / Winograd tiles in
    backward, releasing its kept buffer) or off (back to the default, ``keep_cols="auto"``:
    buffers up to ``Conv2d.KEEP_MAX_BYTES`` kept)."""
    for c in _convs(net):
        c.set_keep_cols(False if lean else "auto")


def peak_rss() -> int:
    """The largest resident memory this process has had so far (bytes)."""
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * (1 if sys.platform == "darwin" else 1024)  # macOS reports bytes


def check_budget(estimate: FitEstimate, budget: int | None, advice: str) -> None:
    """Raise :class:`MemoryBudgetError` if ``estimate.peak_bytes`` exceeds ``budget``
    (``None``: :func:`default_budget`)."""
    limit = default_budget() if budget is None else int(budget)
    if estimate.peak_bytes > limit:
        raise MemoryBudgetError(
            f"a fit at {estimate.height}x{estimate.width} needs about "
            f"{format_bytes(estimate.peak_bytes)} of memory, over the budget of "
            f"{format_bytes(limit)}; {advice}")


def plan_fit(prior: Prior, height: int, width: int, budget: int | None,
             advice: str) -> FitEstimate:
    """Estimate a fit and make it fit the budget (``None``: :func:`default_budget`).

    If the estimate is over the budget and the network keeps convolution buffers, switch it to
    lean mode (:func:`set_lean`) and estimate again; raise :class:`MemoryBudgetError` (with the
    lean estimate) only if that is still over. Returns the estimate of the mode ``prior`` is
    left in (``FitEstimate.lean``)."""
    limit = default_budget() if budget is None else int(budget)
    estimate = estimate_fit(prior, height, width)
    if estimate.peak_bytes > limit and not estimate.lean:
        set_lean(prior)
        estimate = estimate_fit(prior, height, width)
    check_budget(estimate, limit, advice)
    return estimate
