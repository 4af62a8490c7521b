"""Gradient checking: prove handwritten backward passes against central finite differences.

Use float64: with step h the central difference has truncation error O(h^2) and round-off
error O(eps_machine * |L| / h); in float64 (eps ~ 1e-16) the errors are ~1e-10 or less, while
in float32 (eps ~ 6e-8) the best achievable is ~1e-3, which would hide real bugs.
For layers with kinks (ReLU, LeakyReLU) keep inputs at least a few h away from the kink.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .nn.module import Module


def rel_error(a: np.ndarray, b: np.ndarray, zero: float = 1e-8) -> float:
    """Max-norm relative error: max|a - b| / max(max|a|, max|b|).

    Normalising by the largest entry (not entry by entry) keeps tiny entries, where both
    sides are dominated by round-off, from dominating the verdict. A gradient that is zero
    by construction (e.g. a conv bias right before a train-mode BatchNorm) is only round-off
    on both sides: when max(max|a|, max|b|) < ``zero`` the absolute error is returned instead.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"rel_error: shapes differ {a.shape} vs {b.shape}")
    diff = float(np.abs(a - b).max(initial=0.0))
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return diff if scale < zero else float(diff / scale)


def numerical_grad(f: Callable[[], np.ndarray], x: np.ndarray, dout: np.ndarray,
                   h: float = 1e-5) -> np.ndarray:
    """Central-difference gradient of  L = sum(f() * dout)  with respect to ``x``.

    ``f`` takes no argument and reads ``x``, which is perturbed IN PLACE one entry at a time
    (and restored). Cost: 4 * x.size evaluations of f.

    Notes
    -----
    The five-point stencil

        dL/dx_i ~ (-L(x + 2h e_i) + 8 L(x + h e_i) - 8 L(x - h e_i) + L(x - 2h e_i)) / (12 h)

    has truncation error O(h^4) instead of the two-point O(h^2) (negligible at h = 1e-5), and
    round-off O(eps * |L| / h) ~ 1e-10 in float64. Keep h small where the function has kinks
    (ReLU): a step that crosses one spoils the estimate. Contracting with a random ``dout``
    checks the whole vector-Jacobian product, not just one output.
    """
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_grad needs a contiguous x it can perturb in place")

    def L(i, value):
        flat[i] = value
        return float(np.sum(f() * dout))

    for i in range(flat.size):
        old = flat[i]
        d = -L(i, old + 2 * h) + 8 * L(i, old + h) - 8 * L(i, old - h) + L(i, old - 2 * h)
        flat[i] = old
        gflat[i] = d / (12 * h)
    return grad


def _analytic(module: Module, x: np.ndarray, dout: np.ndarray):
    module.zero_grad()
    module(x)
    dx = module.backward(dout.copy())
    return dx, {name: p.grad.copy() for name, p in module.named_parameters()}


def check_module(module: Module, x: np.ndarray, dout: np.ndarray | None = None,
                 rng: np.random.Generator | None = None, h: float = 1e-5,
                 scale: str = "tensor") -> dict[str, float]:
    """Check dx and EVERY parameter gradient of ``module`` at input ``x`` by finite differences.

    Returns ``{"x": err, "<param name>": err, ...}`` of :func:`rel_error` values. The module
    should be in float64 (``module.astype(np.float64)``) and x float64. Buffers (BatchNorm
    running statistics) are restored after each evaluation so the check has no side effects.

    ``scale="tensor"`` divides each tensor's max error by that tensor's largest gradient;
    ``scale="global"`` by the largest gradient of ALL checked tensors (the network's
    gradient as one vector). Use "global" for whole networks: BatchNorm makes the output
    nearly invariant to some parameters (a gamma before LeakyReLU -> BatchNorm, a bias before
    BatchNorm), so their true gradients are ~0 and a per-tensor ratio only measures round-off.
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
    pairs = {"x": (dx, numerical_grad(run, x, dout, h))}
    for name, p in module.named_parameters():
        pairs[name] = (grads[name], numerical_grad(run, p.data, dout, h))
    if scale == "tensor":
        return {k: rel_error(a, b) for k, (a, b) in pairs.items()}
    if scale != "global":
        raise ValueError(f"check_module: scale must be 'tensor' or 'global', got {scale!r}")
    top = max(max(np.abs(a).max(initial=0), np.abs(b).max(initial=0)) for a, b in pairs.values())
    return {k: float(np.abs(a - b).max(initial=0) / max(top, 1e-30)) for k, (a, b) in pairs.items()}


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
    analytic += sum(float(np.sum(g * d)) for g, d in zip(grads.values(), dirs[1:], strict=True))

    originals = [t.copy() for t in tensors]

    def shifted(sign):
        for t, d in zip(tensors, dirs, strict=True):
            t += sign * h * d
        val = float(np.sum(module(x) * u))
        for t, t0 in zip(tensors, originals, strict=True):
            t[...] = t0  # exact restore (t + hd - hd is not t in floating point)
        for k, b in module.named_buffers():
            b[...] = buffers[k]
        return val

    numeric = (shifted(1) - shifted(-1)) / (2 * h)
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-30)
