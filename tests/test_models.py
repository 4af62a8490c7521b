"""Models: the DIP skip U-Net and the Deep Decoder (structure, counts, sizes, gradients)."""

from __future__ import annotations

import numpy as np
import pytest

from tinydip import nn
from tinydip.gradcheck import check_module, check_vjp
from tinydip.models import (
    PRESETS,
    check_size,
    decoder_num_parameters,
    deep_decoder,
    skip_unet,
    unet_config,
)

TINY = dict(in_channels=3, channels_down=(4, 5), channels_up=(4, 6), channels_skip=(2, 0))


def unet_param_formula(cfg) -> int:
    """Closed form of the skip network's parameter count, written independently of the code."""
    down, up, skip = list(cfg.channels_down), list(cfg.channels_up), list(cfg.channels_skip)
    k, L, total, depth = 3, len(down), 0, cfg.in_channels

    def conv(cin, cout, ks):
        return cout * cin * ks * ks + cout  # weights + bias

    for i in range(L):
        total += conv(depth, down[i], k) + 2 * down[i]  # strided conv + BN
        total += conv(down[i], down[i], k) + 2 * down[i]
        if skip[i]:
            total += conv(depth, skip[i], 1) + 2 * skip[i]
        deeper_out = down[i] if i == L - 1 else up[i + 1]
        if cfg.bn_after_concat:
            total += 2 * (skip[i] + deeper_out)
        total += conv(skip[i] + deeper_out, up[i], k) + 2 * up[i]
        total += conv(up[i], up[i], 1) + 2 * up[i]
        depth = down[i]
    return total + conv(up[0], cfg.out_channels, 1)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_unet_parameter_count_matches_formula(preset):
    cfg = unet_config(preset)
    net = skip_unet(cfg, rng=np.random.default_rng(0))
    assert net.num_parameters() == unet_param_formula(cfg)


def test_paper_denoising_unet_size():
    # 32 input channels, 128 x 5, 4-channel skips: ~2.2 M parameters (as in the DIP code)
    net = skip_unet(unet_config("skip5-128"), rng=np.random.default_rng(0))
    assert net.num_parameters() == 2_217_831
    assert net.downsampling == 32 and net.min_size == 64


def test_zero_padding_preset_still_needs_2x2_coarsest_maps():
    """The 'notebook' preset (zero padding) at its minimum size fits; below it BN would fail."""
    from tinydip.fitting.fit import fit

    net = skip_unet(unet_config("notebook", channels_down=(8,) * 5, channels_up=(8,) * 5,
                                channels_skip=(0, 2, 2, 2, 2)), rng=np.random.default_rng(0))
    assert net.min_size == 64
    obs = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    res = fit(net, obs, iters=2, progress=False)  # a 32 px image is generated at 64 and cropped
    assert res.output.shape == (1, 3, 32, 32) and np.isfinite(res.best_loss)


def test_presets_differ_as_documented():
    assert unet_config("skip5-128-wide-nearest").upsample_mode == "nearest"
    assert tuple(unet_config("skip5-128-wide-nearest").channels_skip) == (128,) * 5
    nb = unet_config("notebook")
    assert nb.padding == "zeros" and not nb.bn_after_concat and tuple(nb.channels_skip)[0] == 0
    with pytest.raises(ValueError, match="unknown U-Net preset"):
        unet_config("nope")


@pytest.mark.parametrize("k,expected", [(64, 25_536), (128, 100_224)])
def test_decoder_parameter_count_is_the_papers(k, expected):
    net = deep_decoder(k, 6, 3, rng=np.random.default_rng(0))
    assert net.num_parameters() == expected == 6 * k * k + 12 * k + k * 3
    assert decoder_num_parameters(k) == expected


def test_unet_shapes_and_range():
    net = skip_unet(rng=np.random.default_rng(0), **TINY)
    z = np.random.default_rng(1).uniform(0, 0.1, (1, 3, 16, 12)).astype(np.float32)
    out = net(z)
    assert out.shape == (1, 3, 16, 12) and out.dtype == np.float32
    assert 0 < out.min() and out.max() < 1


def test_decoder_shapes():
    net = deep_decoder(8, 4, 1, rng=np.random.default_rng(0))
    z = np.random.default_rng(1).uniform(0, 0.1, (1, 8, 3, 5)).astype(np.float32)
    out = net(z)
    assert out.shape == (1, 1, 24, 40) and out.dtype == np.float32
    assert net.z_stride == 8


def test_check_size_message_lists_working_sizes():
    net = skip_unet(rng=np.random.default_rng(0))
    check_size(net, 64, 96)
    with pytest.raises(ValueError, match="multiples of 32"):
        check_size(net, 100, 64)


def test_per_level_settings_validated():
    with pytest.raises(ValueError, match="channels_skip has 5 entries for 2 levels"):
        skip_unet(channels_down=(4, 4), channels_up=(4, 4))


def test_seed_makes_init_reproducible():
    a = skip_unet(rng=np.random.default_rng(3), **TINY).state_dict()
    b = skip_unet(rng=np.random.default_rng(3), **TINY).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("padding,mode", [("reflect", "bilinear"), ("zeros", "nearest")])
def test_tiny_unet_gradients(padding, mode, numba_one_thread):
    net = skip_unet(rng=np.random.default_rng(0), padding=padding, upsample_mode=mode,
                    **TINY).astype(np.float64)
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 8, 8))
    errors = check_module(net, x, scale="global")
    assert max(errors.values()) < 1e-5, errors
    assert check_vjp(net, x) < 1e-6



def test_unet_conv_algo_choice(numba_one_thread):
    """conv_algo reaches every eligible Conv2d; all three give the same network function."""
    def algos(net):
        return {(m.kernel_size, m.stride, m.algo) for m in net.modules()
                if isinstance(m, nn.Conv2d)}

    nets = {a: skip_unet(rng=np.random.default_rng(0), conv_algo=a, **TINY).astype(np.float64)
            for a in ("auto", "im2col", "winograd")}
    assert {a for *_, a in algos(nets["im2col"])} == {"im2col"}
    assert {(k, s) for k, s, a in algos(nets["winograd"]) if a == "winograd"} == {(3, 1)}
    assert {a for *_, a in algos(nets["auto"])} == {"auto"}
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 8, 8))
    outs = {a: net(x) for a, net in nets.items()}
    for a in ("im2col", "winograd"):
        np.testing.assert_allclose(outs[a], outs["auto"], rtol=1e-12, atol=1e-12)
    assert check_vjp(nets["winograd"], x) < 1e-6
    with pytest.raises(ValueError, match="conv_algo must be one of"):
        skip_unet(conv_algo="fft", **TINY)

def test_decoder_gradients(numba_one_thread):
    net = deep_decoder(3, 3, 2, rng=np.random.default_rng(0)).astype(np.float64)
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 2, 3))
    errors = check_module(net, x, scale="global")
    assert max(errors.values()) < 1e-5, errors


def test_unet_matches_pytorch():
    torch = pytest.importorskip("torch")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from torch_models import torch_mirror

    net = skip_unet(rng=np.random.default_rng(0), **TINY).astype(np.float64)
    tnet = torch_mirror(net)
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 16, 16))
    dout = np.random.default_rng(2).standard_normal((1, 3, 16, 16))
    out = net(x)
    net.zero_grad()
    dx = net.backward(dout)
    tx = torch.from_numpy(x).requires_grad_(True)
    tout = tnet(tx)
    tout.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=0, atol=1e-12)
    ours = [p.grad for p in net.parameters()]
    theirs = [p.grad.numpy() for p in tnet.parameters()]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_modules_are_tinydip_layers():
    net = skip_unet(rng=np.random.default_rng(0), **TINY)
    kinds = {type(m).__name__ for m in net.modules()}
    assert {"Concat", "Conv2d", "BatchNorm2d", "Upsample", "Sigmoid"} <= kinds
    assert isinstance(net, nn.Sequential)
