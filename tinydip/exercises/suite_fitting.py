"""Checks for fitting: adam_step and dip_step (chapter 4), masked_mse (chapter 5)."""

from __future__ import annotations

import numpy as np

from ..functional import mse_loss
from ..nn.module import Parameter
from ..optim import Adam
from .checks import Fail, LearnerModule, Suite, compare, expect_array, expect_float, unpack
from .tiny_net import make_tiny_net

MASKED_MSE = Suite()
ADAM = Suite()
DIP_STEP = Suite()

# ---- masked MSE ---------------------------------------------------------------------------


def _mse_cases(rng: np.random.Generator, dtype=np.float32):
    """(pred, target, mask): a full mask, a broadcast (1, 1, H, W) mask, an all-ones mask."""
    for shape, mshape in (((1, 3, 5, 4), (1, 3, 5, 4)), ((2, 3, 4, 6), (1, 1, 4, 6)),
                          ((1, 1, 3, 3), (1, 1, 3, 3))):
        pred = rng.standard_normal(shape).astype(dtype)
        target = rng.standard_normal(shape).astype(dtype)
        mask = (rng.random(mshape) < 0.6).astype(dtype)
        mask.reshape(-1)[0] = 1
        if shape[-1] == 3:
            mask[...] = 1
        yield pred, target, mask


def _mse_mistakes(pred, target, mask) -> tuple[dict, dict]:
    d = pred.astype(np.float64) - target
    m = np.broadcast_to(mask, pred.shape)
    count, K, raw = float(m.sum()), d.size, float(mask.sum())
    loss = {
        "divide by the number of KNOWN entries, sum(mask), not by all entries":
            float((m * d * d).sum()) / K,
        "count the mask AFTER broadcasting it to pred's shape (a (1, 1, H, W) mask covers "
        "all C channels and N images)": float((m * d * d).sum()) / raw,
        "the unknown pixels count in the loss: multiply the squared error by the mask":
            float((d * d).sum()) / count,
    }
    grad = {
        "divide by the number of KNOWN entries, sum(mask), not by all entries": 2 * m * d / K,
        "count the mask AFTER broadcasting it to pred's shape": 2 * m * d / raw,
        "the gradient is missing the factor 2 of d(e^2)/de = 2e": m * d / count,
        "unknown pixels must get zero gradient: multiply by the mask": 2 * d / count,
        "the gradient needs the same 1/sum(mask) as the loss": 2 * m * d,
    }
    return loss, grad


@MASKED_MSE.check("returns (loss: float, dpred like pred, float32)")
def _mm_shape(m: LearnerModule) -> None:
    pred, target, mask = next(_mse_cases(np.random.default_rng(80)))
    loss, dpred = unpack(m.masked_mse(pred, target, mask), "masked_mse", 2)
    expect_float(loss, "loss")
    expect_array(dpred, "dpred", pred.shape, np.float32)


@MASKED_MSE.check("loss matches tinydip (full, broadcast and all-ones masks)")
def _mm_loss(m: LearnerModule) -> None:
    for pred, target, mask in _mse_cases(np.random.default_rng(81), np.float64):
        loss = expect_float(unpack(m.masked_mse(pred, target, mask), "masked_mse", 2)[0],
                            "loss")
        compare(loss, mse_loss(pred, target, mask)[0], "loss", 1e-9,
                _mse_mistakes(pred, target, mask)[0], hint=f"mask {mask.shape}")


@MASKED_MSE.check("dpred matches tinydip")
def _mm_grad(m: LearnerModule) -> None:
    for pred, target, mask in _mse_cases(np.random.default_rng(82), np.float64):
        dpred = unpack(m.masked_mse(pred, target, mask), "masked_mse", 2)[1]
        expect_array(dpred, "dpred", pred.shape)
        compare(dpred, mse_loss(pred, target, mask)[1], "dpred", 1e-9,
                _mse_mistakes(pred, target, mask)[1], hint=f"mask {mask.shape}")


@MASKED_MSE.check("float64 gradient check")
def _mm_gradcheck(m: LearnerModule) -> None:
    from ..gradcheck import numerical_grad, rel_error
    pred, target, mask = list(_mse_cases(np.random.default_rng(83), np.float64))[1]
    dpred = expect_array(unpack(m.masked_mse(pred, target, mask), "masked_mse", 2)[1],
                         "dpred", pred.shape)
    num = numerical_grad(lambda: np.array(float(m.masked_mse(pred, target, mask)[0])), pred,
                         np.ones(()))
    err = rel_error(dpred, num)
    if err > 1e-7:
        raise Fail(f"dpred disagrees with finite differences of your loss (relative error "
                   f"{err:.1e}): loss and gradient must use the same formula")


# ---- Adam ---------------------------------------------------------------------------------

HP = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def _adam_state(rng: np.random.Generator, t: int, scale: float, shape=(3, 4)):
    p = rng.standard_normal(shape).astype(np.float32)
    g = (scale * rng.standard_normal(shape)).astype(np.float32)
    if t == 1:
        m = np.zeros(shape, np.float32)
        v = np.zeros(shape, np.float32)
    else:
        m = (scale * 0.3 * rng.standard_normal(shape)).astype(np.float32)
        v = (scale**2 * rng.uniform(0.1, 1, shape)).astype(np.float32)
    return p, g, m, v


def _adam_reference(p, g, m, v, t):
    param = Parameter(p.copy())
    param.grad[...] = g
    opt = Adam([param], lr=HP["lr"], betas=(HP["beta1"], HP["beta2"]), eps=HP["eps"])
    opt.load_state_dict({"t": t - 1, "m": [m], "v": [v]})
    opt.step()
    return param.data, opt.m[0], opt.v[0]


def _adam_variants(p, g, m, v, t) -> dict[str, np.ndarray]:
    b1, b2, lr, eps = HP["beta1"], HP["beta2"], HP["lr"], HP["eps"]
    p, g, m, v = (a.astype(np.float64) for a in (p, g, m, v))
    m1, v1 = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g

    def upd(tt, inside=False, correct=True):
        mh = m1 / (1 - b1**tt) if correct else m1
        vh = v1 / (1 - b2**tt) if correct else v1
        return p - lr * mh / (np.sqrt(vh + eps) if inside else np.sqrt(vh) + eps)

    def half(correct_m):  # only one moment corrected
        mh, vh = (m1 / (1 - b1**t), v1) if correct_m else (m1, v1 / (1 - b2**t))
        return p - lr * mh / (np.sqrt(vh) + eps)

    return {
        "no bias correction: divide m by (1 - beta1^t) and v by (1 - beta2^t) before the "
        "update (without it the early steps are about 3x too LARGE: v starts even further "
        "below its true value than m, and sqrt(v) divides; chapter 9, section 2)":
            upd(t, correct=False),
        "only m is bias-corrected: correct v too, v_hat = v / (1 - beta2^t) (correcting m "
        "alone makes the first steps ~30x too large)": half(True),
        "only v is bias-corrected: correct m too, m_hat = m / (1 - beta1^t)": half(False),
        "the bias correction uses the wrong t: t is this step's number, 1 on the first step "
        "(use it as given, do not add 1)": upd(t + 1),
        "the bias correction uses the wrong t: t is this step's number, 1 on the first step":
            upd(t - 1) if t > 1 else upd(t, correct=False),
        "eps goes outside the square root: m_hat / (sqrt(v_hat) + eps)": upd(t, inside=True),
        "step against the gradient: p - lr * ...": 2 * p - upd(t),
    }


def _learner_adam(mod: LearnerModule, p, g, m, v, t):
    args = [a.copy() for a in (p, g, m, v)]
    out = unpack(mod.adam_step(*args, t, **HP), "adam_step", 3)
    return [expect_array(a, name, p.shape, np.float32)
            for a, name in zip(out, ("p", "m", "v"), strict=True)]


@ADAM.check("returns (p, m, v): shapes and dtype float32")
def _ad_shape(m: LearnerModule) -> None:
    _learner_adam(m, *_adam_state(np.random.default_rng(90), 1, 1.0), 1)


@ADAM.check("the moments m and v match tinydip")
def _ad_moments(m: LearnerModule) -> None:
    rng = np.random.default_rng(91)
    # t = 5 (m, v not zero) first: at t = 1 with m = 0, "bias-corrected m returned" and "the
    # (1 - beta1) factor missing" give the same numbers; the raw-moment mistake is tried first
    for t, scale in ((5, 0.1), (1, 1.0)):
        p, g, m0, v0 = _adam_state(rng, t, scale)
        _, m1, v1 = _learner_adam(m, p, g, m0, v0, t)
        _, rm, rv = _adam_reference(p, g, m0, v0, t)
        b1, b2 = HP["beta1"], HP["beta2"]
        compare(m1, rm, "m", 1e-6, mistakes={
            "return the RAW moment m; the bias correction is only for the update":
                rm / (1 - b1**t),
            "m = beta1 m + (1 - beta1) g: the (1 - beta1) factor is missing": b1 * m0 + g})
        compare(v1, rv, "v", 1e-6, mistakes={
            "v averages the SQUARED gradient: v = beta2 v + (1 - beta2) g^2":
                b2 * v0 + (1 - b2) * g,
            "return the RAW moment v; the bias correction is only for the update":
                rv / (1 - b2**t)})


@ADAM.check("the parameter update matches tinydip (t = 1, 5, 100; tiny gradients)")
def _ad_update(m: LearnerModule) -> None:
    rng = np.random.default_rng(92)
    for t, scale in ((1, 1.0), (5, 0.1), (100, 1e-4), (3, 1e-4)):
        p, g, m0, v0 = _adam_state(rng, t, scale)
        p1 = _learner_adam(m, p, g, m0, v0, t)[0]
        rp = _adam_reference(p, g, m0, v0, t)[0]
        # compare the step p1 - p, so that a wrong step is not hidden by the size of p
        compare(p1 - p, rp - p, "the step p_new - p", 1e-4,
                {k: w - p for k, w in _adam_variants(p, g, m0, v0, t).items()},
                hint=f"t={t}")


@ADAM.check("300 steps minimise a quadratic")
def _ad_converges(m: LearnerModule) -> None:
    # minimise 0.5 * |p - c|^2 for 300 steps: Adam must get close
    rng = np.random.default_rng(93)
    c = rng.standard_normal(5).astype(np.float32)
    p = np.zeros(5, np.float32)
    mm, vv = np.zeros_like(p), np.zeros_like(p)
    for t in range(1, 301):
        p, mm, vv = unpack(m.adam_step(p, p - c, mm, vv, t, lr=0.05, beta1=0.9, beta2=0.999,
                                       eps=1e-8), "adam_step", 3)
    if not np.all(np.isfinite(p)) or np.abs(p - c).max() > 0.1:
        raise Fail("300 steps on 0.5*|p - c|^2 did not reach the minimum: check the update's "
                   "sign and that the returned m, v are fed back in")


# ---- one DIP step -------------------------------------------------------------------------

H = W = 8


def _dip_setup(seed: int):
    rng = np.random.default_rng(seed)
    z = (0.1 * rng.random((1, 2, H, W))).astype(np.float32)
    target = rng.random((1, 3, H, W)).astype(np.float32)
    mask = (rng.random((1, 1, H, W)) < 0.7).astype(np.float32)
    net = make_tiny_net(seed)
    return net, Adam(net.parameters(), lr=0.01), z, target, mask


def _reference_steps(seed, steps, sigma=0.05, fork="both", jitter="float32"):
    """Run ``steps`` DIP steps: the tinydip network (fork="both") or a known wrong variant."""
    net, opt, z, target, mask = _dip_setup(seed)
    seq = net.as_sequential()
    rng = np.random.default_rng(seed + 1)
    losses = []
    for _ in range(steps):
        if jitter == "float32":
            zin = z + np.float32(sigma) * rng.standard_normal(z.shape, dtype=np.float32)
        elif jitter == "float64":
            zin = (z + sigma * rng.standard_normal(z.shape)).astype(np.float32)
        else:
            zin = z
        net.zero_grad()
        if fork == "both":
            loss, dout = mse_loss(seq(zin), target, mask)
            seq.backward(dout)
        else:  # only one branch's gradient reaches the stem
            h = net.stem(zin)
            u = np.concatenate([net.skip(h), net.deep(h)], axis=1)
            loss, dout = mse_loss(net.head(u), target, mask)
            du = net.head.backward(dout)
            ds, da = du[:, :2].copy(), du[:, 2:].copy()
            gs, ga = net.skip.backward(ds), net.deep.backward(da)
            net.stem.backward(ga if fork == "deep" else gs)
        opt.step()
        losses.append(loss)
    return losses, [(p.data.copy(), p.grad.copy()) for p in net.parameters()]


def _learner_steps(m: LearnerModule, seed: int, steps: int, sigma: float = 0.05):
    net, opt, z, target, mask = _dip_setup(seed)
    rng = np.random.default_rng(seed + 1)
    losses = [expect_float(m.dip_step(net, opt, z, target, mask, sigma, rng), "the loss")
              for _ in range(steps)]
    return losses, [(p.data.copy(), p.grad.copy()) for p in net.parameters()]


def _flat(state, which: int, first: int = 0, last: int | None = None) -> np.ndarray:
    return np.concatenate([s[which].ravel() for s in state[first:last]])


@DIP_STEP.check("one step: the loss matches tinydip (jitter, forward, masked loss)")
def _dip_loss(m: LearnerModule) -> None:
    losses, _ = _learner_steps(m, 0, 1)
    ref, _ = _reference_steps(0, 1)
    compare(losses[0], ref[0], "the loss", 1e-5, mistakes={
        "the input jitter is missing: zin = z + sigma * noise, a fresh draw every step":
            _reference_steps(0, 1, jitter="none")[0][0],
        "draw the jitter as rng.standard_normal(z.shape, dtype=np.float32) (a float64 draw "
        "gives other numbers)": _reference_steps(0, 1, jitter="float64")[0][0],
    }, hint="forward: stem -> concat([skip(h), deep(h)]) -> head; loss = mse_loss(out, "
         "target, mask); draw the jitter once, from rng")


@DIP_STEP.check("one step: every gradient matches (the fork sums both branches)")
def _dip_grads(m: LearnerModule) -> None:
    _, state = _learner_steps(m, 1, 1)
    _, ref = _reference_steps(1, 1)
    if not np.any(_flat(state, 1)):
        raise Fail("all gradients are zero: call backward through head, the two branches "
                   "and the stem")
    n_stem = len(make_tiny_net(0).stem.parameters())
    compare(_flat(state, 1, n_stem), _flat(ref, 1, n_stem), "the branch and head gradients",
            1e-4, hint="du = head.backward(dout); split du's channels: the first "
            "skip_channels go to skip.backward, the rest to deep.backward")
    compare(_flat(state, 1, 0, n_stem), _flat(ref, 1, 0, n_stem), "the stem's gradients",
            1e-4, mistakes={
                "h feeds BOTH branches, so its gradient is the SUM: dh = skip.backward(ds) "
                "+ deep.backward(da) (you kept only the deep branch's)":
                    _flat(_reference_steps(1, 1, fork="deep")[1], 1, 0, n_stem),
                "h feeds BOTH branches, so its gradient is the SUM: dh = skip.backward(ds) "
                "+ deep.backward(da) (you kept only the skip branch's)":
                    _flat(_reference_steps(1, 1, fork="skip")[1], 1, 0, n_stem)})


@DIP_STEP.check("one step: the optimiser updated the weights")
def _dip_update(m: LearnerModule) -> None:
    _, state = _learner_steps(m, 2, 1)
    _, ref = _reference_steps(2, 1)
    before = [p.data for p in make_tiny_net(2).parameters()]
    if all(np.array_equal(s[0], b) for s, b in zip(state, before, strict=True)):
        raise Fail("the weights did not change: call opt.step() after the backward pass")
    compare(_flat(state, 0), _flat(ref, 0), "the weights after the step", 1e-5)


@DIP_STEP.check("two steps: gradients are zeroed before each backward")
def _dip_zero_grad(m: LearnerModule) -> None:
    net, opt, z, target, mask = _dip_setup(3)
    rng = np.random.default_rng(4)
    m.dip_step(net, opt, z, target, mask, 0.05, rng)
    for p in net.parameters():  # stale gradients left from somewhere else
        p.grad[...] = 7.0
    expect_float(m.dip_step(net, opt, z, target, mask, 0.05, rng), "the loss")
    got = np.concatenate([p.grad.ravel() for p in net.parameters()])
    net2, opt2, *_ = _dip_setup(3)
    rng2 = np.random.default_rng(4)
    for _ in range(2):
        zin = z + np.float32(0.05) * rng2.standard_normal(z.shape, dtype=np.float32)
        net2.zero_grad()
        seq = net2.as_sequential()
        seq.backward(mse_loss(seq(zin), target, mask)[1])
        opt2.step()
    ref = np.concatenate([p.grad.ravel() for p in net2.parameters()])
    compare(got, ref, "the gradients of step 2", 1e-4, mistakes={
        "the gradients add up across steps: call net.zero_grad() before backward "
        "(backward ACCUMULATES into p.grad)": ref + 7.0})


@DIP_STEP.check("three steps: the losses match (a fresh jitter each step)")
def _dip_three(m: LearnerModule) -> None:
    losses, _ = _learner_steps(m, 5, 3)
    ref_losses, _ = _reference_steps(5, 3)
    compare(np.array(losses), np.array(ref_losses), "the losses of 3 steps", 1e-4,
            hint="a fresh jitter draw every step, from the rng you are given")
