"""The plateau rules: a running minimum of a statistic, a warmup and a patience.

:class:`WindowedVariance` (ES-WMV, Wang et al. 2021: how much the output still moves; any
task, no pixels held out) and :class:`ValidationLoss` (the MSE on held-out observed pixels).
Both have the :class:`~.stopping.StoppingRule` contract; :func:`~.stopping.make_rule` builds
them by name.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np


class _PlateauRule:
    """Shared bookkeeping: running minimum of a statistic, warmup and patience.

    A candidate ``(value, selected_iter, output)`` lowers the running minimum when
    ``selected_iter >= warmup`` and ``value < best * (1 - min_rel_delta)``; the rule fires once
    ``patience`` iterations have passed since the minimum was last lowered.  Hence no iterate
    before ``warmup`` is ever selected and no stop happens before ``warmup + patience``.
    """

    name = "plateau"
    needs_val = False

    def __init__(self, patience: int, warmup: int, min_rel_delta: float) -> None:
        if int(patience) < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if int(warmup) < 0:
            raise ValueError(f"warmup must be >= 0, got {warmup}")
        if not 0.0 <= min_rel_delta < 1.0:
            raise ValueError(f"min_rel_delta must be in [0, 1), got {min_rel_delta}")
        self.patience = int(patience)
        self.warmup = int(warmup)
        self.min_rel_delta = float(min_rel_delta)
        self.statistic: float = math.nan
        self.best_value: float = math.inf
        self.best_iter: int | None = None
        self.best_output: np.ndarray | None = None
        self.reason = "not stopped"
        self._improved_at: int | None = None
        self._last_it = -1

    def _check_it(self, it: int) -> None:
        if it <= self._last_it:
            raise ValueError(f"iterations must increase: got it={it} after it={self._last_it}")
        self._last_it = it

    def _consider(self, it: int, value: float, selected_it: int, output: np.ndarray) -> None:
        """Offer a candidate observed at iteration ``it``; keep a copy if it is a new minimum."""
        if selected_it < self.warmup or not math.isfinite(value):
            return
        if value < self.best_value * (1.0 - self.min_rel_delta):
            self.best_value = value
            self.best_iter = selected_it
            self._improved_at = it
            self.reason = "not stopped"
            self.best_output = np.array(output, copy=True)  # fresh: never mutated later

    def _patience_expired(self, it: int) -> bool:
        if self._improved_at is None or it - self._improved_at < self.patience:
            return False
        self.reason = (
            f"{self.name}: no new minimum of the statistic (best {self.best_value:.4g}, "
            f"reached at iteration {self._improved_at}) for {it - self._improved_at} "
            f">= patience={self.patience} iterations; selected iteration {self.best_iter}"
        )
        return True


class WindowedVariance(_PlateauRule):
    r"""ES-WMV: stop when the windowed variance of recent outputs stops reaching new minima.

    Wang et al., "Early Stopping for Deep Image Prior" (arXiv 2112.06074): the outputs move
    least around the quality peak, between the fast fit of the content and the slow fit of
    the noise.

    Args:
        window: W, number of recent outputs kept (paper: 100; default 50).
        patience: stop after this many iterations without a new variance minimum (default
            100); ``None`` means ``5 * window`` (paper: 1000 = 10 W, for 5000+ iterations).
        warmup: no iterate before this one is selected; no stop before ``warmup + patience``.
        select: which iterate of the minimum-variance window is returned: ``"center"``
            (default, see Notes), ``"last"`` (newest; what the authors' reference notebook
            records as best epoch) or ``"first"`` (oldest, the window's start).
        min_rel_delta: relative decrease needed to count as a new minimum (0 = any decrease,
            the paper's rule; default 0.1, see *Knee*).

    Knee (the defaults): measured on the EMA-smoothed output with the paper's input jitter,
    VAR does not rise again after the quality peak -- it keeps decaying, ever slower, so the
    paper's rule (``min_rel_delta=0``) runs to the budget (benchmarks/bench_stopping.py).
    With ``min_rel_delta = d`` it fires once VAR has not dropped by a factor ``1 - d`` within
    ``patience`` iterations, i.e. when its decay rate falls below about ``d / patience`` per
    iteration (0.1 / 100 by default), and selects the iterate where it last dropped that
    much: the end of the fast phase.  That point follows the optimiser's time scale, not the
    noise level, so for noisy denoising :class:`ValidationLoss` is the better default.

    Notes:
        With the window holding outputs :math:`x_{t-W+1}, \dots, x_t` of ``n`` elements,

        .. math::
            \bar x_t = \frac{1}{W}\sum_{w=0}^{W-1} x_{t-w}, \qquad
            \mathrm{VAR}_t = \frac{1}{W n}\sum_{w=0}^{W-1}\lVert x_{t-w}-\bar x_t\rVert^2,

        the per-element variance across the window averaged over elements (independent of
        image size).  It costs O(n) per step, not O(W n): a sliding Welford update of the
        float64 mean and :math:`M_2 = W n\,\mathrm{VAR}` when :math:`x_t` replaces :math:`x_o`,

        .. math::
            d = x_t - x_o,\quad \bar x' = \bar x + d/W,\quad
            M_2' = M_2 + \langle d,\,(x_t - \bar x') + (x_o - \bar x)\rangle,

        avoids the cancellation in :math:`\sum\lVert x\rVert^2 - W\lVert\bar x\rVert^2`, and an
        exact recomputation every W steps (amortised O(n)) stops rounding drift.  A non-finite
        VAR restarts the window.

        Selection: at locally constant speed :math:`v`, :math:`\mathrm{VAR}_t \approx
        \frac{W^2-1}{12}\lVert v\rVert^2/n` with :math:`v` taken at the window's centre, so the
        minimum locates the slowest iterate at the *centre*; ``"last"`` lags it by W/2
        iterations, ``"first"`` leads by W/2.  It is in the buffer: one copy, no extra memory.

        Memory: a ring buffer of W outputs in the input dtype (float32: 4.9 MB at 64x64x3,
        79 MB at 256x256x3, 315 MB at 512x512x3 for W=100 -- use W=50 for large images) plus
        the best copy and a few float64 images of scratch.  Patience should scale with the
        optimiser's time scale (learning rate, architecture, output EMA), not the image size,
        since VAR is per element; ``None`` ties it to W.
    """

    name = "wmv"

    def __init__(
        self,
        window: int = 50,
        patience: int | None = 100,
        warmup: int = 100,
        *,
        select: Literal["center", "last", "first"] = "center",
        min_rel_delta: float = 0.1,
    ) -> None:
        if int(window) < 2:
            raise ValueError(f"window must be >= 2, got {window}")
        offsets = {"last": 0, "center": int(window) // 2, "first": int(window) - 1}
        if select not in offsets:
            raise ValueError(f"select must be one of {sorted(offsets)}, got {select!r}")
        self.window = int(window)
        self.select = select
        self._back = offsets[select]
        super().__init__(5 * self.window if patience is None else patience, warmup, min_rel_delta)
        self._buf: np.ndarray | None = None
        self._its = np.zeros(self.window, dtype=np.int64)
        self._mean: np.ndarray | None = None
        self._m2 = 0.0
        self._seen = 0  # outputs pushed since the window was (re)started

    def update(
        self, it: int, output: np.ndarray, loss: float, *, val_loss: float | None = None
    ) -> bool:
        """Push ``output``; once the window is full, track VAR's minimum. ``loss`` is unused."""
        self._check_it(it)
        x = np.asarray(output)
        if self._buf is None:
            dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
            self._buf = np.empty((self.window, *x.shape), dtype=dtype)
            self._mean = np.zeros(x.shape, dtype=np.float64)
        elif x.shape != self._buf.shape[1:]:
            raise ValueError(f"output shape changed from {self._buf.shape[1:]} to {x.shape}")
        self._push(it, x)
        if self._seen < self.window:
            self.statistic = math.nan
            return self._patience_expired(it)  # a restarted window still counts patience
        self.statistic = self._m2 / (self.window * max(x.size, 1))
        if not math.isfinite(self.statistic):
            self._seen, self._m2 = 0, 0.0  # drop the poisoned window and refill
            self._mean[...] = 0.0
        else:
            slot = (self._seen - 1 - self._back) % self.window
            self._consider(it, self.statistic, int(self._its[slot]), self._buf[slot])
        return self._patience_expired(it)

    def _push(self, it: int, x: np.ndarray) -> None:
        w, mean = self.window, self._mean
        slot = self._seen % w
        xd = x.astype(np.float64)
        if self._seen < w:  # window still filling: ordinary Welford insertion
            delta = xd - mean
            mean += delta / (self._seen + 1)
            self._m2 += float(np.vdot(delta, xd - mean))
        else:  # sliding replacement of the oldest output
            old = self._buf[slot].astype(np.float64)
            d = xd - old
            old -= mean  # x_o - mean
            mean += d / w
            xd -= mean  # x_t - mean'
            xd += old
            self._m2 += float(np.vdot(d, xd))
        self._buf[slot] = x
        self._its[slot] = it
        self._seen += 1
        if self._seen % w == 0:
            self._recompute()

    def _recompute(self) -> None:
        """Exact float64 mean and M2 of the full window, one frame at a time (no W*n temp)."""
        self._mean[...] = np.mean(self._buf, axis=0, dtype=np.float64)
        m2 = 0.0
        for frame in self._buf:
            r = frame - self._mean
            m2 += float(np.vdot(r, r))
        self._m2 = m2


class ValidationLoss(_PlateauRule):
    r"""Self-validation: stop when the loss on held-out observed pixels stops improving.

    The loop trains on ``train_mask`` and passes ``val_loss`` = :func:`masked_mse` of the
    forward-modelled output against the observation on ``val_mask`` (:func:`make_holdout`);
    :func:`~tinydip.fitting.fit.fit` computes it on the stream the rule watches (``stop_on``),
    so with
    the EMA-smoothed output the minimum is that of the smoothed output, which peaks ~100
    iterations after the raw one (validating the raw output and returning the smoothed one
    landed 0.9 dB below the run's best at sigma 50, vs 0.17 dB; benchmarks/bench_stopping.py).

    Args:
        patience: stop after this many iterations without a new minimum of the smoothed loss.
        warmup: no iterate before this one is selected; no stop before ``warmup + patience``.
        smooth: EMA factor beta in [0, 1) for the validation loss (0 = raw); a few hundred
            pixels give a jittery curve.  It delays the located minimum by about
            beta / (1 - beta) iterations (99 for the default 0.99, which measured best: the
            jitter otherwise fakes early minima).
        min_rel_delta: relative decrease needed to count as a new minimum.

    Notes:
        Bias-corrected EMA (non-finite values are skipped and count as no improvement):

        .. math::
            s_t = \beta s_{t-1} + (1-\beta) v_t,\quad c_t = \beta c_{t-1} + (1-\beta),
            \quad \hat v_t = s_t / c_t,\qquad s_{-1} = c_{-1} = 0.

        Validity: for :math:`y = A x + \varepsilon` with noise independent across observed
        pixels the network never sees held-out noise, so :math:`\mathbb E\,\mathrm{val} =
        \lVert A f - A x\rVert^2_{val} + \sigma^2` tracks the true error up to a constant.
        Valid for denoising (i.i.d. Gaussian, Poisson, impulse) and inpainting (hold out
        *known* pixels; the task is interpolation anyway).  For super-resolution/deblurring
        the masks live in *observation* space (the LR grid; mask the residual :math:`A f-y`):
        valid for independent LR noise, but each LR pixel alone constrains a block of HR
        pixels, so keep ``frac`` small.  NOT valid for spatially correlated noise (demosaiced
        camera noise, JPEG artefacts, noise before blur): neighbours predict held-out noise
        and the loss keeps falling while the net overfits.  Whole pixels (all channels) are
        held out because channel noise is often correlated.
    """

    name = "val"
    needs_val = True

    def __init__(
        self,
        patience: int = 100,
        warmup: int = 100,
        smooth: float = 0.99,
        *,
        min_rel_delta: float = 0.0,
    ) -> None:
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"smooth must be in [0, 1), got {smooth}")
        super().__init__(patience, warmup, min_rel_delta)
        self.smooth = float(smooth)
        self._s = self._c = 0.0  # EMA numerator and bias-correction weight

    def update(
        self, it: int, output: np.ndarray, loss: float, *, val_loss: float | None = None
    ) -> bool:
        """Track the smoothed ``val_loss`` (required); ``loss`` is unused."""
        if val_loss is None:
            msg = "ValidationLoss.update needs val_loss= (held-out MSE; see make_holdout)"
            raise ValueError(msg)
        self._check_it(it)
        v = float(val_loss)
        if math.isfinite(v):
            self._s = self.smooth * self._s + (1.0 - self.smooth) * v
            self._c = self.smooth * self._c + (1.0 - self.smooth)
            self.statistic = self._s / self._c
            self._consider(it, self.statistic, it, np.asarray(output))
        else:
            self.statistic = math.nan
        return self._patience_expired(it)
