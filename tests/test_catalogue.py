"""The layer catalogue: complete, every case gradchecks and keeps float32; torch mirror."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest

from tinydip import nn
from tinydip.gradcheck import check_module, rel_error
from tinydip.nn.catalogue import CASES, NETWORK_TOL, covered_types

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _exported_layers() -> set[type]:
    return {obj for name in nn.__all__ if inspect.isclass(obj := getattr(nn, name))
            and issubclass(obj, nn.Module) and obj is not nn.Module}


def test_every_exported_layer_is_in_the_catalogue():
    missing = _exported_layers() - covered_types()
    assert not missing, f"add a LayerCase for {sorted(c.__name__ for c in missing)}"


def test_the_torch_mirror_knows_every_catalogued_type():
    src = (BENCH / "torch_models.py").read_text()
    mirrored = src[src.index("MIRRORED = ("):src.index(")", src.index("MIRRORED = ("))]
    for cls in covered_types():
        assert f"nn.{cls.__name__}" in mirrored, cls


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_case_gradchecks_in_float64(case):
    rng = np.random.default_rng(0)
    module = case.build(rng).astype(np.float64)
    scale = "global" if case.tol == NETWORK_TOL else "tensor"
    errors = check_module(module, case.make_input(rng), rng=rng, scale=scale)
    assert max(errors.values()) < case.tol, errors


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_case_keeps_float32(case):
    rng = np.random.default_rng(1)
    module = case.build(rng)
    x = case.make_input(rng).astype(np.float32)
    out = module(x)
    assert out.dtype == np.float32 and module.backward(np.ones_like(out)).dtype == np.float32


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_case_matches_its_torch_mirror(case):
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(BENCH))
    from torch_models import torch_mirror

    rng = np.random.default_rng(2)
    module = case.build(rng).astype(np.float64)
    x = case.make_input(rng)
    tmod = torch_mirror(module)
    if isinstance(module, nn.BatchNorm2d) and not module.training:
        tmod.eval()
        tmod.running_mean.copy_(torch.from_numpy(module.running_mean))
        tmod.running_var.copy_(torch.from_numpy(module.running_var))
    tx = torch.from_numpy(x).requires_grad_(True)
    tout = tmod(tx)
    g = rng.standard_normal(tout.shape)
    tout.backward(torch.from_numpy(g))
    out = module(x)
    dx = module.backward(g)
    assert rel_error(out, tout.detach().numpy()) < 1e-10
    assert rel_error(dx, tx.grad.numpy()) < 1e-8
