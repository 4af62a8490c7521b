"""``tinydip gradcheck``: finite-difference proof of every layer's backward, as a table.

The layers checked are the catalogue :mod:`tinydip.nn.catalogue` (one list, shared with the
layer tests and the PyTorch mirror)."""

from __future__ import annotations

import argparse

import numpy as np

from ..gradcheck import check_module
from ..nn.catalogue import NETWORK_TOL, cases


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
