"""Tests for tinydip.fitting.stopping: synthetic output / loss sequences with known minima."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinydip.fitting.stopping import (
    NoStop,
    StoppingRule,
    ValidationLoss,
    WindowedVariance,
    make_holdout,
    make_rule,
    masked_mse,
)

SHAPE = (12, 10, 3)


def overfit_sequence(n_iter: int, t0: int, seed: int = 0, dtype=np.float32):
    """x_t = clean + a(t) * fresh noise, a(t) U-shaped with its minimum at t0.

    The per-step change first shrinks (convergence) then grows (overfitting); the expected
    windowed variance of a window is the mean of a(t)^2 over it, minimal when centred on t0.
    """
    rng = np.random.default_rng(seed)
    clean = rng.random(SHAPE)
    t = np.arange(n_iter)
    amp = 0.01 * (1.0 + ((t - t0) / 60.0) ** 2)
    for a in amp:
        yield (clean + a * rng.standard_normal(SHAPE)).astype(dtype)


def run(rule: StoppingRule, outputs, val_losses=None):
    """Feed a rule like the fitting loop does; return (stop_iter or None, list of outputs)."""
    seen = []
    for it, x in enumerate(outputs):
        seen.append(x.copy())
        v = None if val_losses is None else val_losses[it]
        if rule.update(it, x, 1.0, val_loss=v):
            return it, seen
    return None, seen


def brute_var(frames: list[np.ndarray]) -> float:
    """Reference: per-element variance across the window, averaged over elements."""
    return float(np.var(np.stack(frames).astype(np.float64), axis=0).mean())


# ---------------------------------------------------------------- windowed variance ------


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-7)])
def test_wmv_statistic_matches_bruteforce(dtype, rtol):
    rng = np.random.default_rng(1)
    w = 7
    rule = WindowedVariance(window=w, patience=1000, warmup=0)
    # random walk around 0.5 with tiny steps: the regime where sum-of-squares formulas cancel
    x = np.full(SHAPE, 0.5)
    frames = []
    for it in range(60):
        x = x + 1e-4 * rng.standard_normal(SHAPE) * (1 + it % 5)
        frame = x.astype(dtype)
        frames.append(frame)
        rule.update(it, frame, 0.0)
        if it < w - 1:
            assert math.isnan(rule.statistic)
        else:
            ref = brute_var(frames[-w:])
            assert rule.statistic == pytest.approx(ref, rel=rtol, abs=1e-18)


def test_wmv_float32_close_to_float64_truth():
    seq64 = list(overfit_sequence(200, 100, seed=3, dtype=np.float64))
    r32 = WindowedVariance(window=20, patience=1000, warmup=0)
    r64 = WindowedVariance(window=20, patience=1000, warmup=0)
    for it, x in enumerate(seq64):
        r32.update(it, x.astype(np.float32), 0.0)
        r64.update(it, x, 0.0)
        if it >= 19:
            assert r32.statistic == pytest.approx(r64.statistic, rel=1e-4)


def test_wmv_stops_near_variance_minimum_and_not_before_warmup():
    t0, w, patience, warmup = 250, 20, 100, 50
    rule = WindowedVariance(window=w, patience=patience, warmup=warmup)
    stop, seen = run(rule, overfit_sequence(800, t0))
    assert stop is not None and rule.reason != "not stopped"
    assert stop >= warmup + patience
    assert abs(rule.best_iter - t0) <= 25  # "center" is lag-free
    assert stop - patience <= t0 + w // 2 + 30  # stopped ~patience after the window minimum
    np.testing.assert_array_equal(rule.best_output, seen[rule.best_iter])


@pytest.mark.parametrize("select, offset", [("last", 10), ("center", 0), ("first", -9)])
def test_wmv_select_positions(select, offset):
    t0, w = 250, 20
    rules = {
        s: WindowedVariance(window=w, patience=100, warmup=0, select=s)
        for s in ("last", "center", "first")
    }
    seqs = list(overfit_sequence(600, t0))
    for it, x in enumerate(seqs):
        for r in rules.values():
            r.update(it, x, 0.0)
    # all three see the same window minimum; they differ only in which iterate they return
    assert rules[select].best_iter - rules["center"].best_iter == offset
    assert rules[select].best_value == rules["center"].best_value


def test_wmv_best_output_is_copy_when_loop_reuses_its_buffer():
    rule = WindowedVariance(window=10, patience=60, warmup=0)
    buf = np.empty(SHAPE, dtype=np.float32)
    history = []
    stop = None
    for it, x in enumerate(overfit_sequence(400, 120)):
        buf[...] = x  # the loop overwrites one array in place every iteration
        history.append(x)
        if rule.update(it, buf, 0.0):
            stop = it
            break
    assert stop is not None
    best = rule.best_output.copy()
    np.testing.assert_array_equal(best, history[rule.best_iter])
    buf += 1.0
    np.testing.assert_array_equal(rule.best_output, best)
    assert not np.shares_memory(rule.best_output, buf)


def test_wmv_warmup_prevents_early_selection():
    # variance only grows from the start: the unconstrained minimum would be the first window
    warmup, patience = 150, 80
    rule = WindowedVariance(window=10, patience=patience, warmup=warmup)
    stop, _ = run(rule, overfit_sequence(600, t0=-50))
    assert stop is not None and stop >= warmup + patience
    assert rule.best_iter >= warmup


def test_wmv_never_stops_while_converging():
    rng = np.random.default_rng(4)
    clean = rng.random(SHAPE)
    rule = WindowedVariance(window=20, patience=50, warmup=0)
    for it in range(500):
        x = clean + 0.1 * math.exp(-it / 100) * rng.standard_normal(SHAPE)
        assert not rule.update(it, x.astype(np.float32), 0.0)
    assert rule.reason == "not stopped" and rule.best_iter is not None


def test_wmv_recovers_from_nonfinite_output_and_validates_input():
    rule = WindowedVariance(window=5, patience=1000, warmup=0)
    seq = list(overfit_sequence(40, 20))
    seq[12] = np.full(SHAPE, np.nan, dtype=np.float32)
    for it, x in enumerate(seq):
        rule.update(it, x, 0.0)
    assert math.isfinite(rule.statistic)
    assert rule.statistic == pytest.approx(brute_var(seq[-5:]), rel=1e-6)
    with pytest.raises(ValueError, match="iterations must increase"):
        rule.update(39, seq[0], 0.0)
    with pytest.raises(ValueError, match="shape"):
        rule.update(100, np.zeros((3, 3), np.float32), 0.0)
    with pytest.raises(ValueError, match="window"):
        WindowedVariance(window=1)
    with pytest.raises(ValueError, match="select"):
        WindowedVariance(select="middle")
    assert WindowedVariance(window=30, patience=None).patience == 150


# ---------------------------------------------------------------- validation loss --------


def u_shaped_losses(n_iter: int, t_min: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_iter)
    return 0.01 + 1e-7 * (t - t_min) ** 2 + 2e-4 * rng.standard_normal(n_iter)


def dummy_outputs(n_iter: int):
    for it in range(n_iter):
        yield np.full((4, 4, 1), it, dtype=np.float32)  # output encodes its iteration


def test_val_stops_within_patience_after_minimum():
    t_min, patience, warmup = 400, 150, 50
    losses = u_shaped_losses(1500, t_min)
    rule = ValidationLoss(patience=patience, warmup=warmup, smooth=0.9)
    assert rule.needs_val
    stop, _ = run(rule, dummy_outputs(1500), losses)
    assert stop is not None
    assert abs(rule.best_iter - t_min) <= 60
    assert stop == rule.best_iter + patience  # exactly `patience` after the last minimum
    assert stop <= t_min + 60 + patience
    assert rule.best_output[0, 0, 0] == rule.best_iter
    assert "patience" in rule.reason


def test_val_smoothing_helps_on_noisy_curve():
    jitter = 1e-3 * np.random.default_rng(6).standard_normal(1500)
    losses = u_shaped_losses(1500, 400, seed=5) + jitter
    errs = {}
    for smooth in (0.0, 0.95):
        rule = ValidationLoss(patience=300, warmup=0, smooth=smooth)
        run(rule, dummy_outputs(1500), losses)
        errs[smooth] = abs(rule.best_iter - 400)
    assert errs[0.95] <= errs[0.0] and errs[0.95] <= 80


def test_val_monotone_decreasing_never_stops():
    losses = 0.05 * np.exp(-np.arange(1000) / 300.0) + 0.01
    rule = ValidationLoss(patience=50, warmup=0)
    stop, _ = run(rule, dummy_outputs(1000), losses)
    assert stop is None and rule.best_iter == 999 and rule.reason == "not stopped"


def test_val_requires_val_loss_and_handles_nan():
    rule = ValidationLoss(patience=5, warmup=0, smooth=0.0)
    with pytest.raises(ValueError, match="val_loss"):
        rule.update(0, np.zeros(3), 1.0)
    rule.update(0, np.zeros(3), 1.0, val_loss=0.5)
    stops = [rule.update(it, np.zeros(3), 1.0, val_loss=math.nan) for it in range(1, 7)]
    assert stops == [False] * 4 + [True, True] and rule.best_iter == 0
    assert math.isnan(rule.statistic)


# ---------------------------------------------------------------- holdout ----------------


def test_make_holdout_subset_fraction_and_determinism():
    h, w, c = 40, 30, 3
    known = np.random.default_rng(0).random((h, w)) > 0.3  # inpainting mask, H x W
    train, val = make_holdout(known, (h, w, c), frac=0.1, rng=np.random.default_rng(7))
    assert train.shape == val.shape == (h, w, c) and train.dtype == val.dtype == bool
    assert not (val & ~known[..., None]).any()  # val only on known pixels
    assert not (train & val).any()
    np.testing.assert_array_equal(train | val, np.broadcast_to(known[..., None], (h, w, c)))
    assert (val == val[..., :1]).all()  # whole pixels, all channels
    assert val[..., 0].sum() == round(0.1 * known.sum())
    t2, v2 = make_holdout(known, (h, w, c), frac=0.1, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(v2, val)
    _, v3 = make_holdout(known, (h, w, c), frac=0.1, rng=np.random.default_rng(8))
    assert (v3 != val).any()


def test_make_holdout_no_mask_grayscale_and_errors():
    train, val = make_holdout(None, (20, 25), frac=0.05, rng=3)
    assert val.sum() == 25 and train.sum() == 500 - 25
    with pytest.raises(ValueError, match="fraction"):
        make_holdout(None, (8, 8), frac=0.0)
    with pytest.raises(ValueError, match="does not fit"):
        make_holdout(np.ones((5, 5), bool), (8, 8, 3))
    with pytest.raises(ValueError, match="empty"):
        make_holdout(np.eye(8, dtype=bool), (8, 8), frac=0.01)


def test_masked_mse():
    a = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    b = np.zeros_like(a)
    m = np.array([[True, False], [False, True]])[..., None]
    expected = np.mean(np.concatenate([a[0, 0], a[1, 1]]).astype(np.float64) ** 2)
    assert masked_mse(a, b, m) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no entries"):
        masked_mse(a, b, np.zeros((2, 2, 1), bool))


# ---------------------------------------------------------------- factory ----------------


def test_make_rule_and_protocol():
    assert isinstance(make_rule("auto"), WindowedVariance)
    assert isinstance(make_rule("WMV", window=10), WindowedVariance)
    assert isinstance(make_rule("val", patience=10), ValidationLoss)
    none = make_rule("none")
    assert isinstance(none, NoStop)
    for rule in (make_rule("auto"), make_rule("val"), none):
        assert isinstance(rule, StoppingRule)
    assert not any(none.update(it, np.zeros(3), 0.0) for it in range(100))
    assert none.best_output is None and none.best_iter is None
    with pytest.raises(ValueError, match="unknown stopping rule"):
        make_rule("psnr")
    with pytest.raises(ValueError, match="invalid option"):
        make_rule("none", patience=3)


def test_wmv_stops_when_training_diverges():
    rule = WindowedVariance(window=10, patience=50, warmup=0, min_rel_delta=0.0)  # paper rule
    seq = list(overfit_sequence(300, 250))
    nan = np.full(SHAPE, np.nan, dtype=np.float32)
    stop, _ = run(rule, seq[:150] + [nan] * 200)
    assert stop is not None and 149 + 50 <= stop <= 149 + 50 + 10  # patience after last min
    assert rule.best_iter < 150 and np.isfinite(rule.best_output).all()


def test_wmv_knee_fires_on_slowing_decay_that_never_turns():
    # VAR of the smoothed DIP output decays ever slower and never rises again: the paper's rule
    # (min_rel_delta=0) never fires, the knee rule (the default) fires once VAR falls by less
    # than min_rel_delta within patience iterations, and selects where it last fell that much
    rng = np.random.default_rng(0)
    base = rng.standard_normal(SHAPE).astype(np.float32)
    step = rng.standard_normal(SHAPE).astype(np.float32)
    pos, seq = 0.0, []
    for t in range(1500):
        pos += 1.0 / (1.0 + t / 20.0)  # speed 1 / (1 + t/20): VAR ~ speed^2 keeps decaying
        seq.append(base + np.float32(pos * 0.01) * step)
    paper = WindowedVariance(window=20, patience=50, warmup=0, min_rel_delta=0.0)
    assert run(paper, seq)[0] is None
    # relative decay rate of VAR ~ 2 / (20 + t): below 0.2 per 50 iterations from t ~ 430
    knee = WindowedVariance(window=20, patience=50, warmup=0, min_rel_delta=0.2)
    stop, _ = run(knee, seq)
    assert stop is not None and 300 <= knee.best_iter <= 600, (stop, knee.best_iter)
    assert stop - knee.best_iter >= 50 and stop < 1000
    assert "no new minimum" in knee.reason


def test_default_options_are_the_tuned_ones():
    w, v = WindowedVariance(), ValidationLoss()
    assert (w.window, w.patience, w.warmup, w.min_rel_delta) == (50, 100, 100, 0.1)
    assert (v.patience, v.warmup, v.smooth) == (100, 100, 0.99)
