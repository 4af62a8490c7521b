"""Tests for tinydip.codec.incremental: rounding one tensor group at a time."""

from dataclasses import replace

import numpy as np
import pytest

from tinydip.codec import incremental
from tinydip.codec.encoder import CodecConfig, choose_steps, compress, fit_image
from tinydip.codec.finetune import folded_psnr
from tinydip.codec.incremental import groups, incremental_quantize
from tinydip.codec.quantize import step_values
from tinydip.io.images import sample_image, to_tensor

CFG = CodecConfig(k=8, layers=4, iters=60, bits=5, qat_iters=5, incremental_iters=15,
                  progress=False)


@pytest.fixture(scope="module")
def fitted():
    return fit_image(sample_image((32, 32)), CFG)


@pytest.fixture(scope="module")
def quant(fitted):
    steps = choose_steps(fitted, CFG)
    return lambda name, a: step_values(a, steps[name])


def off_grid(tensors, quant) -> list[str]:
    """Names of the tensors a file could not store as they are."""
    return [n for n, v in tensors.items() if not np.array_equal(quant(n, v), v)]


def run(fitted, quant, iters=CFG.incremental_iters):
    return incremental_quantize(fitted.arch, fitted.tensors, to_tensor(fitted.image), fitted.z,
                                quant, iters=iters, lr=CFG.incremental_lr)


def test_groups_are_the_convs_in_order_then_the_affines():
    arch = {"k": 4, "layers": 3, "out_channels": 3, "upsample_mode": "bilinear",
            "input_scale": 0.1}
    assert groups(arch) == [["w0"], ["w1"], ["w2"], ["w3"],
                            ["s0", "t0", "s1", "t1", "s2", "t2"]]


def test_every_tensor_ends_on_its_grid(fitted, quant):
    assert off_grid(fitted.tensors, quant)  # the check sees float tensors ...
    inc = run(fitted, quant)
    assert off_grid(inc.tensors, quant) == []  # ... and none are left
    assert inc.rounded == groups(fitted.arch) and inc.interrupted_by is None
    # the settling steps ran after every group but the last (nothing is free after it)
    per_group = {}
    for h in inc.history:
        per_group[h["group"]] = per_group.get(h["group"], 0) + 1
    assert list(per_group.values()) == [CFG.incremental_iters] * (len(inc.rounded) - 1)


def test_a_forgotten_group_is_caught(fitted, quant, monkeypatch):
    """Planted bug: the affines never rounded -- the grid check above must see it."""
    monkeypatch.setattr(incremental, "groups", lambda arch: groups(arch)[:-1])
    inc = run(fitted, quant)
    assert sorted(off_grid(inc.tensors, quant)) == sorted(groups(fitted.arch)[-1])


def test_rounded_groups_stay_fixed_while_the_rest_settles(fitted, quant):
    inc = run(fitted, quant)
    # w0 is rounded first, from the fit's values; the steps after every later group must
    # leave it there (w1 was still free while w0's rest settled, so it moved before rounding)
    assert np.array_equal(inc.tensors["w0"], quant("w0", fitted.tensors["w0"]))
    assert not np.array_equal(inc.tensors["w1"], quant("w1", fitted.tensors["w1"]))


def _gain(fitted, quant) -> float:
    """dB that rounding group by group gains over rounding everything at once."""
    target = to_tensor(fitted.image)
    at_once = folded_psnr(fitted.arch, {n: quant(n, v) for n, v in fitted.tensors.items()},
                          fitted.z, target)
    no_steps = folded_psnr(fitted.arch, run(fitted, quant, iters=0).tensors, fitted.z, target)
    assert no_steps == at_once  # with no settling it IS rounding at once
    return folded_psnr(fitted.arch, run(fitted, quant).tensors, fitted.z, target) - at_once


def test_it_beats_rounding_everything_at_once(fitted, quant):
    """Over seeds 0-3 (one tiny fit each), in the median: measured +0.13..+0.29 dB with
    NumPy's native kernels; with OPENBLAS_CORETYPE=Haswell one seed of four lost 0.03 dB, the
    median was +0.16. One tiny fit is one sample, so the claim is the median's."""
    gains = [_gain(fitted, quant)]
    for seed in (1, 2, 3):
        other = fit_image(sample_image((32 + 8 * seed,) * 2)[:32, :32], replace(CFG, seed=seed))
        steps = choose_steps(other, CFG)
        gains.append(_gain(other, lambda name, a, s=steps: step_values(a, s[name])))
    assert np.median(gains) > 0.1, gains


def test_interrupt_keeps_the_groups_rounded_so_far(fitted, quant, monkeypatch):
    from tinydip.fitting import loop

    real, calls = loop.fit_step, []  # the settling steps (the loop's), not the evaluations

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) > CFG.incremental_iters + 3:  # in the second group's steps
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "fit_step", interrupted)
    inc = run(fitted, quant)
    assert inc.interrupted_by == "SIGINT"
    assert inc.rounded == [["w0"], ["w1"]]
    assert "w0" not in off_grid(inc.tensors, quant) and "w1" not in off_grid(inc.tensors, quant)
    assert all(np.isfinite(v).all() for v in inc.tensors.values())


def test_compress_interrupted_while_rounding_still_writes_a_file(monkeypatch):
    from tinydip.codec.encoder import decompress

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(incremental, "_settle", stop)  # in the first group's settling
    r = compress(sample_image((32, 32)), CFG, iters=5)
    assert r.interrupted_by == "SIGINT"
    assert [h for h in r.history if h["stage"] == "qat"] == [r.history[-1]]  # no fine-tuning
    assert np.array_equal(decompress(r.data), r.image)


def test_bad_iters(fitted, quant):
    with pytest.raises(ValueError, match="iters"):
        run(fitted, quant, iters=-1)
    with pytest.raises(ValueError, match="incremental_iters"):
        compress(sample_image((32, 32)), CFG, incremental_iters=-1)
