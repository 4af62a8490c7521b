"""The fitting loop: outputs, determinism, masks, operators, padding, Ctrl-C, stopping."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tinydip.fitting.fit import FitConfig, fit
from tinydip.io.images import sample_image, to_tensor
from tinydip.models import deep_decoder, skip_unet
from tinydip.operators import Downsampler

SMALL = dict(in_channels=4, channels_down=(8, 8), channels_up=(8, 8), channels_skip=(2, 2))


def small_unet(seed=0):
    return skip_unet(rng=np.random.default_rng(seed), **SMALL)


@pytest.fixture(scope="module")
def image():
    return to_tensor(sample_image(32))


def test_loss_decreases_and_outputs_are_float32(image):
    res = fit(small_unet(), image, iters=60, progress=False)
    losses = [r["loss"] for r in res.history]
    assert len(losses) == 60 == res.iters_run
    assert min(losses[-10:]) < 0.5 * losses[0]
    for a in (res.last, res.best, res.smoothed, res.output):
        assert a.shape == image.shape and a.dtype == np.float32
    assert res.best_loss == min(losses) and losses[res.best_iter] == res.best_loss
    assert res.output_kind == "smoothed" and res.selection.rule is None


def test_deterministic_for_a_seed(image):
    a = fit(small_unet(), image, iters=5, progress=False, seed=3)
    b = fit(small_unet(), image, iters=5, progress=False, seed=3)
    c = fit(small_unet(), image, iters=5, progress=False, seed=4)
    assert np.array_equal(a.last, b.last)
    assert not np.array_equal(a.last, c.last)


def test_smoothing_is_an_exponential_moving_average(image):
    seen = []
    res = fit(small_unet(), image, iters=4, ema=0.5, progress=False,
              callback=lambda it, info: seen.append(info["output"].copy()), callback_every=1)
    expected = seen[0]
    for out in seen[1:]:
        expected = 0.5 * expected + 0.5 * out
    np.testing.assert_allclose(res.smoothed, expected, rtol=1e-6)
    no_ema = fit(small_unet(), image, iters=3, ema=0.0, progress=False)
    np.testing.assert_array_equal(no_ema.smoothed, no_ema.last)


def test_jitter_and_decay(image):
    # with decay 0 after the first step the jitter switches off: runs differ from no-decay runs
    a = fit(small_unet(), image, iters=4, reg_noise_decay=0.0, reg_noise_every=1, progress=False)
    b = fit(small_unet(), image, iters=4, progress=False)
    assert not np.array_equal(a.last, b.last)


def test_unknown_pixels_do_not_matter(image):
    mask = np.ones((1, 1, 32, 32), np.float32)
    mask[..., 8:20, 8:20] = 0
    other = image.copy()
    other[..., 8:20, 8:20] = 0.123
    a = fit(small_unet(), image, mask=mask, iters=5, progress=False)
    b = fit(small_unet(), other, mask=mask, iters=5, progress=False)
    np.testing.assert_array_equal(a.last, b.last)


def test_operator_makes_output_larger(image):
    low = Downsampler(2)(image)
    assert low.shape == (1, 3, 16, 16)
    res = fit(small_unet(), low, operator=Downsampler(2), truth=image, iters=3, progress=False)
    assert res.output.shape == image.shape


def test_sizes_that_are_not_multiples_are_padded():
    obs = to_tensor(sample_image((38, 42)))
    res = fit(small_unet(), obs, iters=3, progress=False)
    assert res.output.shape == obs.shape
    assert res.z.shape[2:] == (40, 44)  # next multiples of 4 (two levels)
    dec = deep_decoder(8, 3, 3, rng=np.random.default_rng(0))
    res = fit(dec, obs, iters=3, progress=False)
    assert res.output.shape == obs.shape and res.z.shape[2:] == (10, 11)


def test_ctrl_c_returns_best_so_far(image):
    def interrupt(it, info):
        if it == 5:
            raise KeyboardInterrupt

    res = fit(small_unet(), image, iters=50, progress=False, callback=interrupt, callback_every=1)
    assert res.interrupted and res.iters_run == 6 and "interrupted" in res.stop_reason
    assert res.best is not None and res.output.shape == image.shape


def test_truth_gives_psnr_history(image):
    res = fit(small_unet(), image, truth=image, iters=3, progress=False)
    assert all("psnr" in r and "psnr_smoothed" in r for r in res.history)


def test_stopping_rule_ends_early_and_selects(image):
    res = fit(small_unet(), image, iters=300, progress=False, stop="wmv",
              stop_options=dict(window=5, patience=10, warmup=5))
    assert res.stopped_iter is not None and res.iters_run < 300
    assert res.selection.rule == "wmv" and res.selection.stream == "smoothed"
    assert res.output_kind == "smoothed selected by the wmv rule"  # the display text
    assert 5 <= res.output_iter <= res.stopped_iter
    assert any("stat" in r for r in res.history)


def test_validation_rule_holds_out_pixels(image):
    res = fit(small_unet(), image, iters=40, progress=False, stop="val",
              stop_options=dict(patience=5, warmup=2))
    assert all("val_loss" in r for r in res.history)


def test_bad_arguments(image):
    with pytest.raises(ValueError, match="observation must have shape"):
        fit(small_unet(), image[0], iters=2)
    with pytest.raises(ValueError, match="output must be one of"):
        fit(small_unet(), image, iters=2, output="median")
    with pytest.raises(ValueError, match="iters must be >= 1"):
        fit(small_unet(), image, iters=0)
    with pytest.raises(ValueError, match="truth is"):
        fit(small_unet(), image, truth=image[..., :16], iters=2)
    with pytest.raises(ValueError, match="the stopping rule must be one of auto, wmv"):
        fit(small_unet(), image, iters=2, stop="sometimes")
    assert FitConfig().lr == 0.01


def test_fit_step_contract(image):
    from tinydip.fitting.fit import fit_step
    from tinydip.optim import Adam

    net = small_unet()
    crop = image[:, :, :30, :28]  # not a multiple of the downsampling: generated larger
    z = net.make_input((30, 28), 0.1, np.random.default_rng(0))
    def params():
        return [p.data.copy() for p in net.parameters()]

    before = params()
    s0 = fit_step(net, None, z, crop)  # evaluation only: no update
    assert s0.output.shape == crop.shape
    assert all(np.array_equal(a, b) for a, b in zip(before, params(), strict=True))
    seen = []
    s1 = fit_step(net, Adam(net.parameters(), lr=0.01), z, crop,
                  before_update=lambda loss: seen.append((loss, params())))
    assert s1.loss == s0.loss == seen[0][0]  # BN uses batch statistics: the same forward
    assert all(np.array_equal(a, b) for a, b in zip(before, seen[0][1], strict=True))
    assert any(not np.array_equal(a, b) for a, b in zip(before, params(), strict=True))


def _planted_jump(at: set[int]):
    """MSE whose value is multiplied by 100 on the given calls (0-based): a planted jump."""
    from tinydip.functional import mse_loss

    calls = []

    def loss_fn(pred, target, weights=None):
        value, grad = mse_loss(pred, target, weights)
        calls.append(len(calls))
        return (value * 100 if len(calls) - 1 in at else value), grad

    return loss_fn


def test_rollback_undoes_a_planted_jump_and_restores_the_weights(image):
    ref = fit(small_unet(), image, iters=4, progress=False)  # weights before step 4
    res = fit(small_unet(), image, iters=6, progress=False, rollback=True,
              loss_fn=_planted_jump({5}))
    assert res.rollbacks == [5] and res.iters_run == 6 and not res.diverged
    assert [r["iter"] for r in res.history] == [0, 1, 2, 3, 4]  # the jump never recorded
    for (name, a), (_, b) in zip(res.net.named_parameters(), ref.net.named_parameters()):
        np.testing.assert_allclose(a.data, b.data, rtol=0, atol=1e-7, err_msg=name)
    off = fit(small_unet(), image, iters=6, progress=False, loss_fn=_planted_jump({5}))
    assert off.rollbacks == [] and len(off.history) == 6
    moved = max(float(np.abs(a.data - b.data).max()) for (_, a), (_, b) in
                zip(off.net.named_parameters(), ref.net.named_parameters()))
    assert moved > 1e-4  # without rollback the weights went on


def test_rollback_continues_after_the_jump_and_gives_up_on_a_run_of_them(image):
    res = fit(small_unet(), image, iters=12, progress=False, rollback=True,
              loss_fn=_planted_jump({3}))
    assert res.rollbacks == [3] and len(res.history) == 11
    res = fit(small_unet(), image, iters=40, progress=False, rollback=True, rollback_limit=5,
              loss_fn=_planted_jump(set(range(2, 100))))
    assert res.diverged and res.rollbacks == [2, 3, 4, 5, 6] and "rolled back 5" in res.stop_reason
    with pytest.raises(ValueError, match="rollback_factor"):
        fit(small_unet(), image, iters=2, progress=False, rollback=True, rollback_factor=1.0)


def test_rollback_without_a_jump_changes_nothing(image):
    a = fit(small_unet(), image, iters=20, progress=False, seed=1)
    b = fit(small_unet(), image, iters=20, progress=False, seed=1, rollback=True)
    assert b.rollbacks == [] and np.array_equal(a.last, b.last)
    assert np.array_equal(a.smoothed, b.smoothed)


def test_budget_limited_only_when_the_budget_ends_a_watched_fit(image):
    watched = fit(small_unet(), image, iters=20, progress=False, stop="wmv",
                  stop_options=dict(window=5, patience=1000, warmup=5))
    assert watched.selection.by_rule and watched.stopped_iter is None
    assert watched.budget_limited
    assert not fit(small_unet(), image, iters=4, progress=False).budget_limited  # no rule
    stopped = fit(small_unet(), image, iters=300, progress=False, stop="wmv",
                  stop_options=dict(window=5, patience=10, warmup=5))
    assert stopped.stopped_iter is not None and not stopped.budget_limited
    assert not replace(watched, interrupted=True).budget_limited
    assert not replace(watched, diverged=True).budget_limited
