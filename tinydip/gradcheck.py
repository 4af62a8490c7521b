"""Gradient checking: prove handwritten backward passes against central finite differences.

Use float64: with step h the central difference has truncation error O(h^2) and round-off
error O(eps_machine / h); in float64 (eps ~ 1e-16) h = 1e-6 balances both near 1e-10, while in
float32 (eps ~ 6e-8) the best achievable is ~1e-3, which would hide real bugs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .nn.module import Module


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Max-norm relative error: max|a - b| / max(max|a|, max|b|, 1e-30).

    Normalising by the largest entry (not entry by entry) keeps tiny gradients, where both
    sides are dominated by round-off, from dominating the verdict.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ {a.shape} vs {b.shape}")
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-30)
    return float(np.abs(a - b).max(initial=0.0) / scale)


def numerical_grad(f: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray,
                   h: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of  L = sum(f() * dout)  with respect to ``x``.

    ``f`` takes no argument and reads ``x``, which is perturbed IN PLACE one entry at a time
    (and restored). Cost: 2 * x.size evaluations of f.

    Notes
    -----
    dL/dx_i ~ (L(x + h e_i) - L(x - h e_i)) / (2h); contracting with a random ``dout`` checks
    the whole vector-Jacobian product, not just one output.
    """
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_grad needs a contiguous x it can perturb in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        fp = np.sum(f() * dout)
        flat[i] = old - h
        fm = np.sum(f() * dout)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * h)
    return grad


def _analytic(module: Module, x: np.ndarray, dout: np.ndarray):
    module.zero_grad()
    module(x)
    dx = module.backward(dout.copy())
    return dx, {name: p.grad.copy() for name, p in module.named_parameters()}


def check_module(module: Module, x: np.ndarray, dout: np.ndarray | None = None,
                 rng: np.random.Generator | None = None, h: float = 1e-6) -> dict[str, float]:
    """Check dx and EVERY parameter gradient of ``module`` at input ``x`` by finite differences.

    Returns ``{"x": err, "<param name>": err, ...}`` of :func:`rel_error` values. The module
    should be in float64 (``module.astype(np.float64)``) and x float64. Buffers (BatchNorm
    running statistics) are restored after each evaluation so the check has no side effects.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    buffers = {k: b.copy() for k, b in module.named_buffers()}

    def run():
        out = module(x)
        for k, b in module.named_buffers():
            b[...] = buffers[k]
        return out

    out = run()
    if dout is None:
        dout = rng.standard_normal(out.shape).astype(out.dtype)
    dx, grads = _analytic(module, x, dout)
    for k, b in module.named_buffers():
        b[...] = buffers[k]
    errors = {"x": rel_error(dx, numerical_grad(run, x, dout, h))}
    for name, p in module.named_parameters():
        errors[name] = rel_error(grads[name], numerical_grad(run, p.data, dout, h))
    return errors


def check_vjp(module: Module, x: np.ndarray, rng: np.random.Generator | None = None,
              h: float = 1e-6) -> float:
    """Random-projection gradient check (HIPS/autograd style): two forward passes, any size.

    Draws a random upstream gradient u and a random direction v over the input AND all
    parameters, and compares the directional derivative by central differences,
        (sum(u * f(theta + h v)) - sum(u * f(theta - h v))) / (2h),
    with the handwritten vector-Jacobian product <backward(u), v>. Returns their relative
    difference |a - b| / max(|a|, |b|).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    params = [p.data for _, p in module.named_parameters()]
    tensors = [x] + params
    dirs = [rng.standard_normal(t.shape).astype(t.dtype) for t in tensors]
    buffers = {k: b.copy() for k, b in module.named_buffers()}
    out = module(x)
    u = rng.standard_normal(out.shape).astype(out.dtype)
    dx, grads = _analytic(module, x, u)
    analytic = float(np.sum(dx * dirs[0]))
    analytic += sum(float(np.sum(g * d)) for g, d in zip(grads.values(), dirs[1:]))

    def shifted(sign):
        for t, d in zip(tensors, dirs):
            t += sign * h * d
        val = float(np.sum(module(x) * u))
        for t, d in zip(tensors, dirs):
            t -= sign * h * d
        for k, b in module.named_buffers():
            b[...] = buffers[k]
        return val

    numeric = (shifted(1) - shifted(-1)) / (2 * h)
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-30)
