"""``tinydip gradcheck``: finite-difference proof of every layer's backward, as a table."""

from __future__ import annotations

import argparse

import numpy as np

from .. import nn
from ..gradcheck import check_module

SMOOTH_TOL = 1e-7
NETWORK_TOL = 1e-5


def _away_from_kink(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * (np.abs(x) + 0.1)


def cases(rng: np.random.Generator):
    """(label, module, input, tolerance): every layer type and a tiny U-Net with a skip fork."""
    def x(*shape):
        return rng.standard_normal(shape)

    yield "Conv2d 3x3 zeros", nn.Conv2d(3, 4, 3, rng=rng), x(2, 3, 7, 6), SMOOTH_TOL
    yield "Conv2d 3x3 reflect s2", nn.Conv2d(3, 4, 3, 2, "reflect", rng=rng), x(2, 3, 7, 6), \
        SMOOTH_TOL
    yield "Conv2d 5x5 reflect", nn.Conv2d(2, 3, 5, padding="reflect", rng=rng), x(1, 2, 6, 5), \
        SMOOTH_TOL
    yield "Conv2d 1x1", nn.Conv2d(3, 4, 1, rng=rng), x(2, 3, 5, 4), SMOOTH_TOL
    yield "Conv2d 3x3 Winograd reflect", nn.Conv2d(3, 4, 3, padding="reflect", rng=rng,
                                                   algo="winograd"), x(2, 3, 7, 6), SMOOTH_TOL
    bn = nn.BatchNorm2d(3)
    yield "BatchNorm2d train", bn, x(2, 3, 5, 4), SMOOTH_TOL
    bn_eval = nn.BatchNorm2d(3).eval()
    bn_eval.running_mean[:] = rng.standard_normal(3)
    bn_eval.running_var[:] = rng.uniform(0.5, 2, 3)
    yield "BatchNorm2d eval", bn_eval, x(2, 3, 5, 4), SMOOTH_TOL
    yield "BatchNorm2d+LeakyReLU fused", nn.BatchNorm2d(3, slope=0.2), x(2, 3, 5, 4), \
        SMOOTH_TOL
    yield "ReLU", nn.ReLU(), _away_from_kink(x(2, 3, 4, 5)), SMOOTH_TOL
    yield "LeakyReLU(0.2)", nn.LeakyReLU(0.2), _away_from_kink(x(2, 3, 4, 5)), SMOOTH_TOL
    yield "Sigmoid", nn.Sigmoid(), 3 * x(2, 3, 4, 5), SMOOTH_TOL
    yield "Upsample bilinear x2", nn.Upsample(2), x(2, 3, 4, 5), SMOOTH_TOL
    yield "Upsample nearest x3", nn.Upsample(3, "nearest"), x(1, 2, 3, 4), SMOOTH_TOL

    def conv(cin, cout, k, s=1):
        return nn.Conv2d(cin, cout, k, s, "reflect", rng=rng)

    deeper = nn.Sequential(conv(3, 4, 3, 2), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
                           nn.Upsample(2))
    skip = nn.Sequential(conv(3, 2, 1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2))
    net = nn.Sequential(conv(2, 3, 3), nn.BatchNorm2d(3, slope=0.2),
                        nn.Concat(skip, deeper, nn.Sequential()), nn.BatchNorm2d(9),
                        conv(9, 3, 3), nn.BatchNorm2d(3, slope=0.2), conv(3, 2, 1), nn.Sigmoid())
    yield "tiny U-Net with skip fork", net, x(2, 2, 6, 6), NETWORK_TOL


def run_gradcheck(args) -> int:
    rng = np.random.default_rng(args.seed)
    failures = 0
    print("max|analytic - numerical| / max|gradient| (per tensor; networks: over all tensors)")
    print(f"{'case':32s} {'tensor':22s} {'rel. error':>14s}  {'tol':>7s}")
    for label, module, x, tol in cases(rng):
        module.astype(np.float64)
        scale = "global" if tol == NETWORK_TOL else "tensor"
        errors = check_module(module, x.astype(np.float64), rng=rng, scale=scale)
        for name, err in errors.items():
            ok = err < tol
            failures += not ok
            print(f"{label:32s} {name:22s} {err:14.3e}  {tol:7.0e}  {'ok' if ok else 'FAIL'}")
            label = ""
    print("all gradients agree with finite differences" if not failures
          else f"{failures} gradient(s) exceed their tolerance")
    return 1 if failures else 0


def add_gradcheck(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_gradcheck)
