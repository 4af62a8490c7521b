"""Automatic early stopping end to end: per-task resolution of "auto", a real stop, reports."""

from __future__ import annotations

import numpy as np
import pytest

from tinydip.degrade import add_noise
from tinydip.fitting.fit import fit
from tinydip.fitting.stopping import ValidationLoss, WindowedVariance, make_rule
from tinydip.io.images import sample_image, to_tensor
from tinydip.models import skip_unet
from tinydip.tasks import TASKS, auto_rule_spec, denoise, resolve_stop

# a small, fast U-Net on a small, very noisy image: it reaches its best and then overfits
# the noise within a few hundred iterations (measured: ~4 ms per iteration)
TINY = dict(channels_down=(16,) * 3, channels_up=(16,) * 3, channels_skip=(4,) * 3,
            in_channels=8)


@pytest.fixture(scope="module")
def noisy_pair():
    clean = sample_image(32)
    return clean, add_noise(clean, 50, np.random.default_rng(0))


@pytest.mark.parametrize("task", sorted(TASKS))
def test_auto_is_the_default_and_resolves_per_task(task):
    assert TASKS[task].fit_defaults["stop"] == "auto"
    s = resolve_stop(task, {**TASKS[task].fit_defaults})
    name, opts, stream = auto_rule_spec(task)
    assert s["stop"] == name == TASKS[task].stopping["auto"] and s["stop_requested"] == "auto"
    assert s["stop_options"] == opts and s["stop_on"] == stream
    assert isinstance(make_rule(name, **opts), (WindowedVariance, ValidationLoss))
    # explicit options and stream win; "none" disables stopping
    s = resolve_stop(task, {"stop": "wmv", "stop_options": {"window": 7}, "stop_on": "raw"})
    assert s["stop"] == "wmv" and s["stop_options"]["window"] == 7 and s["stop_on"] == "raw"
    assert resolve_stop(task, {"stop": "none"})["stop"] == "none"
    with pytest.raises(ValueError, match="unknown stopping rule"):
        auto_rule_spec(task, "sometimes")


def test_unknown_task_is_an_error_not_a_fallback():
    with pytest.raises(ValueError, match="unknown task 'sharpen'"):
        auto_rule_spec("sharpen")
    with pytest.raises(ValueError, match="unknown task"):
        resolve_stop("sharpen", {"stop": "auto"})


def test_make_rule_auto_uses_the_tuned_generic_choice():
    name, opts, _ = auto_rule_spec(None)
    rule = make_rule("auto")
    assert rule.name == name
    for k, v in opts.items():
        assert getattr(rule, k) == v


def test_auto_stops_early_and_beats_the_last_iterate(noisy_pair):
    clean, noisy = noisy_pair
    iters = 3000
    res = denoise(noisy, truth=clean, iters=iters, progress=False, net_options=TINY,
                  quality="paper")  # the fit alone: no Wiener pass after it
    f = res.fit
    assert f.stopped_iter is not None and f.iters_run < iters, f.stop_reason
    assert f.selection.by_rule and f.output_iter <= f.stopped_iter
    assert "selected by" in f.output_kind  # the display text of the typed selection
    assert res.psnr["output"] > res.psnr["last"] + 0.5, res.psnr
    rep = res.report()
    assert rep["stop_requested"] == "auto" and rep["stop_rule"] == auto_rule_spec("denoise")[0]
    assert rep["stopped_iter"] == f.stopped_iter and rep["stop_reason"] == f.stop_reason
    assert rep["max_iters"] == iters and rep["iters"] == f.iters_run
    assert any("stat" in h for h in rep["history"])
    assert rep["output_iter"] == f.output_iter
    # the output is exactly the selected iterate of the watched stream
    key = "psnr_smoothed" if rep["stop_on"] == "smoothed" else "psnr"
    assert abs(f.history[f.output_iter][key] - res.psnr["output"]) < 0.05


def test_val_rule_validates_the_watched_stream(noisy_pair):
    clean, noisy = noisy_pair
    net = skip_unet(rng=np.random.default_rng(0), **TINY)
    obs = to_tensor(noisy)
    seen = {}

    def grab(it, info):
        seen[it] = info["smoothed"].copy()

    res = fit(net, obs, iters=12, stop="val", stop_on="smoothed", progress=False,
              stop_options=dict(patience=50, warmup=0), callback=grab, callback_every=1)
    # val_loss is the held-out misfit of the smoothed output: it is never larger than the
    # misfit of the smoothed output over all pixels by more than the held-out share allows
    full = [float(np.mean((seen[h["iter"]] - obs) ** 2)) for h in res.history]
    assert all(np.isfinite(h["val_loss"]) for h in res.history)
    assert np.corrcoef([h["val_loss"] for h in res.history], full)[0, 1] > 0.9


def test_the_compatibility_names_are_gone():
    """One home per concept: the per-task choice lives in the task declarations only."""
    from tinydip import models
    from tinydip.fitting import stopping

    assert not hasattr(stopping, "AUTO_RULES") and not hasattr(stopping, "auto_rule_spec")
    assert not hasattr(models, "PRESET_ALIASES")
    with pytest.raises(ValueError, match="unknown U-Net preset 'denoise'"):
        models.unet_config("denoise")
    assert TASKS["denoise"].stop_spec("auto")[0] == "val"
