"""Where the time of one fitting iteration goes, by kind of work (cProfile, grouped).

    NUMBA_NUM_THREADS=2 python benchmarks/profile_fit.py     # the default nets, 128x128
    python benchmarks/profile_fit.py --nets unet32 --sizes 128 256 --iters 20 --top 15
    python benchmarks/profile_fit.py --nets unet32 --sizes 256 --layers 12   # by layer

Nets as in bench_fit.py: unet16 / unet32 / unet128 (``denoise --quality fast`` / ``default``
/ ``paper``), decoder16 (the codec's default), decoder128.

Matrix products run in numba kernels that call the BLAS on numba's threads
(``kernels/blas.py``); small ones run as one NumPy call inside gemm.py's functions (NumPy
ufunc calls are not profiled separately): both count as "matrix products". Numba kernels
appear under their plain Python names (``_winograd_input``, ``_winograd4_input``...).
cProfile adds a little overhead per Python call; compare the total with bench_fit.py's
figure. ``--layers N`` instead times every layer's forward and backward with a clock around
each call (no profiler) and lists the N costliest: which layers a change must speed up.
Run nothing else on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fit import DEFAULT_NETS, NETS, build, make_step  # noqa: E402

# (group, substrings of "file:function" that belong to it); first match wins
GROUPS = [
    # the BLAS kernels, plus small products run as one NumPy call inside gemm.py's functions
    ("matrix products", ("kernels/blas.py", "functional/gemm.py")),
    ("Winograd transforms", ("_winograd", "winograd_filters")),
    ("im2col / col2im", ("_im2col", "_col2im")),
    ("BatchNorm (+LeakyReLU)", ("kernels/batchnorm.py",)),
    ("Adam", ("_adam_update", "optimizers.py")),
    ("upsampling", ("kernels/upsample.py",)),
    ("LeakyReLU / sigmoid", ("kernels/elementwise.py", "activations.py")),
    ("NumPy reductions and copies", ("numpy",)),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", choices=sorted(NETS), default=DEFAULT_NETS)
    p.add_argument("--sizes", type=int, nargs="+", default=[128])
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--top", type=int, default=0, help="also list the N costliest functions")
    p.add_argument("--layers", type=int, default=0, metavar="N",
                   help="time each layer instead (no profiler) and list the N costliest")
    a = p.parse_args()
    if a.layers < 0 or a.iters < 1:
        p.error("--layers must be >= 0 and --iters >= 1")
    for net in a.nets:
        for size in a.sizes:
            if a.layers:
                by_layer(net, size, a.iters, a.layers)
            else:
                profile(net, size, a.iters, a.top)


def profile(net: str, size: int, iters: int, top: int) -> None:
    """Time ``iters`` steps plainly, then under cProfile; print the time per group."""
    step = make_step(*build(net, size))

    for _ in range(3):  # warm-up: compile/load kernels, allocate buffers
        step()
    t = time.perf_counter()
    for _ in range(iters):
        step()
    plain = (time.perf_counter() - t) / iters
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(iters):
        step()
    prof.disable()

    totals: dict[str, float] = defaultdict(float)
    profiled = 0.0
    stats = pstats.Stats(prof)
    for (file, _, func), (_, _, tottime, _, _) in stats.stats.items():
        key = f"{file}:{func}"
        profiled += tottime
        group = next((g for g, keys in GROUPS if any(k in key for k in keys)), "Python (other)")
        totals[group] += tottime
    print(f"{net} {size}x{size}: {plain * 1e3:.1f} ms per iteration "
          f"({profiled / iters * 1e3:.1f} ms under cProfile)")
    for group, sec in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {group:30s} {sec / iters * 1e3:7.1f} ms  {100 * sec / profiled:5.1f}%")
    if top:
        stats.sort_stats("tottime").print_stats(top)


def leaves(module, path: str = "net"):
    """(path, module) of every module without children, depth first."""
    children = list(module.named_children())
    if not children:
        yield path, module
    for name, child in children:
        yield from leaves(child, f"{path}.{name}")


LayerRow = tuple[float, float, str, object, tuple]  # fwd s, bwd s, path, module, input shape


def layer_times(net, step, iters: int) -> tuple[float, list[LayerRow]]:
    """Seconds per ``step()`` and, per layer (a module without children), its forward and
    backward seconds per step, its path, the module and its input's shape: costliest first.
    A clock around each call, no profiler; the layers' methods are restored afterwards."""
    spent: dict[tuple[str, str], float] = defaultdict(float)
    shapes: dict[str, tuple[int, ...]] = {}

    def timed(f, key: tuple[str, str]):
        def call(x):
            if key[1] == "forward":
                shapes[key[0]] = x.shape
            t0 = time.perf_counter()
            out = f(x)
            spent[key] += time.perf_counter() - t0
            return out
        return call

    layers = list(leaves(net))
    for path, m in layers:  # instance attributes shadow the class's methods until deleted
        m.forward = timed(m.forward, (path, "forward"))
        m.backward = timed(m.backward, (path, "backward"))
    try:
        for _ in range(3):  # warm-up
            step()
        spent.clear()
        t = time.perf_counter()
        for _ in range(iters):
            step()
        total = (time.perf_counter() - t) / iters
    finally:
        for _, m in layers:
            del m.forward, m.backward
    rows = [(spent[p, "forward"] / iters, spent[p, "backward"] / iters, p, m, shapes.get(p, ()))
            for p, m in layers]
    return total, sorted(rows, key=lambda r: -(r[0] + r[1]))


def by_layer(net_name: str, size: int, iters: int, top: int) -> None:
    """Print the ``top`` costliest layers of ``iters`` steps and what the layers add up to."""
    net, z, target = build(net_name, size)
    total, rows = layer_times(net, make_step(net, z, target), iters)
    in_layers = sum(f + b for f, b, *_ in rows)
    print(f"{net_name} {size}x{size}: {total * 1e3:.1f} ms per iteration, "
          f"{in_layers * 1e3:.1f} ms in the layers' forward and backward")
    print(f"  {'fwd ms':>8s} {'bwd ms':>8s} {'share':>6s}  layer, on its input (C x H x W)")
    for f, b, path, m, shape in rows[:top]:
        on = "x".join(map(str, shape[1:]))
        print(f"  {f * 1e3:8.2f} {b * 1e3:8.2f} {100 * (f + b) / total:5.1f}%  {path} "
              f"{type(m).__name__}({m.extra_repr()}) on {on}")


if __name__ == "__main__":
    main()
