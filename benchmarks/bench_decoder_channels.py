"""Deep Decoder shapes at a fixed weight budget: which channels per layer fit best (issue 15).

    python benchmarks/bench_decoder_channels.py eq24 24,24,24,24,24,24,24
    python benchmarks/bench_decoder_channels.py up 16,16,20,24,28,32,32 --size 256

CHANNELS lists z's channels, then each layer's output channels (so 7 numbers = 6 layers);
``tinydip.models.deep_decoder(k, layers)`` is the case of all numbers equal. The decoder is
fitted to the built-in sample exactly as the codec fits it (``codec.fitting.fit_decoder``:
Adam, lr 0.02 with cosine decay, 3000 steps, best-loss weights) and one JSON line is
printed: weights, the float network's PSNR (from its best training loss, no quantisation)
and seconds. The codec's file format stores equal widths only; this measures whether
unequal ones would pay before changing it.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from tinydip.codec.fitting import fit_decoder
from tinydip.io.images import sample_image, to_tensor
from tinydip.models.prior import Prior
from tinydip.nn import BatchNorm2d, Conv2d, ReLU, Sigmoid, Upsample


def decoder(channels: list[int], seed: int = 0) -> Prior:
    """A Deep Decoder whose layer i maps channels[i] -> channels[i + 1] (1x1 conv, no bias),
    upsamples x2 (all but the last layer), ReLU, BatchNorm; then 1x1 conv to RGB, sigmoid."""
    rng = np.random.default_rng(seed)
    layers = len(channels) - 1
    m = 2 ** (layers - 1)
    net = Prior(in_channels=channels[0], downsampling=m, z_stride=m, min_size=m,
                config={"channels": list(channels)})
    for i in range(layers):
        net.add(Conv2d(channels[i], channels[i + 1], 1, bias=False, rng=rng))
        if i < layers - 1:
            net.add(Upsample(2, "bilinear"))
        net.add(ReLU())
        net.add(BatchNorm2d(channels[i + 1]))
    net.add(Conv2d(channels[-1], 3, 1, bias=False, rng=rng))
    net.add(Sigmoid())
    return net


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("channels", help="z's channels, then each layer's, comma-separated")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=3000)
    args = ap.parse_args(argv)
    try:
        channels = [int(c) for c in args.channels.split(",")]
    except ValueError:
        ap.error(f"CHANNELS must be comma-separated integers, got {args.channels!r}")
    if len(channels) < 2 or min(channels) < 1:
        ap.error("CHANNELS needs at least two positive numbers")
    net = decoder(channels)
    m = 2 ** (len(channels) - 2)
    target = to_tensor(sample_image(args.size))  # (1, 3, size, size)
    z = np.random.default_rng(0).random((1, channels[0], args.size // m, args.size // m),
                                        dtype=np.float32) * np.float32(0.1)
    t0 = time.perf_counter()
    res = fit_decoder(net, target, z, iters=args.iters, lr=0.02, schedule="cosine",
                      final_lr=0.01, progress=False)
    print(json.dumps({"name": args.name, "channels": channels,
                      "weights": int(sum(p.data.size for p in net.parameters())),
                      "psnr_float": round(-10 * math.log10(res.best_loss), 3),
                      "seconds": round(time.perf_counter() - t0)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
