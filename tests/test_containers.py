"""tinydip.nn containers: Sequential and Concat, and a small network built from them.

The network (conv, BN, LeakyReLU, a two-branch Concat with a stride-2/upsample branch and a
1x1 branch, 1x1 conv, sigmoid) is gradient-checked in float64, kept in float32 end to end,
and compared with PyTorch. Concat's skip fork (an identity branch) must SUM both gradient
contributions, and branches of different spatial size go through the centre crop.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tinydip.gradcheck import check_module, check_vjp, rel_error
from tinydip.nn import BatchNorm2d, Concat, Conv2d, LeakyReLU, Sequential, Sigmoid, Upsample

F64 = np.float64

pytestmark = pytest.mark.usefixtures("numba_one_thread")


def small_net(rng, dtype=F64, bias=False, algo="auto"):
    """Sequential(Conv, BN, LeakyReLU, Concat(down/up branch, 1x1 branch), Conv 1x1, Sigmoid).

    ``bias`` is for the three convolutions followed by a BatchNorm: in train mode their bias
    gradient is identically zero (BN subtracts the batch mean), so a relative error on it
    compares round-off with round-off; see test_bias_before_train_mode_bn_has_zero_gradient.
    ``algo`` is the first (3x3, stride-1) convolution's algorithm.
    """
    net = Sequential(
        Conv2d(3, 4, 3, padding="reflect", bias=bias, rng=rng, dtype=dtype, algo=algo),
        BatchNorm2d(4, dtype=dtype),
        LeakyReLU(0.2),
        Concat(
            Sequential(Conv2d(4, 4, 3, stride=2, bias=bias, rng=rng, dtype=dtype),
                       BatchNorm2d(4, dtype=dtype), LeakyReLU(0.2), Upsample(2)),
            Sequential(Conv2d(4, 2, 1, bias=bias, rng=rng, dtype=dtype),
                       BatchNorm2d(2, dtype=dtype), LeakyReLU(0.2)),
        ),
        Conv2d(6, 3, 1, rng=rng, dtype=dtype),
        Sigmoid(),
    )
    for m in net.modules():  # non-trivial affine parameters
        if isinstance(m, BatchNorm2d):
            m.weight.data[:] = rng.uniform(0.5, 1.5, m.num_features)
            m.bias.data[:] = rng.uniform(-0.3, 0.3, m.num_features)
    return net


# (2, 3, 7, 6): the stride-2 branch gives 4x3 -> upsampled 8x6, the 1x1 branch 7x6, so Concat
# centre-crops the first branch.
X_SHAPE = (2, 3, 7, 6)
# Finite-difference step for the network checks. Hidden LeakyReLUs cannot be kept away from
# their kink by choosing x, and a stencil reaching +-2h across a kink is wrong by O(1): with
# h = 1e-4 this network (correct gradients) shows errors ~1e-3; with h = 1e-5 ~1e-9.
NET_H = 1e-5


def test_small_network_shapes():
    net = small_net(np.random.default_rng(0))
    out = net(np.random.default_rng(1).standard_normal(X_SHAPE))
    assert out.shape == (2, 3, 7, 6)
    assert np.all((out > 0) & (out < 1))


@pytest.mark.parametrize("algo", ["auto", "winograd"])
def test_small_network_gradcheck(algo, record_error):
    rng = np.random.default_rng(0)
    net = small_net(rng, algo=algo)
    x = rng.standard_normal(X_SHAPE)
    errors = check_module(net, x, rng=rng, h=NET_H)
    names = {n for n, _ in net.named_parameters()}
    assert set(errors) == {"x"} | names and len(names) == 11
    assert record_error("network (check_module)", errors) < 1e-5, errors
    assert record_error("network (check_vjp)", check_vjp(net, x, rng=rng, h=NET_H)) < 1e-6


def test_small_network_gradcheck_eval_mode(record_error):
    rng = np.random.default_rng(1)
    net = small_net(rng, bias=True)  # with running statistics the pre-BN biases do matter
    for _ in range(3):  # non-trivial running statistics
        net(rng.standard_normal(X_SHAPE) + 0.5)
    net.eval()
    x = rng.standard_normal(X_SHAPE)
    errors = check_module(net, x, rng=rng, h=NET_H)
    assert record_error("network eval (check_module)", errors) < 1e-5, errors
    assert record_error("network eval (check_vjp)", check_vjp(net, x, rng=rng, h=NET_H)) < 1e-6


def test_bias_before_train_mode_bn_has_zero_gradient():
    rng = np.random.default_rng(12)
    net = small_net(rng, bias=True)
    x = rng.standard_normal(X_SHAPE)
    out = net(x)
    net.zero_grad()
    net.backward(rng.standard_normal(out.shape))
    scale = max(np.abs(p.grad).max() for p in net.parameters())
    for name in ("0.bias", "3.branches.0.0.bias", "3.branches.1.0.bias"):
        assert np.abs(dict(net.named_parameters())[name].grad).max() < 1e-12 * scale, name
    assert np.abs(net[4].bias.grad).max() > 1e-3 * scale  # the last conv's bias is live


def test_small_network_float32_end_to_end():
    rng = np.random.default_rng(2)
    net32 = small_net(rng, np.float32)
    net64 = copy.deepcopy(net32).astype(F64)
    x = rng.standard_normal(X_SHAPE)
    out = net32(x.astype(np.float32))
    g = rng.standard_normal(out.shape)
    dx = net32.backward(g.astype(np.float32))
    assert out.dtype == dx.dtype == np.float32
    for name, p in net32.named_parameters():
        assert p.data.dtype == p.grad.dtype == np.float32, name
    for name, b in net32.named_buffers():
        assert b.dtype == np.float32, name
    out64 = net64(x)
    dx64 = net64.backward(g)
    assert rel_error(out, out64) < 1e-5 and rel_error(dx, dx64) < 1e-4
    for (name, p32), p64 in zip(net32.named_parameters(), net64.parameters(), strict=True):
        assert rel_error(p32.grad, p64.grad) < 1e-4, name
    with pytest.raises(ValueError, match="does not match parameter dtype"):
        net32(x)  # float64 into the float32 network


def test_small_network_gradients_accumulate():
    rng = np.random.default_rng(3)
    net = small_net(rng)
    x = rng.standard_normal(X_SHAPE)
    out = net(x)
    g = rng.standard_normal(out.shape)
    net.zero_grad()
    net.backward(g)
    first = {n: p.grad.copy() for n, p in net.named_parameters()}
    net.backward(g)
    for n, p in net.named_parameters():
        assert np.abs(first[n]).max() > 0, n
        np.testing.assert_allclose(p.grad, 2 * first[n], rtol=1e-13, atol=1e-15, err_msg=n)
    net.zero_grad()
    assert all(not p.grad.any() for p in net.parameters())


# ----------------------------------------------------------------------------------------------
# Concat: the identity (skip) branch and the centre crop
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("identity_first", [True, False])
def test_concat_identity_branch_sums_both_contributions(identity_first, record_error):
    rng = np.random.default_rng(4)
    body = Sequential(Conv2d(2, 3, 3, rng=rng, dtype=F64), Sigmoid())
    branches = (Sequential(), body) if identity_first else (body, Sequential())
    cat = Concat(*branches)
    x = rng.standard_normal((2, 2, 5, 4))
    out = cat(x)
    assert out.shape == (2, 5, 5, 4)
    ident = slice(0, 2) if identity_first else slice(3, 5)
    other = slice(2, 5) if identity_first else slice(0, 3)
    np.testing.assert_array_equal(out[:, ident], x)
    g = rng.standard_normal(out.shape)
    cat.zero_grad()
    dx = cat.backward(g)
    body.zero_grad()
    body(x)
    dbody = body.backward(np.ascontiguousarray(g[:, other]))
    np.testing.assert_allclose(dx, g[:, ident] + dbody, rtol=1e-13, atol=1e-14)
    assert rel_error(dx, dbody) > 0.1 and rel_error(dx, g[:, ident]) > 0.1
    errors = check_module(cat, x, rng=rng)
    assert record_error("Concat (identity branch)", errors) < 1e-7, errors


def test_concat_two_identity_branches():
    x = np.random.default_rng(5).standard_normal((1, 2, 3, 3))
    cat = Concat(Sequential(), Sequential())
    out = cat(x)
    np.testing.assert_array_equal(out, np.concatenate([x, x], axis=1))
    g = np.random.default_rng(6).standard_normal(out.shape)
    np.testing.assert_allclose(cat.backward(g), g[:, :2] + g[:, 2:], rtol=1e-15)


def test_concat_centre_crops_larger_branch(record_error):
    rng = np.random.default_rng(7)
    cat = Concat(Sequential(), Upsample(3, "nearest"))  # 3x4 and 9x12: crop 9x12 at (3, 4)
    x = rng.standard_normal((2, 2, 3, 4))
    out = cat(x)
    assert out.shape == (2, 4, 3, 4)
    up = np.repeat(np.repeat(x, 3, axis=2), 3, axis=3)
    np.testing.assert_array_equal(out[:, 2:], up[:, :, 3:6, 4:8])
    errors = check_module(cat, x, rng=rng)
    assert record_error("Concat (centre crop)", errors) < 1e-7, errors


def test_concat_centre_crops_identity_branch(record_error):
    rng = np.random.default_rng(8)
    conv = Conv2d(2, 3, 3, stride=2, rng=rng, dtype=F64)
    cat = Concat(conv, Sequential())  # 5x6 -> conv 3x3; identity cropped to 3x3 at (1, 1)
    x = rng.standard_normal((2, 2, 5, 6))
    out = cat(x)
    assert out.shape == (2, 5, 3, 3)
    np.testing.assert_array_equal(out[:, 3:], x[:, :, 1:4, 1:4])
    g = rng.standard_normal(out.shape)
    dx = cat.backward(g)
    # pixels outside the crop get gradient only through the convolution
    conv.zero_grad()
    conv(x)
    dconv = conv.backward(np.ascontiguousarray(g[:, :3]))
    expected = dconv.copy()
    expected[:, :, 1:4, 1:4] += g[:, 3:]
    np.testing.assert_allclose(dx, expected, rtol=1e-13, atol=1e-14)
    errors = check_module(cat, x, rng=rng)
    assert record_error("Concat (centre crop)", errors) < 1e-7, errors


def test_concat_errors():
    with pytest.raises(ValueError, match="Concat needs at least one branch"):
        Concat()
    with pytest.raises(ValueError, match="Concat.backward called before forward"):
        Concat(Sequential()).backward(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="Concat expects a 4-D"):
        Concat(Sequential())(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="LeakyReLU.backward called before forward"):
        Sequential(Conv2d(1, 1, 1), LeakyReLU()).backward(np.zeros((1, 1, 2, 2), np.float32))


# ----------------------------------------------------------------------------------------------
# Sequential and the Module API on a network
# ----------------------------------------------------------------------------------------------
def test_sequential_api():
    seq = Sequential()
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 3))
    assert len(seq) == 0 and seq(x) is x and seq.backward(x) is x  # identity
    conv = Conv2d(2, 2, 1, dtype=F64)
    assert seq.add(conv).add(Sigmoid()) is seq
    assert len(seq) == 2 and seq[0] is conv and isinstance(seq[1], Sigmoid)
    out = seq(x)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-conv(x))), rtol=1e-14)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert "(0): Conv2d(2, 2" in repr(seq) and "(1): Sigmoid()" in repr(seq)


def test_network_parameters_names_and_buffers():
    net = small_net(np.random.default_rng(0), bias=True)
    named = list(net.named_parameters())
    names = [n for n, _ in named]
    assert len(names) == len(set(names)) == 14  # 4 convs and 3 batch norms, 2 each: unique
    assert "3.branches.0.0.weight" in names and "3.branches.1.1.bias" in names
    assert "0.weight" in names and "4.bias" in names
    assert len({id(p) for p in net.parameters()}) == len(names)
    expected = (4 * 3 * 9 + 4) + 8 + (4 * 4 * 9 + 4) + 8 + (2 * 4 + 2) + 4 + (3 * 6 + 3)
    assert net.num_parameters() == expected == sum(p.data.size for p in net.parameters())
    buffers = dict(net.named_buffers())
    assert len(buffers) == 6 and "3.branches.1.1.running_var" in buffers
    assert not set(buffers) & set(names)  # buffers are not parameters
    param_arrays = [p.data for p in net.parameters()]
    for b in buffers.values():
        assert not any(b is a for a in param_arrays)


def test_train_eval_propagate_into_concat_branches():
    net = small_net(np.random.default_rng(0))
    mods = list(net.modules())
    nested_bn = [m for m in mods if isinstance(m, BatchNorm2d)]
    assert len(nested_bn) == 3
    assert net.eval() is net
    assert all(not m.training for m in mods)
    x = np.random.default_rng(1).standard_normal(X_SHAPE)
    before = net.state_dict()
    net(x)  # eval mode: no running-statistics update anywhere, including in the branches
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    net.train()
    assert all(m.training for m in mods)
    net(x)
    changed = [k for k, v in net.state_dict().items() if not np.array_equal(v, before[k])]
    assert sorted(changed) == sorted(dict(net.named_buffers()))


def test_network_state_dict_round_trip():
    rng = np.random.default_rng(0)
    net = small_net(rng)
    x = rng.standard_normal(X_SHAPE)
    net(x)  # running statistics move
    state = net.state_dict()
    assert set(state) == {n for n, _ in net.named_parameters()} | set(dict(net.named_buffers()))
    other = small_net(np.random.default_rng(99))
    assert rel_error(other.eval()(x), net.eval()(x)) > 1e-3
    other.load_state_dict(state)
    np.testing.assert_array_equal(other(x), net(x))  # eval mode: buffers matter too
    net.train()
    other.train()
    np.testing.assert_array_equal(other(x), net(x))


# ----------------------------------------------------------------------------------------------
# PyTorch cross-check of the whole network
# ----------------------------------------------------------------------------------------------
def _torch_forward(torch, m, x, P, stats):
    """Re-run module tree ``m`` with torch ops; P maps id(Parameter) -> leaf tensor."""
    Fn = torch.nn.functional
    if isinstance(m, Sequential):
        for layer in m.layers:
            x = _torch_forward(torch, layer, x, P, stats)
        return x
    if isinstance(m, Concat):
        outs = [_torch_forward(torch, b, x, P, stats) for b in m.branches]
        h, w = min(o.shape[2] for o in outs), min(o.shape[3] for o in outs)
        crops = []
        for o in outs:
            t, left = (o.shape[2] - h) // 2, (o.shape[3] - w) // 2
            crops.append(o[:, :, t:t + h, left:left + w])
        return torch.cat(crops, dim=1)
    if isinstance(m, Conv2d):
        p = m.kernel_size // 2
        b = None if m.bias is None else P[id(m.bias)]
        if m.padding == "reflect":
            return Fn.conv2d(Fn.pad(x, (p, p, p, p), mode="reflect"), P[id(m.weight)], b,
                             stride=m.stride)
        return Fn.conv2d(x, P[id(m.weight)], b, stride=m.stride, padding=p)
    if isinstance(m, BatchNorm2d):
        rm, rv = stats[id(m)]
        y = Fn.batch_norm(x, rm, rv, P[id(m.weight)], P[id(m.bias)], training=m.training,
                          momentum=m.momentum, eps=m.eps)
        return y if m.slope is None else Fn.leaky_relu(y, m.slope)
    if isinstance(m, LeakyReLU):
        return Fn.leaky_relu(x, m.negative_slope)
    if isinstance(m, Sigmoid):
        return torch.sigmoid(x)
    if isinstance(m, Upsample):
        kw = {"align_corners": False} if m.mode == "bilinear" else {}
        return Fn.interpolate(x, scale_factor=m.scale_factor, mode=m.mode, **kw)
    raise TypeError(type(m))


def test_small_network_matches_torch(record_error):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    net = small_net(rng)
    net[1].slope = 0.2  # also exercise the fused BN + LeakyReLU inside a network
    net.layers[2] = Sequential()
    x = rng.standard_normal(X_SHAPE)
    stats = {id(m): (torch.tensor(m.running_mean.copy()), torch.tensor(m.running_var.copy()))
             for m in net.modules() if isinstance(m, BatchNorm2d)}
    P = {id(p): torch.tensor(p.data.copy(), requires_grad=True) for p in net.parameters()}
    xt = torch.tensor(x, requires_grad=True)
    net.zero_grad()
    out = net(x)
    g = rng.standard_normal(out.shape)
    dx = net.backward(g)
    ot = _torch_forward(torch, net, xt, P, stats)
    ot.backward(torch.tensor(g))
    errs = {"out": rel_error(out, ot.detach().numpy()), "x": rel_error(dx, xt.grad.numpy())}
    for name, p in net.named_parameters():
        errs[name] = rel_error(p.grad, P[id(p)].grad.numpy())
    for m in net.modules():
        if isinstance(m, BatchNorm2d):
            errs[f"running_mean{id(m)}"] = rel_error(m.running_mean, stats[id(m)][0].numpy())
            errs[f"running_var{id(m)}"] = rel_error(m.running_var, stats[id(m)][1].numpy())
    assert record_error("torch: network", errs) < 1e-10, errs


# ----------------------------------------------------------------------------------------------
# backward_once: the same gradients, each layer's cache freed as soon as it is used
# ----------------------------------------------------------------------------------------------
def _caches(net):
    return [m._cache for m in net.modules() if hasattr(m, "_cache")]


def test_backward_once_same_gradients_and_frees_every_cache():
    rng = np.random.default_rng(7)
    net = small_net(rng)
    x = rng.standard_normal(X_SHAPE)
    out = net(x)
    g = rng.standard_normal(out.shape)
    net.zero_grad()
    dx = net.backward(g)
    grads = [p.grad.copy() for p in net.parameters()]
    assert all(c is not None for c in _caches(net))  # plain backward keeps them
    net(x)
    net.zero_grad()
    dx_once = net.backward_once(g)
    np.testing.assert_array_equal(dx_once, dx)
    for p, want in zip(net.parameters(), grads, strict=True):
        np.testing.assert_array_equal(p.grad, want)
    assert len(_caches(net)) >= 8 and all(c is None for c in _caches(net))
    with pytest.raises(ValueError, match="before forward .or twice after backward_once"):
        net.backward(g)
    net(x)  # the flag does not outlive the call: plain backward keeps the caches again
    net.backward(g)
    assert all(c is not None for c in _caches(net))


def test_backward_once_lowers_the_peak_memory():
    import tracemalloc

    rng = np.random.default_rng(8)
    net = small_net(rng, dtype=np.float32)
    x = rng.standard_normal((1, 3, 128, 128)).astype(np.float32)
    peaks = []
    for once in (False, True):
        g = np.ones_like(net(x))
        tracemalloc.start()
        (net.backward_once if once else net.backward)(g)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 0.9 * peaks[0], peaks


def _input_fed_net(rng):
    """The input feeds a Concat: a stride-2 3x3 branch (im2col), a 1x1 branch (pointwise),
    a 3x3 stride-1 Winograd branch and an identity branch, as z feeds the skip U-Net."""
    return Sequential(
        Concat(
            Sequential(Conv2d(3, 4, 3, stride=2, rng=rng, dtype=F64), BatchNorm2d(4, dtype=F64),
                       LeakyReLU(0.2), Upsample(2)),
            Sequential(Conv2d(3, 2, 1, rng=rng, dtype=F64), LeakyReLU(0.2)),
            Sequential(Conv2d(3, 2, 3, rng=rng, dtype=F64, algo="winograd4")),
            Sequential(),
        ),
        Conv2d(11, 3, 1, rng=rng, dtype=F64),
        Sigmoid(),
    )


def test_backward_once_without_input_grad_same_parameter_gradients():
    """input_grad=False (what fit_step asks): None instead of dx, every parameter gradient
    bit-identical, and the layers that see the input really skip their dx."""
    rng = np.random.default_rng(5)
    net = _input_fed_net(rng)
    x = rng.standard_normal((1, 3, 8, 8))
    dout = rng.standard_normal((1, 3, 8, 8))
    net(x)
    dx = net.backward_once(dout)
    full = [p.grad.copy() for p in net.parameters()]
    first_convs = [b.layers[0] for b in net.layers[0].branches if b.layers]
    returned = {}
    for conv in first_convs:
        conv.backward = (lambda c, f: lambda d: returned.setdefault(id(c), f(d)))(
            conv, conv.backward)
    net.zero_grad()
    net(x)
    assert net.backward_once(dout, input_grad=False) is None
    for g, p in zip(full, net.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, g)
    assert all(returned[id(c)] is None for c in first_convs)  # every first conv skipped dx
    assert not any(m._skip_dx for m in net.modules())  # flags gone afterwards
    for conv in first_convs:
        del conv.backward
    net.zero_grad()
    net(x)
    np.testing.assert_array_equal(net.backward_once(dout), dx)  # and dx is back


def test_input_layers_follow_first_layers_and_every_branch():
    net = _input_fed_net(np.random.default_rng(0))
    concat = net.layers[0]
    expected = [net, concat] + [m for b in concat.branches for m in
                                ([b, b.layers[0]] if b.layers else [b])]
    assert list(net.input_layers()) == expected
