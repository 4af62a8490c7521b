"""Memory estimates before a fit (tinydip.fitting.memory): accuracy against peak RSS, the budget."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tinydip.fitting.memory import (
    FitEstimate,
    MemoryBudgetError,
    check_budget,
    estimate_fit,
    extrapolate_seconds,
    format_bytes,
    is_lean,
    parse_size,
    plan_fit,
    set_lean,
)
from tinydip.models import deep_decoder, skip_unet, unet_config

_MEASURE = r"""
import json, sys
import numpy as np
from tinydip.fitting.memory import estimate_fit
from tinydip.models import deep_decoder, skip_unet, unet_config
from tinydip.optim import Adam
kind, S = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
if kind == "unet":
    net = skip_unet(unet_config("skip5-128", channels_down=(32,) * 4, channels_up=(32,) * 4,
                                channels_skip=(4,) * 4), rng=rng)
else:
    net = deep_decoder(k=64, rng=rng)
# numba compiles on first use when its cache is cold (hundreds of MB of LLVM): do that first,
# then reset the high-water mark so the peak measured is the fit's own
out = net(net.make_input((64, 64), 1.0, rng)); net.backward(np.ones_like(out)); net.zero_grad()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
est = estimate_fit(net, S, S)
z = net.make_input((S, S), 1.0, rng)
opt = Adam(net.parameters(), lr=0.01)
for _ in range(2):
    out = net(z); net.zero_grad(); net.backward(np.ones_like(out)); opt.step()
with open("/proc/self/status") as f:
    peak = next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmHWM:"))
print(json.dumps({"est": est.peak_bytes, "peak": peak}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("kind, size", [("unet", 192), ("decoder", 256)])
def test_estimate_within_30_percent_of_peak_rss(kind, size):
    proc = subprocess.run([sys.executable, "-c", _MEASURE, kind, str(size)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    ratio = got["est"] / got["peak"]
    assert 0.7 <= ratio <= 1.3, f"estimate {got['est']} vs peak RSS {got['peak']}: {ratio:.2f}"


def test_probe_leaves_the_network_as_it_was():
    net = skip_unet(unet_config("skip5-128", channels_down=(8,) * 3, channels_up=(8,) * 3,
                                channels_skip=(2,) * 3), rng=np.random.default_rng(0))
    before = net.state_dict()
    est = estimate_fit(net, 64, 64)
    after = net.state_dict()
    assert before.keys() == after.keys()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert all(not p.grad.any() for p in net.parameters())
    assert est.iteration_bytes > 0 and est.peak_bytes > est.iteration_bytes
    assert est.seconds_per_iter > 0


def test_estimate_grows_with_pixels():
    net = deep_decoder(k=16, rng=np.random.default_rng(0))
    small = estimate_fit(net, 64, 64)
    big = estimate_fit(net, 512, 512)
    assert big.iteration_bytes > 10 * small.iteration_bytes


def test_check_budget_one_line_with_estimate_and_advice():
    est = FitEstimate(1024, 768, 5 * 2**30, 4 * 2**30, 1.0)
    with pytest.raises(MemoryBudgetError) as info:
        check_budget(est, 2**30, "use --size 256 or --max-memory 6G")
    msg = str(info.value)
    assert "\n" not in msg
    assert "1024x768 needs about 5.0 GB" in msg and "budget of 1.0 GB" in msg
    assert msg.endswith("use --size 256 or --max-memory 6G")
    check_budget(est, 6 * 2**30, "")  # under the budget: no error


@pytest.mark.parametrize("text, value", [("4G", 4 * 2**30), ("500M", 500 * 2**20),
                                         ("2.5GB", int(2.5 * 2**30)), ("1024", 1024),
                                         ("64k", 64 * 2**10)])
def test_parse_size(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "lots", "-1G", "0", "infG", "nan"])
def test_parse_size_refuses(bad):
    with pytest.raises(ValueError, match="memory size"):
        parse_size(bad)


def test_format_bytes():
    assert format_bytes(3 * 2**30) == "3.0 GB" and format_bytes(5 * 2**20) == "5.0 MB"


def _small_unet():
    return skip_unet(unet_config("skip5-128", channels_down=(16,) * 3, channels_up=(16,) * 3,
                                 channels_skip=(4,) * 3), rng=np.random.default_rng(0))


def test_lean_mode_gives_the_same_output_and_gradients():
    """Lean mode only changes where the convolution buffers come from (rebuilt in backward
    instead of kept from forward): the numbers are bit-identical."""
    net = _small_unet()
    z = net.make_input((64, 64), 1.0, np.random.default_rng(1))
    runs = []
    for lean in (False, True, False):
        set_lean(net, lean)
        assert is_lean(net) == lean
        state = net.state_dict()
        net.zero_grad()
        out = net(z)
        dz = net.backward(np.cos(out))
        runs.append([out, dz] + [p.grad.copy() for p in net.parameters()])
        net.load_state_dict(state)
    for a, b in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(a, b)
    kept = [m for m in net.modules() if getattr(m, "_cols", None) is not None]
    assert kept, "keep mode should hold buffers"
    set_lean(net)
    assert all(getattr(m, "_cols", None) is None for m in net.modules())


def test_plan_fit_goes_lean_only_when_over_budget():
    net = _small_unet()
    keep = estimate_fit(net, 256, 256)
    set_lean(net)
    lean = estimate_fit(net, 256, 256)
    set_lean(net, False)
    assert not keep.lean and lean.lean
    assert lean.peak_bytes < keep.peak_bytes - 10 * 2**20  # kept tiles of 20 channels at 256^2
    roomy = plan_fit(net, 256, 256, 2**40, "")
    assert not roomy.lean and not is_lean(net)
    tight = plan_fit(net, 256, 256, (keep.peak_bytes + lean.peak_bytes) // 2, "")
    assert tight.lean and is_lean(net) and tight.as_dict()["lean"] is True
    set_lean(net, False)
    with pytest.raises(MemoryBudgetError, match="needs about"):
        plan_fit(net, 256, 256, lean.peak_bytes // 2, "advice")


def test_time_estimate_is_affine_in_pixels():
    """A fixed cost per iteration (calls per layer, thread start-up) is not scaled with the
    size: proportional scaling of a small probe overestimated the README fit up to 4x."""
    def seconds(pixels):  # 10 ms per iteration + 2 us per pixel
        return 0.010 + 2e-6 * pixels

    points = [(96 * 96, seconds(96 * 96)), (64 * 64, seconds(64 * 64))]  # any order
    assert extrapolate_seconds(points, 128 * 128) == pytest.approx(seconds(128 * 128))
    assert extrapolate_seconds(points, 512 * 512) == pytest.approx(seconds(512 * 512))


def test_time_estimate_with_a_noisy_slope_scales_the_larger_probe():
    assert extrapolate_seconds([(4096, 0.05), (9216, 0.04)], 18432) == pytest.approx(0.08)
    assert extrapolate_seconds([(4096, 0.05), (4096, 0.05)], 8192) == pytest.approx(0.10)


def test_time_estimate_stays_positive_below_the_probes():
    # superlinear probes: the affine line crosses zero below them; the slope alone bounds it
    assert extrapolate_seconds([(4096, 0.01), (9216, 0.05)], 1024) > 0
