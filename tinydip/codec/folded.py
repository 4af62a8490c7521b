"""The Deep Decoder with its BatchNorms folded into per-channel affine maps.

A fitted Deep Decoder produces its image in train mode: every BatchNorm normalises with the
statistics of the one batch it sees (the fixed input z). Those statistics are constants of
the fitted network, so each BN is an affine map per channel,

    BN(x) = gamma * (x - mean) / sqrt(var + eps) + beta = s * x + t,
    s = gamma / sqrt(var + eps),   t = beta - mean * s,

and the decoder becomes a fixed feed-forward computation without batch statistics:

    repeat d-1 times:  1x1 conv W_i (k->k) -> Upsample x2 -> ReLU -> s_i * x + t_i
    then:              1x1 conv W_{d-1} (k->k) -> ReLU -> s_{d-1} * x + t_{d-1}
    finally:           1x1 conv W_d (k->c) -> sigmoid

(ReLU comes BEFORE the BN in the Deep Decoder.) The stored tensors are named ``w0 .. wd``
(conv weights as (out, in) matrices), ``s0 .. s{d-1}`` and ``t0 .. t{d-1}``: exactly
d*k^2 + 2*d*k + k*c numbers, the parameter count of the unfolded network.
"""

from __future__ import annotations

import math

import numpy as np

from ..functional import batchnorm_backward, batchnorm_forward
from ..models import Prior, deep_decoder, uniform_input
from ..nn import BatchNorm2d, Conv2d, Module, Parameter, Sequential
from ..nn.module import check_input

ARCH_KEYS = ("k", "layers", "out_channels", "upsample_mode", "input_scale")
"""Keys of the architecture dict stored in a ``.tdd`` header."""


class ChannelAffine(Module):
    """out = scale[c] * x + shift[c] per channel: a BatchNorm with frozen statistics, folded.

    Runs on the BatchNorm kernels with mean 0 and inverse std 1, which then compute exactly
    ``x * scale + shift`` in float32 (the same arithmetic as the train-mode BatchNorm).

    Notes
    -----
    Backward, with g = dL/dout summed over (N, H, W) per channel:
    dscale = sum(g * x), dshift = sum(g), dx = scale * g.
    """

    def __init__(self, num_features: int, dtype=np.float32):
        self.num_features = num_features
        self.scale = Parameter(np.ones(num_features, dtype=dtype))
        self.shift = Parameter(np.zeros(num_features, dtype=dtype))
        self._zeros = np.zeros(num_features, dtype=dtype)
        self._ones = np.ones(num_features, dtype=dtype)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input("ChannelAffine", x, self.num_features, self.scale.data.dtype)
        out, self._cache = batchnorm_forward(x, self.scale.data, self.shift.data, self._zeros,
                                             self._ones, train=False, eps=0.0)
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx, dscale, dshift = batchnorm_backward(np.ascontiguousarray(dout),
                                                self._need_cache(self._cache))
        self.scale.grad += dscale
        self.shift.grad += dshift
        return dx

    def extra_repr(self) -> str:
        return f"{self.num_features}"


def check_architecture(arch: dict) -> dict:
    """Validate an architecture dict (see :data:`ARCH_KEYS`); return a normalised copy."""
    if not isinstance(arch, dict):
        raise ValueError(f"architecture must be a dict, got {type(arch).__name__}")
    missing = [key for key in ARCH_KEYS if key not in arch]
    if missing:
        raise ValueError(f"architecture is missing {missing}")
    out = {key: arch[key] for key in ARCH_KEYS}
    for key in ("k", "layers", "out_channels"):
        v = out[key]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 4096:
            raise ValueError(f"architecture: {key} must be an integer in 1..4096, got {v!r}")
    if out["layers"] > 12:
        raise ValueError(f"architecture: layers must be at most 12, got {out['layers']}")
    if out["upsample_mode"] not in ("bilinear", "nearest"):
        raise ValueError(f"architecture: unknown upsample_mode {out['upsample_mode']!r}")
    s = out["input_scale"]
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 < s < 1e6:
        raise ValueError(f"architecture: input_scale must be a positive number, got {s!r}")
    return out


def tensor_shapes(arch: dict) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the stored tensors, in file order (w0, s0, t0, w1, ..., wd)."""
    k, d, c = arch["k"], arch["layers"], arch["out_channels"]
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(d):
        shapes[f"w{i}"] = (k, k)
        shapes[f"s{i}"] = (k,)
        shapes[f"t{i}"] = (k,)
    shapes[f"w{d}"] = (c, k)
    return shapes


def padded_size(height: int, width: int, layers: int) -> tuple[int, int]:
    """Output size the decoder generates before cropping: each side rounded up to 2^(d-1)."""
    m = 2 ** (layers - 1)
    return -(-height // m) * m, -(-width // m) * m


def decode_memory(arch: dict, height: int, width: int, raw_bytes: int = 0) -> int:
    """Bytes that decoding needs at the peak (see :func:`decode_image`).

    Notes
    -----
    Measured with ``tracemalloc`` at k = 32..128, 5-6 layers, 256-512 px: the layers' maps
    take 28.5-30 bytes per channel and generated pixel, so

        30 k H' W' + 16 c H' W' + 8 n_weights + raw_bytes

    with (H', W') = :func:`padded_size`, the last terms for the output, two float32 copies
    of the weights, and the decompressed payload.
    """
    hp, wp = padded_size(height, width, arch["layers"])
    n_weights = sum(math.prod(s) for s in tensor_shapes(arch).values())
    return (30 * arch["k"] * hp * wp + 16 * arch["out_channels"] * hp * wp + 8 * n_weights
            + raw_bytes)


def decoder_input(arch: dict, height: int, width: int, seed: int) -> np.ndarray:
    """The fixed input z ~ U(0, input_scale), regenerated from ``seed`` (never stored).

    Shape (1, k, H' / 2^(d-1), W' / 2^(d-1)) with (H', W') = :func:`padded_size`. Drawn as
    ``np.random.default_rng(seed).random(shape, dtype=float32) * float32(input_scale)``.
    """
    m = 2 ** (arch["layers"] - 1)
    hp, wp = padded_size(height, width, arch["layers"])
    return uniform_input((1, arch["k"], hp // m, wp // m), arch["input_scale"],
                         np.random.default_rng(seed))


def folded_network(arch: dict) -> Prior:
    """The BN-free decoder: :func:`~tinydip.models.deep_decoder` with every BatchNorm replaced
    by a :class:`ChannelAffine` (parameters set by :func:`load_folded`)."""
    rng = np.random.default_rng(0)  # placeholder values, always overwritten
    return deep_decoder(arch["k"], arch["layers"], arch["out_channels"], arch["upsample_mode"],
                        rng=rng, norm=ChannelAffine)


def folded_parameters(net: Sequential) -> dict[str, Parameter]:
    """The stored-tensor name of every parameter of a :func:`folded_network`."""
    convs = [m for m in net.layers if isinstance(m, Conv2d)]
    affines = [m for m in net.layers if isinstance(m, ChannelAffine)]
    out: dict[str, Parameter] = {}
    for i, conv in enumerate(convs):
        out[f"w{i}"] = conv.weight
        if i < len(affines):
            out[f"s{i}"] = affines[i].scale
            out[f"t{i}"] = affines[i].shift
    return out


def load_folded(net: Sequential, tensors: dict[str, np.ndarray]) -> None:
    """Copy stored tensors (2-D conv matrices, 1-D scale/shift) into a folded network."""
    for name, p in folded_parameters(net).items():
        p.data[...] = np.asarray(tensors[name], dtype=np.float32).reshape(p.data.shape)


def decode_image(arch: dict, tensors: dict[str, np.ndarray], height: int, width: int,
                 seed: int) -> np.ndarray:
    """Run the folded decoder: (1, c, height, width) float32 in (0, 1)."""
    net = folded_network(arch)
    load_folded(net, tensors)
    z = decoder_input(arch, height, width, seed)
    return np.ascontiguousarray(net(z)[:, :, :height, :width])


def fold_batchnorm(net: Sequential, z: np.ndarray) -> dict[str, np.ndarray]:
    """Fold a (fitted) ``deep_decoder`` at input z into the stored tensors of the BN-free form.

    Runs one train-mode forward on ``z`` and turns every BatchNorm's batch statistics and
    affine parameters into ``s = gamma * invstd`` and ``t = beta - mean * s`` (float32, the
    same arithmetic as the BatchNorm kernel, so the folded network reproduces the train-mode
    output up to float rounding). The running statistics are left unchanged.
    """
    bns = [m for m in net.layers if isinstance(m, BatchNorm2d)]
    convs = [m for m in net.layers if isinstance(m, Conv2d)]
    saved = [(bn.running_mean.copy(), bn.running_var.copy()) for bn in bns]
    was_training = net.training
    net.train()
    net(z.astype(np.float32, copy=False))
    net.train(was_training)
    tensors: dict[str, np.ndarray] = {}
    for i, conv in enumerate(convs):
        tensors[f"w{i}"] = conv.weight.data[:, :, 0, 0].copy()
        if i < len(bns):
            bn = bns[i]
            tensors[f"s{i}"], tensors[f"t{i}"] = bn.folded_affine()
            bn.running_mean[...], bn.running_var[...] = saved[i]
    return tensors


def build_decoder(arch: dict, seed: int) -> Sequential:
    """A freshly initialised ``deep_decoder`` for ``arch`` (weights drawn from ``seed``)."""
    return deep_decoder(k=arch["k"], layers=arch["layers"], out_channels=arch["out_channels"],
                        upsample_mode=arch["upsample_mode"],
                        rng=np.random.default_rng([seed, 1]))
