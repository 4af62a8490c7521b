"""benchmarks/profile_fit.py's per-layer clock (``--layers``): every layer timed, the times
inside the step's, and the network left as it was (no clock left on any layer)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_fit import build, make_step  # noqa: E402
from profile_fit import layer_times, leaves  # noqa: E402


def test_layer_times_cover_every_layer_and_restore_them():
    net, z, target = build("unet16", 32)
    layers = list(leaves(net))
    total, rows = layer_times(net, make_step(net, z, target), iters=2)
    assert sorted(r[2] for r in rows) == sorted(p for p, _ in layers)
    assert all(f > 0 and b > 0 for f, b, *_ in rows)  # every layer ran forward and backward
    assert [f + b for f, b, *_ in rows] == sorted((f + b for f, b, *_ in rows), reverse=True)
    assert sum(f + b for f, b, *_ in rows) <= total  # the layers are inside the step
    first = dict((r[2], r[4]) for r in rows)[layers[0][0]]  # the layer that sees z
    assert first == z.shape  # (1, 32, 32, 32): the input's shape, NCHW
    assert not any("forward" in vars(m) or "backward" in vars(m) for _, m in layers)
