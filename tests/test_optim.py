"""tinydip.optim: Adam against its formula written out by hand and against PyTorch, Adam and
SGD minimising a least-squares problem, dtype preservation, state round trip, bad input;
learning-rate schedules (CosineLR, ConstantLR).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tinydip.functional import mse_loss
from tinydip.nn import BatchNorm2d, Conv2d, Parameter, Sequential, Sigmoid
from tinydip.optim import SGD, Adam

pytestmark = pytest.mark.usefixtures("numba_one_thread")


def adam_by_hand(ps, gs, ms, vs, t, lr, b1, b2, eps):
    """Kingma & Ba, Algorithm 1, one step on lists of arrays (returns new lists)."""
    out = []
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        out.append((p - lr * mhat / (np.sqrt(vhat) + eps), m, v))
    return [list(z) for z in zip(*out, strict=True)]


@pytest.mark.parametrize("hyper", [{}, {"lr": 0.05, "betas": (0.5, 0.9), "eps": 1e-4}])
def test_adam_matches_hand_formula_for_three_steps(hyper):
    rng = np.random.default_rng(0)
    params = [Parameter(rng.standard_normal((3, 2))), Parameter(rng.standard_normal(4))]
    opt = Adam(params, **hyper)
    lr = hyper.get("lr", 1e-3)
    (b1, b2), eps = hyper.get("betas", (0.9, 0.999)), hyper.get("eps", 1e-8)
    ps = [p.data.copy() for p in params]
    ms = [np.zeros_like(p) for p in ps]
    vs = [np.zeros_like(p) for p in ps]
    for t in range(1, 4):
        gs = [rng.standard_normal(p.shape) * 10 ** rng.uniform(-3, 1) for p in ps]
        opt.zero_grad()
        for p, g in zip(params, gs, strict=True):
            p.grad += g
        opt.step()
        ps, ms, vs = adam_by_hand(ps, gs, ms, vs, t, lr, b1, b2, eps)
        assert opt.t == t
        for p, want, m, mw, v, vw in zip(params, ps, opt.m, ms, opt.v, vs, strict=True):
            np.testing.assert_allclose(p.data, want, rtol=1e-13, atol=1e-15)
            np.testing.assert_allclose(m, mw, rtol=1e-13, atol=1e-16)
            np.testing.assert_allclose(v, vw, rtol=1e-13, atol=1e-16)


def test_adam_first_step_moves_every_entry_by_lr():
    """Bias correction: the first step is lr * g / (|g| + eps') = lr * sign(g)."""
    p = Parameter(np.array([1.0, -2.0, 3.0]))
    opt = Adam([p], lr=0.1, eps=1e-12)
    p.grad[:] = [5.0, -1e-3, 2e3]
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, -1.9, 2.9], rtol=1e-10)


def _least_squares(seed=0):
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal((8, 4)), rng.standard_normal(8)
    return A, b, np.linalg.lstsq(A, b, rcond=None)[0]


def _minimise(opt, p, A, b, steps):
    for _ in range(steps):
        opt.zero_grad()
        p.grad += A.T @ (A @ p.data - b)  # gradient of 0.5 * ||A p - b||^2
        opt.step()


def test_adam_minimises_a_quadratic():
    A, b, solution = _least_squares()
    p = Parameter(np.zeros(4))
    _minimise(Adam([p], lr=0.05), p, A, b, 1000)
    np.testing.assert_allclose(p.data, solution, atol=1e-4)


def test_sgd_minimises_a_quadratic_and_matches_its_formula():
    A, b, solution = _least_squares(1)
    p = Parameter(np.zeros(4))
    lr = 1.0 / np.linalg.norm(A, 2) ** 2
    opt = SGD([p], lr=lr)
    p.grad[:] = [1.0, -2.0, 0.5, 0.0]
    opt.step()
    np.testing.assert_allclose(p.data, -lr * np.array([1.0, -2.0, 0.5, 0.0]), rtol=1e-15)
    _minimise(opt, p, A, b, 2000)
    np.testing.assert_allclose(p.data, solution, atol=1e-4)


def test_optimisers_preserve_float32():
    rng = np.random.default_rng(2)
    net = Sequential(Conv2d(2, 3, 3, rng=rng), BatchNorm2d(3, slope=0.2), Conv2d(3, 2, 1, rng=rng),
                     Sigmoid())
    x = rng.standard_normal((1, 2, 5, 5)).astype(np.float32)
    target = rng.uniform(size=(1, 2, 5, 5)).astype(np.float32)
    adam = Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        net.zero_grad()
        loss, d = mse_loss(net(x), target)
        net.backward(d)
        adam.step()
        losses.append(loss)
    assert losses[-1] < losses[0]
    for p, m, v in zip(net.parameters(), adam.m, adam.v, strict=True):
        assert p.data.dtype == p.grad.dtype == m.dtype == v.dtype == np.float32
        assert m.any() and v.any()
    sgd = SGD(net.parameters(), lr=1e-2)
    sgd.step()
    assert all(p.data.dtype == np.float32 for p in net.parameters())
    assert net(x).dtype == np.float32


def test_optimizer_zero_grad_and_errors():
    p = Parameter(np.ones(3))
    p.grad += 2
    opt = SGD([p], lr=0.1)
    opt.zero_grad()
    assert not p.grad.any()
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="learning rate must be positive, got 0"):
        SGD([p], lr=0)
    with pytest.raises(ValueError, match="learning rate must be positive, got -0.1"):
        Adam([p], lr=-0.1)
    p.grad[:] = 0
    Adam([p], lr=1.0).step()  # zero gradient: no movement
    np.testing.assert_array_equal(p.data, 1.0)


def test_adam_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(5) for _ in range(6)]

    def run(p, opt, gs):
        for g in gs:
            opt.zero_grad()
            p.grad += g
            opt.step()

    p1 = Parameter(np.zeros(5))
    o1 = Adam([p1], lr=0.1)
    run(p1, o1, grads)
    p2 = Parameter(np.zeros(5))
    o2 = Adam([p2], lr=0.1)
    run(p2, o2, grads[:3])
    state = o2.state_dict()
    o3 = Adam([Parameter(p2.data.copy())], lr=0.1)
    o3.load_state_dict(state)
    p3 = o3.params[0]
    run(p3, o3, grads[3:])
    assert o3.t == 6
    np.testing.assert_array_equal(p3.data, p1.data)


def test_adam_matches_torch_for_five_steps(record_error):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    shapes = [(3, 2, 3, 3), (3,)]
    init = [rng.standard_normal(s) for s in shapes]
    params = [Parameter(a.copy()) for a in init]
    tparams = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    ours = Adam(params, lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    theirs = torch.optim.Adam(tparams, lr=0.01, betas=(0.8, 0.95), eps=1e-6)
    for _ in range(5):
        for p, tp in zip(params, tparams, strict=True):
            g = rng.standard_normal(p.shape)
            p.grad[...] = g
            tp.grad = torch.tensor(g)
        ours.step()
        theirs.step()
        for p, tp in zip(params, tparams, strict=True):
            want = tp.detach().numpy()
            err = np.abs(p.data - want).max() / np.abs(want).max()
            assert record_error("torch: Adam (params)", err) <= 1e-10
    for m, v, tp in zip(ours.m, ours.v, tparams, strict=True):
        st = theirs.state[tp]
        np.testing.assert_allclose(m, st["exp_avg"].numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(v, st["exp_avg_sq"].numpy(), rtol=1e-12, atol=1e-15)


def _rates(schedule_opt, steps):
    schedule, opt = schedule_opt
    rates = [opt.lr]
    for _ in range(steps):
        schedule.step()
        rates.append(opt.lr)
    return rates


def _opt(lr=0.1):
    return Adam([Parameter(np.zeros(3, np.float32))], lr=lr)


def test_cosine_schedule_is_the_codecs_two_formulas_exactly():
    """period T - 1 (the codec's fit: final * lr at the last of T steps) and period T (its
    incremental rounding: never 0), bit for bit as the loops computed them before issue 24."""
    from tinydip.optim import CosineLR

    T, lr, f = 7, 0.03, 0.01
    opt = _opt(lr)
    fit_rates = _rates((CosineLR(opt, period=T - 1, final=f), opt), T - 1)
    assert fit_rates == [lr * (f + (1.0 - f) * 0.5 * (1.0 + math.cos(math.pi * t / (T - 1))))
                         for t in range(T)]
    assert fit_rates[-1] == pytest.approx(f * lr) and fit_rates[0] == lr
    opt = _opt(lr)
    settle_rates = _rates((CosineLR(opt, period=T), opt), T - 1)
    assert settle_rates == [lr * 0.5 * (1.0 + math.cos(math.pi * t / T)) for t in range(T)]
    assert all(a > b for a, b in zip(settle_rates, settle_rates[1:])) and settle_rates[-1] > 0


def test_constant_and_degenerate_schedules():
    from tinydip.optim import ConstantLR, CosineLR, make_schedule

    opt = _opt()
    assert _rates((ConstantLR(opt), opt), 3) == [0.1] * 4
    opt = _opt()
    assert _rates((CosineLR(opt, period=0), opt), 2) == [0.1] * 3  # one step: no decay
    opt = _opt()
    assert isinstance(make_schedule("constant", opt, 5), ConstantLR)
    assert isinstance(make_schedule("cosine", opt, 5), CosineLR)
    with pytest.raises(ValueError, match="schedule"):
        make_schedule("linear", opt, 5)
    with pytest.raises(ValueError, match="final"):
        CosineLR(opt, 5, final=2.0)


def _params(seed, shapes=((4, 3, 3, 3), (4,), (2, 4, 1, 1), (2,))):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s).astype(np.float32)) for s in shapes]


def _adam_steps(ps, opt, seed, steps=6):
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        for p in ps:
            p.grad[...] = rng.standard_normal(p.shape)
        opt.step()


def test_flat_adam_is_bit_identical_to_tensor_by_tensor(monkeypatch):
    """One update over a flat buffer (the default) gives the very same bits as one update
    per tensor; the parameters become views of it, m and v stay per-parameter views."""
    flat_ps, plain_ps = _params(1), _params(1)
    flat = Adam(flat_ps, lr=0.05)
    monkeypatch.setattr("tinydip.optim.optimizers._FlatParams.build", lambda params: None)
    plain = Adam(plain_ps, lr=0.05)
    assert flat._flat is not None and plain._flat is None
    _adam_steps(flat_ps, flat, 7)
    _adam_steps(plain_ps, plain, 7)
    for a, b, ma, mb, va, vb in zip(flat_ps, plain_ps, flat.m, plain.m, flat.v, plain.v,
                                    strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(ma, mb)
        np.testing.assert_array_equal(va, vb)
        assert np.shares_memory(a.data, flat._flat.data) and ma.shape == a.shape


def test_flat_adam_follows_a_parameter_pointed_elsewhere():
    """Module.astype or user code may give a parameter a new array after the optimiser was
    made: the update must reach the array the network reads, not a stale buffer."""
    ps, ref = _params(2), _params(2)
    opt, ref_opt = Adam(ps, lr=0.05), Adam(ref, lr=0.05)
    _adam_steps(ps, opt, 3, steps=2)
    _adam_steps(ref, ref_opt, 3, steps=2)
    ps[1].data = ps[1].data.copy()  # pointed elsewhere, same values
    ps[2].grad = ps[2].grad.copy()
    _adam_steps(ps, opt, 4, steps=3)
    _adam_steps(ref, ref_opt, 4, steps=3)
    for a, b in zip(ps, ref, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
    ps[0].data = ps[0].data.astype(np.float64)
    with pytest.raises(ValueError, match="changed shape or dtype"):
        opt.step()


def test_adam_updates_shared_or_repeated_parameters_tensor_by_tensor():
    """Views (tied or user-shared memory) and mixed dtypes are left as they are."""
    base = np.zeros(6, np.float32)
    views = [Parameter(base[:3]), Parameter(base[3:])]
    opt = Adam(views, lr=0.1)
    assert opt._flat is None
    for p in views:
        p.grad[...] = 1.0
    opt.step()
    np.testing.assert_allclose(base, -0.1, rtol=1e-6)  # the user's array moved
    mixed = [Parameter(np.zeros(2, np.float32)), Parameter(np.zeros(2))]
    assert Adam(mixed)._flat is None
