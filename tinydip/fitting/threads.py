"""Parallel or serial steps: whichever is faster on this machine right now, by timing both.

Why: a step of a small network is hundreds of short kernels and products. On free cores,
running each on all cores pays (width-32 U-Net at 128x128, 2 cores: 48 ms parallel, 61 ms
serial). When the cores are busy with other work, every parallel kernel waits at its barrier
for a thread the scheduler has put aside, and the same step takes 137 ms parallel against
61 ms serial (measured with one core running another process; benchmarks/README.md,
"Thread wake-ups"). Which case holds is a property of the moment, not of the machine, so
the loop measures it: every ``every`` steps, ``probe`` steps on all threads, then ``probe``
steps on one, and keeps the faster (parallel unless serial is faster by ``margin``).

The choice never changes a number: every kernel writes disjoint slices and the matrix
products split their sums by size alone (:mod:`tinydip.functional.gemm`), so 1 and n
threads give the same bits (tests/test_threads.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numba
import numpy as np

from ..functional import gemm
from .hooks import Hook


def use_threads(n: int) -> None:
    """Run numba's kernels and the convolution products on ``n`` threads."""
    numba.set_num_threads(n)
    if gemm.threads() != n:
        gemm.set_threads(n)


class ThreadChoice(Hook):
    """Times ``probe`` steps on ``most`` threads and ``probe`` on one, every ``every`` steps
    (the first window starts at step ``start``: after compilation and warm-up), and runs the
    rest on the faster; ``close()`` puts ``most`` threads back. ``most`` defaults to the
    threads in use when the fit starts (``NUMBA_NUM_THREADS``, ``numba.set_num_threads``);
    1: does nothing.

    ``clock`` and ``apply`` (``use_threads``) are parameters so tests can drive it."""

    def __init__(self, most: int | None = None, *, every: int = 500, probe: int = 3,
                 start: int = 3, margin: float = 0.9,
                 clock: Callable[[], float] = time.perf_counter,
                 apply: Callable[[int], None] = use_threads) -> None:
        self.most = numba.get_num_threads() if most is None else most
        self.every, self.probe, self.start, self.margin = every, probe, start, margin
        self.clock, self.apply = clock, apply
        self.current = self.most
        self.times: dict[int, list[float]] = {}
        self.last: tuple[int, float] | None = None  # (step, its start time)
        self.choices: list[tuple[int, int]] = []  # (step, threads) of every decision

    def _mode(self, phase: int) -> int | None:
        """Threads for the step at this phase of the window (None: no probe then)."""
        if phase < 1 + self.probe:  # phase 0 switches (not timed), 1..probe timed
            return self.most
        if phase < 2 + 2 * self.probe:  # probe + 1 switches, then probe timed
            return 1
        return None

    def before_step(self, it: int, z: np.ndarray) -> np.ndarray:
        if self.most <= 1 or it < self.start:
            return z
        now = self.clock()
        if self.last is not None:
            prev, t0 = self.last
            phase = (prev - self.start) % self.every
            if phase not in (0, 1 + self.probe) and self._mode(phase) is not None:
                self.times.setdefault(self._mode(phase), []).append(now - t0)
        phase = (it - self.start) % self.every
        mode = self._mode(phase)
        if mode is None and phase == 2 + 2 * self.probe:
            mode = self._decide(it)
        if mode is not None and mode != self.current:
            self.apply(mode)
            self.current = mode
        self.last = (it, self.clock())
        return z

    def _decide(self, it: int) -> int:
        par, ser = (statistics.median(self.times.get(n, [np.inf])) for n in (self.most, 1))
        self.times = {}
        choice = 1 if ser < self.margin * par else self.most
        self.choices.append((it, choice))
        return choice

    def close(self) -> None:
        if self.current != self.most:
            self.apply(self.most)
            self.current = self.most
