"""Tests for tinydip.codec.folded: BatchNorm folding, the BN-free decoder, the stored layout."""

import numpy as np
import pytest

from tinydip.codec.folded import (
    ChannelAffine,
    build_decoder,
    check_architecture,
    decode_image,
    decoder_input,
    fold_batchnorm,
    folded_network,
    folded_parameters,
    padded_size,
    tensor_shapes,
)
from tinydip.gradcheck import check_module
from tinydip.models import decoder_num_parameters, deep_decoder
from tinydip.nn import BatchNorm2d


def arch(k=8, layers=4, c=3, mode="bilinear"):
    return {"k": k, "layers": layers, "out_channels": c, "upsample_mode": mode,
            "input_scale": 0.1}


def randomise_bn(net, seed=0):
    rng = np.random.default_rng(seed)
    for bn in (m for m in net.layers if isinstance(m, BatchNorm2d)):
        bn.weight.data[:] = rng.normal(1.0, 0.4, bn.num_features)
        bn.bias.data[:] = rng.normal(0.0, 0.4, bn.num_features)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(32, 32), (37, 45)])
def test_folding_equals_train_mode_forward(mode, size):
    a = arch(mode=mode)
    net = build_decoder(a, seed=1)
    randomise_bn(net)
    H, W = size
    z = decoder_input(a, H, W, seed=3)
    ref = net.train()(z)[:, :, :H, :W]
    tensors = fold_batchnorm(net, z)
    out = decode_image(a, tensors, H, W, seed=3)
    assert out.shape == (1, 3, H, W) and out.dtype == np.float32
    assert np.abs(out - ref).max() <= 1e-5


def test_folding_leaves_network_untouched():
    a = arch()
    net = build_decoder(a, seed=0)
    bn = next(m for m in net.layers if isinstance(m, BatchNorm2d))
    before = net.state_dict()
    net.eval()
    fold_batchnorm(net, decoder_input(a, 32, 32, 0))
    assert not net.training  # mode restored
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert np.array_equal(bn.running_var, before[[k for k in before if "running_var" in k][0]])


def test_fold_formula():
    a = arch(k=4, layers=2)
    net = build_decoder(a, seed=0)
    randomise_bn(net, 5)
    z = decoder_input(a, 16, 16, 0)
    t = fold_batchnorm(net, z)
    # recompute the first BN's input by hand: conv -> upsample -> relu
    h = net.layers[2](net.layers[1](net.layers[0](z)))
    mean, var = h.mean(axis=(0, 2, 3)), h.var(axis=(0, 2, 3))
    bn = net.layers[3]
    s = bn.weight.data / np.sqrt(var + bn.eps)
    np.testing.assert_allclose(t["s0"], s, rtol=1e-4)
    np.testing.assert_allclose(t["t0"], bn.bias.data - mean * s, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("k", [16, 32, 64, 128])
@pytest.mark.parametrize("c", [1, 3])
def test_parameter_count_formula(k, c):
    n = 6 * k * k + 12 * k + k * c
    assert decoder_num_parameters(k, 6, c) == n
    assert deep_decoder(k=k, out_channels=c, rng=np.random.default_rng(0)).num_parameters() == n
    stored = sum(int(np.prod(s)) for s in tensor_shapes(arch(k=k, layers=6, c=c)).values())
    assert stored == n
    assert sum(p.data.size for p in folded_parameters(
        folded_network(arch(k=k, layers=6, c=c))).values()) == n


def test_tensor_order_and_shapes():
    shapes = tensor_shapes(arch(k=8, layers=3, c=1))
    assert list(shapes) == ["w0", "s0", "t0", "w1", "s1", "t1", "w2", "s2", "t2", "w3"]
    assert shapes["w0"] == (8, 8) and shapes["s2"] == (8,) and shapes["w3"] == (1, 8)


def test_decoder_input_is_regenerated_from_seed():
    a = arch(layers=4)
    z1, z2 = decoder_input(a, 37, 45, 7), decoder_input(a, 37, 45, 7)
    assert z1.shape == (1, 8, 5, 6) and z1.dtype == np.float32
    assert np.array_equal(z1, z2)
    assert not np.array_equal(z1, decoder_input(a, 37, 45, 8))
    assert 0 <= z1.min() and z1.max() < 0.1
    assert padded_size(37, 45, 4) == (40, 48) and padded_size(32, 32, 4) == (32, 32)


def test_channel_affine_gradients(numba_one_thread):
    m = ChannelAffine(3).astype(np.float64)
    rng = np.random.default_rng(0)
    m.scale.data[:] = rng.normal(size=3)
    m.shift.data[:] = rng.normal(size=3)
    errors = check_module(m, rng.normal(size=(2, 3, 4, 5)))
    assert max(errors.values()) < 1e-7


@pytest.mark.parametrize("bad", [{"k": 0}, {"layers": 20}, {"upsample_mode": "cubic"},
                                 {"input_scale": -1}, {"k": 2.5}, {"out_channels": True}])
def test_check_architecture_rejects(bad):
    with pytest.raises(ValueError):
        check_architecture({**arch(), **bad})
    with pytest.raises(ValueError, match="missing"):
        check_architecture({"k": 8})
