"""Benchmark Conv2d forward + backward (float32, batch 1) against torch.nn.Conv2d.

    python benchmarks/bench_layers.py [--repeats 7]

GFLOP/s counts forward + both backward products: 3 x 2*C_in*C_out*k^2*H*W per iteration
(for Winograd rows an effective rate: it does 2.25x fewer multiplies). 3x3 layers are timed
twice, with algo="im2col" and algo="winograd" (what Conv2d's default "auto" picks there).
PyTorch (if importable) runs with torch.set_num_threads(numba.get_num_threads()).
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

from tinydip.nn import Conv2d

SHAPES = [(128, 3, 64), (128, 3, 128), (128, 3, 256), (128, 1, 128)]  # (channels, k, size)


def timeit(fn, repeats: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def bench_tinydip(c: int, k: int, size: int, repeats: int, algo: str) -> float:
    rng = np.random.default_rng(0)
    conv = Conv2d(c, c, k, padding="zeros", rng=rng, algo=algo)
    x = rng.standard_normal((1, c, size, size), dtype=np.float32)
    dout = rng.standard_normal((1, c, size, size), dtype=np.float32)

    def step():
        conv(x)
        conv.backward(dout)

    return timeit(step, repeats)


def bench_torch(c: int, k: int, size: int, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(numba.get_num_threads())
    conv = torch.nn.Conv2d(c, c, k, padding=k // 2)
    x = torch.randn(1, c, size, size, requires_grad=True)
    dout = torch.randn(1, c, size, size)

    def step():
        x.grad = None
        conv(x).backward(dout)

    return timeit(step, repeats)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args()
    print(f"threads: {numba.get_num_threads()}")
    print(f"{'layer':24s} {'algo':9s} {'tinydip ms':>11s} {'GFLOP/s':>8s} {'torch ms':>9s} "
          f"{'GFLOP/s':>8s} {'ratio':>6s}")
    for c, k, size in SHAPES:
        gflop = 3 * 2 * c * c * k * k * size * size / 1e9
        tt = bench_torch(c, k, size, a.repeats)
        name = f"Conv2d({c},{c},{k}) {size}x{size}"
        for algo in ("im2col", "winograd") if k == 3 else ("im2col",):
            t = bench_tinydip(c, k, size, a.repeats, algo)
            line = f"{name:24s} {algo:9s} {t * 1e3:11.1f} {gflop / t:8.1f}"
            if tt is not None:
                line += f" {tt * 1e3:9.1f} {gflop / tt:8.1f} {t / tt:6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
