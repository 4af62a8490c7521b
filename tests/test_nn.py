"""tinydip.nn layers and the Module API: finite-difference gradient checks of every layer in
float64, float32 preservation, gradient accumulation, error messages, PyTorch cross-checks.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tinydip.gradcheck import check_module, rel_error
from tinydip.nn import (
    BatchNorm2d,
    Conv2d,
    LeakyReLU,
    Module,
    MSELoss,
    Parameter,
    ReLU,
    Sigmoid,
    Upsample,
)

F64 = np.float64

pytestmark = pytest.mark.usefixtures("numba_one_thread")


def away_from_kink(x, margin=0.1):
    """Move every entry at least ``margin`` away from 0 (finite differences across the kink
    of a (Leaky)ReLU would be meaningless)."""
    return np.sign(x) * (np.abs(x) + margin)


# ----------------------------------------------------------------------------------------------
# gradient checks, float64
# ----------------------------------------------------------------------------------------------
CONV_CASES = [(k, s, pad) for k in (1, 3, 5) for s in (1, 2) for pad in ("zeros", "reflect")]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("k, stride, padding", CONV_CASES)
def test_conv2d_gradcheck(k, stride, padding, bias, record_error):
    rng = np.random.default_rng(100 * k + 10 * stride + bias)
    shapes = [(2, 2, 5, 7), (2, 2, 4, 3)] + ([(2, 2, 1, 1)] if padding == "zeros" else [])
    for shape in shapes:
        conv = Conv2d(2, 3, k, stride=stride, padding=padding, bias=bias, rng=rng, dtype=F64)
        x = rng.standard_normal(shape)
        errors = check_module(conv, x, rng=rng)
        assert set(errors) == {"x", "weight"} | ({"bias"} if bias else set())
        worst = record_error("Conv2d", errors)
        assert worst < 1e-7, (shape, errors)



@pytest.mark.parametrize("algo", ["winograd", "winograd4"])
@pytest.mark.parametrize("keep_cols", [True, False])
@pytest.mark.parametrize("padding", ["zeros", "reflect"])
def test_conv2d_winograd_gradcheck_and_same_as_im2col(padding, keep_cols, algo, record_error):
    rng = np.random.default_rng(7)
    label = {"winograd": "Conv2d (Winograd)", "winograd4": "Conv2d (Winograd F(4x4))"}[algo]
    for shape in [(2, 2, 5, 7), (1, 3, 4, 4), (1, 2, 9, 6)]:
        conv = Conv2d(shape[1], 3, 3, padding=padding, rng=rng, dtype=F64, algo=algo,
                      keep_cols=keep_cols)
        x = rng.standard_normal(shape)
        errors = check_module(conv, x, rng=rng)
        assert record_error(label, errors) < 1e-7, (shape, errors)
        twin = copy.deepcopy(conv)
        twin.algo = "im2col"
        twin.zero_grad()
        conv.zero_grad()
        out, out2 = conv(x), twin(x)
        g = rng.standard_normal(out.shape)
        np.testing.assert_allclose(conv.backward(g), twin.backward(g), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out, out2, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(conv.weight.grad, twin.weight.grad, rtol=1e-12, atol=1e-12)


def test_conv2d_algo_choice_and_errors():
    conv = Conv2d(2, 2, 3)
    n = Conv2d.WINOGRAD_MIN_PIXELS
    assert conv.uses_winograd(16, 16) and conv.uses_winograd(n, 1)
    assert not conv.uses_winograd(8, 8) and not conv.uses_winograd(n - 1, 1)
    assert Conv2d(2, 2, 3, algo="winograd").uses_winograd(2, 2)
    assert not Conv2d(2, 2, 3, algo="im2col").uses_winograd(64, 64)
    assert not Conv2d(2, 2, 3, stride=2).uses_winograd(64, 64)
    assert not Conv2d(2, 2, 5).uses_winograd(64, 64)
    n4 = Conv2d.WINOGRAD4_MIN_PIXELS
    assert [conv.winograd_tile(*hw) for hw in ((8, 8), (16, 16), (n4 - 1, 1), (n4, 1), (64, 64))] \
        == [0, 2, 2, 4, 4]
    assert Conv2d(2, 2, 3, algo="winograd4").winograd_tile(2, 2) == 4
    assert Conv2d(2, 2, 3, algo="winograd").winograd_tile(64, 64) == 2
    with pytest.raises(ValueError, match="algo='winograd4' needs kernel_size=3 and stride=1"):
        Conv2d(1, 1, 3, stride=2, algo="winograd4")
    with pytest.raises(ValueError, match="algo must be one of"):
        Conv2d(1, 1, 3, algo="fft")
    with pytest.raises(ValueError, match="algo='winograd' needs kernel_size=3 and stride=1"):
        Conv2d(1, 1, 5, algo="winograd")
    with pytest.raises(ValueError, match="algo='winograd' needs kernel_size=3 and stride=1"):
        Conv2d(1, 1, 3, stride=2, algo="winograd")
    assert "algo='im2col'" in repr(Conv2d(1, 1, 3, algo="im2col"))


@pytest.mark.parametrize("size, tile, tol", [(16, 2, 2e-6), (32, 4, 2e-5)])
def test_conv2d_auto_float32_matches_im2col_on_a_large_image(size, tile, tol):
    """The default (auto) layer runs Winograd F(2x2) at 16x16 and F(4x4) from 32x32 in
    float32: the same result as im2col to ~1e-6 (F(4x4): ~1e-5, larger transform weights)."""
    rng = np.random.default_rng(8)
    conv = Conv2d(8, 4, 3, padding="reflect", rng=rng)
    twin = copy.deepcopy(conv)
    twin.algo = "im2col"
    x = rng.standard_normal((1, 8, size, size)).astype(np.float32)
    out, out2 = conv(x), twin(x)
    assert conv._tile == tile and not twin._tile and out.dtype == np.float32
    assert rel_error(out, out2) < tol
    g = rng.standard_normal(out.shape).astype(np.float32)
    dx, dx2 = conv.backward(g), twin.backward(g)
    assert dx.dtype == conv.weight.grad.dtype == np.float32
    assert rel_error(dx, dx2) < tol and rel_error(conv.weight.grad, twin.weight.grad) < tol

def bn_case(rng, train, slope, affine, shape=(2, 3, 3, 5), margin=0.05):
    """A float64 BatchNorm2d with non-trivial parameters/statistics and an input whose
    pre-activation stays ``margin`` away from the fused LeakyReLU's kink."""
    C = shape[1]
    bn = BatchNorm2d(C, slope=slope, affine=affine, momentum=0.2, dtype=F64)
    gamma, beta = np.ones(C), np.zeros(C)
    if affine:
        gamma = rng.uniform(0.5, 1.5, C) * rng.choice([-1.0, 1.0], C)
        beta = rng.uniform(-0.5, 0.5, C)
        bn.weight.data[:], bn.bias.data[:] = gamma, beta
    if not train:
        bn.eval()
        bn.running_mean[:] = rng.standard_normal(C)
        bn.running_var[:] = rng.uniform(0.5, 2.0, C)
    for _ in range(200):
        x = rng.standard_normal(shape) * rng.uniform(0.5, 2, (1, C, 1, 1)) \
            + rng.uniform(-1, 1, (1, C, 1, 1))
        if train:
            mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        else:
            mu, var = bn.running_mean, bn.running_var
        y = gamma[:, None, None] * (x - mu[:, None, None]) / np.sqrt(var[:, None, None] + bn.eps) \
            + beta[:, None, None]
        if slope is None or np.abs(y).min() > margin:
            return bn, x
    raise AssertionError("could not draw an input away from the kink")


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("slope", [None, 0.2, 0.0])
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_gradcheck(train, slope, affine, record_error):
    seed = 10 * train + 3 * affine + (0 if slope is None else 1 + int(10 * slope))
    rng = np.random.default_rng(seed)
    for shape in [(2, 3, 3, 5), (2, 2, 1, 3)]:
        bn, x = bn_case(rng, train, slope, affine, shape)
        stats = (bn.running_mean.copy(), bn.running_var.copy())
        errors = check_module(bn, x, rng=rng)
        assert set(errors) == {"x"} | ({"weight", "bias"} if affine else set())
        kind = "BatchNorm2d " + ("train" if train else "eval") + \
            ("" if slope is None else " + fused LeakyReLU")
        assert record_error(kind, errors) < 1e-7, (shape, errors)
        np.testing.assert_array_equal(bn.running_mean, stats[0])  # check has no side effect
        np.testing.assert_array_equal(bn.running_var, stats[1])


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(), LeakyReLU(0.2)],
                         ids=["relu", "leaky0.01", "leaky0.2"])
def test_relu_leaky_gradcheck(layer, record_error):
    rng = np.random.default_rng(0)
    for shape in [(2, 3, 5, 4), (2, 1, 1, 3)]:
        x = away_from_kink(rng.standard_normal(shape))
        errors = check_module(layer, x, rng=rng)
        assert set(errors) == {"x"}
        assert record_error(type(layer).__name__, errors) < 1e-7


def test_sigmoid_gradcheck(record_error):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 3)) * 3
    errors = check_module(Sigmoid(), x, rng=rng)
    assert record_error("Sigmoid", errors) < 1e-7


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_module_large_inputs(dtype):
    """No overflow for |x| = 1000 (underflow of exp(-1000) to 0 is the exact answer)."""
    x = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype).reshape(1, 1, 1, 5)
    layer = Sigmoid()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = layer(x)
        dx = layer.backward(np.ones_like(x))
    assert out.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(out[0, 0, 0, [0, 2, 3, 4]], [0.0, 0.5, 1.0, 1.0])
    assert 0 < out[0, 0, 0, 1] < 1e-43 and np.all(np.isfinite(dx)) and dx[0, 0, 0, 4] == 0


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("scale", [2, 3])
def test_upsample_gradcheck(mode, scale, record_error):
    rng = np.random.default_rng(scale)
    for shape in [(2, 2, 3, 5), (2, 1, 1, 2)]:
        x = rng.standard_normal(shape)
        errors = check_module(Upsample(scale, mode), x, rng=rng)
        assert record_error(f"Upsample ({mode})", errors) < 1e-7


def test_mseloss_module(record_error):
    rng = np.random.default_rng(2)
    pred, target = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 3, 4, 4))
    crit = MSELoss()
    loss = crit(pred, target, np.ones((1, 1, 4, 4)))
    assert loss == pytest.approx(np.mean((pred - target) ** 2), rel=1e-13)
    np.testing.assert_allclose(crit.backward(), 2 * (pred - target) / pred.size, rtol=1e-13)
    with pytest.raises(ValueError, match="before the loss was computed"):
        MSELoss().backward()


# ----------------------------------------------------------------------------------------------
# float32 in -> float32 out, and the same numbers as float64
# ----------------------------------------------------------------------------------------------
def _layers32():
    rng = np.random.default_rng(0)
    bn_eval = BatchNorm2d(3, slope=0.2)
    bn_eval.running_mean[:] = [0.1, -0.2, 0.3]
    bn_eval.running_var[:] = [0.5, 1.5, 2.0]
    return {
        "conv3_s2_reflect": Conv2d(3, 4, 3, stride=2, padding="reflect", rng=rng),
        "conv1_nobias": Conv2d(3, 2, 1, bias=False, rng=rng),
        "conv5_zeros": Conv2d(3, 2, 5, rng=rng),
        "bn": BatchNorm2d(3),
        "bn_fused": BatchNorm2d(3, slope=0.2),
        "bn_noaffine": BatchNorm2d(3, affine=False),
        "bn_eval": bn_eval.eval(),
        "relu": ReLU(),
        "leaky": LeakyReLU(0.2),
        "sigmoid": Sigmoid(),
        "up_bilinear": Upsample(2),
        "up_nearest": Upsample(3, "nearest"),
    }


@pytest.mark.parametrize("name", list(_layers32()))
def test_float32_in_float32_out(name):
    layer32 = _layers32()[name]
    layer64 = copy.deepcopy(layer32).astype(F64)
    rng = np.random.default_rng(1)
    x = away_from_kink(rng.standard_normal((2, 3, 5, 4)))
    out = layer32(x.astype(np.float32))
    g = rng.standard_normal(out.shape)
    dx = layer32.backward(g.astype(np.float32))
    assert out.dtype == dx.dtype == np.float32
    for p in layer32.parameters():
        assert p.data.dtype == p.grad.dtype == np.float32
    for _, b in layer32.named_buffers():
        assert b.dtype == np.float32
    # and the float32 numbers agree with the float64 computation
    out64 = layer64(x)
    dx64 = layer64.backward(g)
    assert rel_error(out, out64) < 1e-5 and rel_error(dx, dx64) < 1e-5
    for p32, p64 in zip(layer32.parameters(), layer64.parameters(), strict=True):
        assert rel_error(p32.grad, p64.grad) < 1e-5


@pytest.mark.parametrize("make", [lambda: Conv2d(2, 2, 3), lambda: BatchNorm2d(2)],
                         ids=["conv", "bn"])
def test_dtype_mismatch_raises(make):
    layer = make()  # float32 parameters
    with pytest.raises(ValueError, match="input dtype float64 does not match parameter dtype"):
        layer(np.zeros((1, 2, 3, 3)))
    layer.astype(F64)
    with pytest.raises(ValueError, match="input dtype float32 does not match"):
        layer(np.zeros((1, 2, 3, 3), np.float32))


# ----------------------------------------------------------------------------------------------
# gradients accumulate
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda rng: Conv2d(2, 3, 3, stride=2, padding="reflect", rng=rng, dtype=F64),
    lambda rng: BatchNorm2d(2, slope=0.2, dtype=F64),
], ids=["conv", "bn"])
def test_gradients_accumulate_and_zero_grad_resets(make):
    rng = np.random.default_rng(0)
    layer = make(rng)
    x = rng.standard_normal((2, 2, 5, 5))
    out = layer(x)
    g = rng.standard_normal(out.shape)
    dx1 = layer.backward(g)
    first = [p.grad.copy() for p in layer.parameters()]
    assert all(np.abs(f).max() > 0 for f in first)
    dx2 = layer.backward(g)  # same cache, no zero_grad: grads double, dx does not
    np.testing.assert_array_equal(dx1, dx2)
    for p, f in zip(layer.parameters(), first, strict=True):
        np.testing.assert_allclose(p.grad, 2 * f, rtol=1e-14)
    layer(x)
    layer.backward(g)  # a fresh forward + backward adds a third copy
    for p, f in zip(layer.parameters(), first, strict=True):
        np.testing.assert_allclose(p.grad, 3 * f, rtol=1e-14)
    layer.zero_grad()
    for p in layer.parameters():
        assert not p.grad.any()


# ----------------------------------------------------------------------------------------------
# non-contiguous inputs (e.g. an HWC image transposed to CHW) give the same results
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(_layers32()))
def test_noncontiguous_input_same_as_contiguous(name):
    layer = _layers32()[name].astype(F64)
    rng = np.random.default_rng(4)
    x_nc = np.asfortranarray(away_from_kink(rng.standard_normal((2, 3, 5, 4))))
    x_c = np.ascontiguousarray(x_nc)
    o1 = layer(x_nc)
    g = rng.standard_normal(o1.shape)
    d1 = layer.backward(g)
    o2 = layer(x_c)
    d2 = layer.backward(g)
    np.testing.assert_allclose(o1, o2, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(d1, d2, rtol=1e-13, atol=1e-13)


# ----------------------------------------------------------------------------------------------
# bad input: a ValueError that names the problem
# ----------------------------------------------------------------------------------------------
def test_constructor_errors():
    with pytest.raises(ValueError, match="padding must be one of"):
        Conv2d(1, 1, 3, padding="circular")
    with pytest.raises(ValueError, match="kernel_size must be odd and positive"):
        Conv2d(1, 1, 2)
    with pytest.raises(ValueError, match="kernel_size must be odd and positive"):
        Conv2d(1, 1, 0)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        Upsample(2, mode="bicubic")
    with pytest.raises(ValueError, match="scale_factor must be a positive integer"):
        Upsample(1.5)
    with pytest.raises(ValueError, match="scale_factor must be a positive integer"):
        Upsample(0)


@pytest.mark.parametrize("layer", [Conv2d(2, 3, 3), BatchNorm2d(2), Upsample(2)],
                         ids=["conv", "bn", "upsample"])
def test_wrong_ndim_and_type(layer):
    with pytest.raises(ValueError, match=r"expects a 4-D \(N, C, H, W\) input, got shape"):
        layer(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match="expects a NumPy array, got list"):
        layer([[[[0.0]]]])
    with pytest.raises(ValueError, match="expects float32 or float64 input, got int64"):
        layer(np.zeros((1, 2, 4, 4), np.int64))


@pytest.mark.parametrize("layer", [Conv2d(2, 3, 3), BatchNorm2d(2)], ids=["conv", "bn"])
def test_channel_mismatch(layer):
    with pytest.raises(ValueError, match=r"expects 2 input channels, got 3"):
        layer(np.zeros((1, 3, 4, 4), np.float32))


@pytest.mark.parametrize("k, size", [(3, 1), (5, 1), (5, 2)])
def test_reflect_padding_spatial_size_too_small(k, size):
    conv = Conv2d(1, 1, k, padding="reflect")
    with pytest.raises(ValueError, match=rf"spatial size {size}x{size} is too small for kernel "
                                         rf"{k} with reflect padding"):
        conv(np.zeros((1, 1, size, size), np.float32))
    # one side too small is enough
    with pytest.raises(ValueError, match="too small"):
        conv(np.zeros((1, 1, 7, size), np.float32))
    # zero padding handles the same sizes
    assert Conv2d(1, 1, k)(np.zeros((1, 1, size, size), np.float32)).shape == (1, 1, size, size)


@pytest.mark.parametrize("layer", [Conv2d(1, 1, 3), BatchNorm2d(1), ReLU(), LeakyReLU(),
                                   Sigmoid(), Upsample(2)],
                         ids=["conv", "bn", "relu", "leaky", "sigmoid", "upsample"])
def test_backward_before_forward(layer):
    with pytest.raises(ValueError, match=rf"{type(layer).__name__}.backward called before "
                                         "forward"):
        layer.backward(np.zeros((1, 1, 2, 2), np.float32))


def test_batchnorm_single_value_per_channel():
    bn = BatchNorm2d(2)
    with pytest.raises(ValueError, match="batch statistics need more than one value per "
                                         "channel"):
        bn(np.ones((1, 2, 1, 1), np.float32))
    bn.eval()  # running statistics: a single value is fine
    out = bn(np.ones((1, 2, 1, 1), np.float32))
    np.testing.assert_allclose(out, 1 / np.sqrt(1 + 1e-5), rtol=1e-6)
    bn.train()
    assert bn(np.ones((2, 2, 1, 1), np.float32)).shape == (2, 2, 1, 1)  # N=2 is enough


# ----------------------------------------------------------------------------------------------
# Module API on single layers
# ----------------------------------------------------------------------------------------------
def test_conv2d_parameters_init_and_repr():
    conv = Conv2d(3, 4, 5, stride=2, padding="reflect", rng=np.random.default_rng(0))
    names = [n for n, _ in conv.named_parameters()]
    assert names == ["weight", "bias"]
    assert conv.weight.shape == (4, 3, 5, 5) and conv.bias.shape == (4,)
    assert conv.num_parameters() == 4 * 3 * 25 + 4
    assert conv.weight.data.dtype == np.float32  # float32 by default
    bound = 1 / np.sqrt(3 * 25)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.bias.data).max() <= bound
    assert np.abs(conv.weight.data).max() > 0.5 * bound
    again = Conv2d(3, 4, 5, stride=2, padding="reflect", rng=np.random.default_rng(0))
    np.testing.assert_array_equal(conv.weight.data, again.weight.data)  # seeded: reproducible
    nob = Conv2d(3, 4, 1, bias=False)
    assert [n for n, _ in nob.named_parameters()] == ["weight"] and nob.bias is None
    assert nob.num_parameters() == 12
    assert "stride=2" in repr(conv) and "'reflect'" in repr(conv)
    p = conv.weight
    assert p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype and not p.grad.any()
    assert "Parameter(shape=(4, 3, 5, 5)" in repr(p)


def test_batchnorm_buffers_are_not_parameters():
    bn = BatchNorm2d(3, slope=0.2)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var"]
    assert bn.num_parameters() == 6
    param_ids = {id(p.data) for p in bn.parameters()}
    assert id(bn.running_mean) not in param_ids and id(bn.running_var) not in param_ids
    nob = BatchNorm2d(3, affine=False)
    assert nob.parameters() == [] and nob.num_parameters() == 0
    assert len(dict(nob.named_buffers())) == 2
    assert "fused LeakyReLU(0.2)" in repr(bn)


def test_train_eval_and_astype():
    bn = BatchNorm2d(2)
    assert bn.training
    assert bn.eval() is bn and not bn.training
    assert bn.train() is bn and bn.training
    bn.astype(F64)
    for a in (bn.weight.data, bn.weight.grad, bn.running_mean, bn.running_var):
        assert a.dtype == F64


def test_batchnorm_running_stats_update_only_in_train_mode():
    rng = np.random.default_rng(0)
    bn = BatchNorm2d(2, dtype=F64)
    x = rng.standard_normal((2, 2, 3, 3)) + 3
    bn(x)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(bn.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1),
                               rtol=1e-13)
    before = bn.state_dict()
    bn.eval()(x)
    after = bn.state_dict()
    for k in before:
        np.testing.assert_array_equal(before[k], after[k])


def test_state_dict_round_trip_single_layer():
    rng = np.random.default_rng(0)
    bn = BatchNorm2d(3, dtype=F64)
    bn(rng.standard_normal((2, 3, 4, 4)))
    state = bn.state_dict()
    assert set(state) == {"weight", "bias", "running_mean", "running_var"}
    saved_mean = state["running_mean"].copy()
    bn(rng.standard_normal((2, 3, 4, 4)) + 5)  # state is a copy: unaffected
    np.testing.assert_array_equal(state["running_mean"], saved_mean)
    fresh = BatchNorm2d(3, dtype=F64)
    fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    with pytest.raises(ValueError, match="missing entries"):
        fresh.load_state_dict({"weight": state["weight"]})
    bad = dict(state, weight=np.ones(4))
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), expected \(3,\)"):
        fresh.load_state_dict(bad)


def test_base_module_is_abstract():
    m = Module()
    with pytest.raises(NotImplementedError):
        m(np.zeros((1, 1, 1, 1)))
    with pytest.raises(NotImplementedError):
        m.backward(np.zeros((1, 1, 1, 1)))
    assert m.parameters() == [] and m.num_parameters() == 0
    assert isinstance(Parameter(np.zeros(2)).grad, np.ndarray)


# ----------------------------------------------------------------------------------------------
# PyTorch cross-checks (float64, same numbers to 1e-10)
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _t(torch, a, grad=False):
    return torch.tensor(np.array(a), dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("k, stride, padding", CONV_CASES)
def test_conv2d_matches_torch(torch, k, stride, padding, record_error):
    Fn = torch.nn.functional
    rng = np.random.default_rng(k + stride)
    conv = Conv2d(2, 3, k, stride=stride, padding=padding, rng=rng, dtype=F64)
    x = rng.standard_normal((2, 2, 5, 6))
    out = conv(x)
    g = rng.standard_normal(out.shape)
    dx = conv.backward(g)
    xt, wt, bt = _t(torch, x, True), _t(torch, conv.weight.data, True), \
        _t(torch, conv.bias.data, True)
    p = k // 2
    if padding == "reflect":
        ot = Fn.conv2d(Fn.pad(xt, (p, p, p, p), mode="reflect"), wt, bt, stride=stride)
    else:
        ot = Fn.conv2d(xt, wt, bt, stride=stride, padding=p)
    ot.backward(_t(torch, g))
    errs = {"out": rel_error(out, ot.detach().numpy()), "x": rel_error(dx, xt.grad.numpy()),
            "w": rel_error(conv.weight.grad, wt.grad.numpy()),
            "b": rel_error(conv.bias.grad, bt.grad.numpy())}
    assert record_error("torch: Conv2d", errs) < 1e-10, errs


@pytest.mark.parametrize("slope", [None, 0.2])
def test_batchnorm_matches_torch(torch, slope, record_error):
    Fn = torch.nn.functional
    rng = np.random.default_rng(7)
    bn = BatchNorm2d(3, momentum=0.1, eps=1e-5, slope=slope, dtype=F64)
    bn.weight.data[:] = rng.uniform(0.5, 1.5, 3)
    bn.bias.data[:] = rng.uniform(-0.5, 0.5, 3)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    errs = {}
    for step in range(2):  # two train steps: running statistics accumulate
        x = rng.standard_normal((2, 3, 4, 5)) * 2 + step
        bn.zero_grad()
        out = bn(x)
        g = rng.standard_normal(out.shape)
        dx = bn.backward(g)
        xt = _t(torch, x, True)
        wt, bt = _t(torch, bn.weight.data, True), _t(torch, bn.bias.data, True)
        ot = Fn.batch_norm(xt, rm, rv, wt, bt, training=True, momentum=0.1, eps=1e-5)
        if slope is not None:
            ot = Fn.leaky_relu(ot, slope)
        ot.backward(_t(torch, g))
        errs.update({f"out{step}": rel_error(out, ot.detach().numpy()),
                     f"x{step}": rel_error(dx, xt.grad.numpy()),
                     f"gamma{step}": rel_error(bn.weight.grad, wt.grad.numpy()),
                     f"beta{step}": rel_error(bn.bias.grad, bt.grad.numpy()),
                     f"rmean{step}": rel_error(bn.running_mean, rm.numpy()),
                     f"rvar{step}": rel_error(bn.running_var, rv.numpy())})
    x = rng.standard_normal((2, 3, 4, 5))
    out = bn.eval()(x)
    ot = Fn.batch_norm(_t(torch, x), rm, rv, _t(torch, bn.weight.data), _t(torch, bn.bias.data),
                       training=False, eps=1e-5)
    if slope is not None:
        ot = Fn.leaky_relu(ot, slope)
    errs["eval"] = rel_error(out, ot.numpy())
    assert record_error("torch: BatchNorm2d", errs) < 1e-10, errs


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("scale", [2, 3])
def test_upsample_matches_torch(torch, mode, scale, record_error):
    rng = np.random.default_rng(scale)
    up = Upsample(scale, mode)
    x = rng.standard_normal((2, 3, 5, 4))
    out = up(x)
    g = rng.standard_normal(out.shape)
    dx = up.backward(g)
    xt = _t(torch, x, True)
    kw = {"align_corners": False} if mode == "bilinear" else {}
    ot = torch.nn.functional.interpolate(xt, scale_factor=scale, mode=mode, **kw)
    ot.backward(_t(torch, g))
    errs = {"out": rel_error(out, ot.detach().numpy()), "x": rel_error(dx, xt.grad.numpy())}
    assert record_error(f"torch: Upsample ({mode})", errs) < 1e-10, errs


@pytest.mark.parametrize("padding", ["zeros", "reflect"])
def test_conv2d_winograd_matches_torch(torch, padding, record_error):
    Fn = torch.nn.functional
    rng = np.random.default_rng(9)
    conv = Conv2d(3, 4, 3, padding=padding, rng=rng, dtype=F64, algo="winograd")
    x = rng.standard_normal((2, 3, 7, 6))
    out = conv(x)
    g = rng.standard_normal(out.shape)
    dx = conv.backward(g)
    xt, wt = _t(torch, x, True), _t(torch, conv.weight.data, True)
    xp = Fn.pad(xt, (1, 1, 1, 1), mode="reflect" if padding == "reflect" else "constant")
    ot = Fn.conv2d(xp, wt, _t(torch, conv.bias.data))
    ot.backward(_t(torch, g))
    errs = {"out": rel_error(out, ot.detach().numpy()), "x": rel_error(dx, xt.grad.numpy()),
            "w": rel_error(conv.weight.grad, wt.grad.numpy())}
    assert record_error("torch: Conv2d (Winograd)", errs) < 1e-10, errs


# ----------------------------------------------------------------------------------------------
# keep_cols: True, False or "auto" (kept up to KEEP_MAX_BYTES)
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, stride", [(3, 1), (3, 2)])
def test_keep_cols_auto_keeps_only_small_buffers(k, stride, monkeypatch):
    rng = np.random.default_rng(0)
    conv = Conv2d(3, 4, k, stride=stride, rng=rng, dtype=F64)
    x = rng.standard_normal((1, 3, 20, 20))
    g = rng.standard_normal(conv(x).shape)
    want = [conv.backward(g)] + [p.grad.copy() for p in conv.parameters()]
    shape = conv.kept_shape(x.shape)
    assert shape is not None and conv._cols.shape == shape  # default "auto": small, kept
    nbytes = int(np.prod(shape)) * 8
    monkeypatch.setattr(Conv2d, "KEEP_MAX_BYTES", nbytes - 1)
    conv.zero_grad()
    conv(x)
    assert conv.kept_shape(x.shape) is None and conv._cols is None  # over the limit: rebuilt
    got = [conv.backward(g)] + [p.grad.copy() for p in conv.parameters()]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    conv.set_keep_cols(True)
    conv(x)
    assert conv._cols is not None  # True keeps whatever the size
    conv.set_keep_cols(False)
    assert conv._cols is None and conv.kept_shape(x.shape) is None
    with pytest.raises(ValueError, match="keep_cols must be"):
        conv.set_keep_cols("sometimes")
    with pytest.raises(ValueError, match="keep_cols must be"):
        Conv2d(3, 4, 3, keep_cols=1.5)
    assert Conv2d(3, 4, 1).kept_shape((1, 3, 8, 8)) is None  # 1x1 stride 1: nothing to keep
