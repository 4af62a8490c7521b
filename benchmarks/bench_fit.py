"""Benchmark one full fitting iteration (forward, loss, backward, Adam step) vs PyTorch.

    python benchmarks/bench_fit.py                 # U-Net and Deep Decoder at 64, 128, 256
    python benchmarks/bench_fit.py --large         # ... and 512
    python benchmarks/bench_fit.py --json out.json --repeats 7
    python benchmarks/bench_fit.py --algo im2col   # Winograd off: every conv as im2col + GEMM
    python benchmarks/bench_fit.py --lean          # convolutions rebuild their buffers in backward

Each (framework, network, size) runs in its own subprocess, so peak resident memory is that
configuration's own and runs cannot disturb each other. PyTorch is timed only if importable,
with torch.set_num_threads(numba.get_num_threads()). Run nothing else on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def build(net_name: str, size: int, algo: str = "auto"):
    """The network, z and a target; ``algo`` is Conv2d's algo, with ":lean" appended for
    tinydip's lean mode (:func:`tinydip.fitting.memory.set_lean`)."""
    import numpy as np

    from tinydip.fitting.memory import set_lean
    from tinydip.models import deep_decoder, skip_unet, unet_config
    from tinydip.nn import Conv2d

    algo, _, mode = algo.partition(":")

    rng = np.random.default_rng(0)
    if net_name == "unet":  # the paper's denoising U-Net: 32 in, 128 x 5, 4-ch skips, 3x3
        net = skip_unet(unet_config("skip5-128"), rng=rng)
    else:  # Deep Decoder k=128, 6 layers
        net = deep_decoder(128, 6, rng=rng)
    for m in net.modules():
        if isinstance(m, Conv2d):
            m.algo = algo
    set_lean(net, mode == "lean")
    z = rng.uniform(0, 0.1, net.input_shape((size, size))).astype(np.float32)
    target = rng.uniform(0, 1, (1, 3, size, size)).astype(np.float32)
    return net, z, target


def make_step(net, z, target):
    """One tinydip fitting iteration (forward, MSE, backward, Adam step) as a closure: the
    library's own :func:`tinydip.fitting.fit.fit_step`, as ``fit`` runs it."""
    import numpy as np

    from tinydip.fitting.fit import fit_step
    from tinydip.optim import Adam

    opt = Adam(net.parameters(), lr=0.01)

    def step():
        out = fit_step(net, opt, z, target).output
        assert out.dtype == np.float32

    return step


def run_one(framework: str, net_name: str, size: int, repeats: int, algo: str) -> dict:
    """Time one configuration in this process; returns a dict of figures."""
    t_import = time.perf_counter()
    import numba
    import numpy as np

    import tinydip  # noqa: F401

    sys.path.insert(0, str(HERE))
    from flops import conv_flops

    net, z, target = build(net_name, size, algo)
    _, gflop = conv_flops(net, z)
    threads = numba.get_num_threads()
    if framework == "tinydip":
        step = make_step(net, z, target)
    else:
        import torch
        from torch_models import torch_mirror

        torch.set_num_threads(threads)
        tnet = torch_mirror(net)
        tz, tt = torch.from_numpy(z), torch.from_numpy(target)
        topt = torch.optim.Adam(tnet.parameters(), lr=0.01)
        del net

        def step():
            topt.zero_grad(set_to_none=False)
            loss = torch.nn.functional.mse_loss(tnet(tz), tt)
            loss.backward()
            topt.step()

    step()
    first = time.perf_counter() - t_import
    step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    sec = float(np.median(times))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"framework": framework, "net": net_name, "size": size, "threads": threads,
            "s_per_iter": sec, "s_min": float(min(times)), "gflop_per_iter": gflop,
            "gflops": gflop / sec, "peak_rss_mb": rss_mb, "import_to_first_iter_s": first}


def spawn(args: list[str], env=None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    p.add_argument("--large", action="store_true", help="add 512x512")
    p.add_argument("--nets", nargs="+", default=["unet", "decoder"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--algo", choices=["auto", "im2col"], default="auto",
                   help="tinydip's convolution algorithm (auto: Winograd for 3x3 stride-1 "
                        "layers of >= 16x16, as in normal use; im2col: Winograd off)")
    p.add_argument("--lean", action="store_true",
                   help="tinydip in lean mode: every convolution rebuilds its im2col matrix / "
                        "Winograd tiles in backward instead of keeping them (less memory)")
    p.add_argument("--no-cold-start", action="store_true",
                   help="skip the cold-start measurement at the end")
    p.add_argument("--one", nargs=5, metavar=("FRAMEWORK", "NET", "SIZE", "REPEATS", "ALGO"),
                   help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        fw, net, size, rep, algo = a.one
        print(json.dumps(run_one(fw, net, int(size), int(rep), algo)))
        return
    try:
        import torch  # noqa: F401
        have_torch = not a.no_torch
    except ImportError:
        have_torch = False
    sizes = a.sizes + ([512] if a.large else [])
    algo = a.algo + (":lean" if a.lean else "")
    rows = []
    print(f"{'net':8s} {'size':>5s} {'GFLOP/it':>9s} {'tinydip s/it':>13s} {'GFLOP/s':>8s} "
          f"{'MB':>6s} {'torch s/it':>11s} {'GFLOP/s':>8s} {'MB':>6s} {'ratio':>6s}")
    for net in a.nets:
        for size in sizes:
            reps = str(a.repeats if size < 512 else max(3, a.repeats // 2))
            r = spawn(["tinydip", net, str(size), reps, algo])
            t = spawn(["torch", net, str(size), reps, algo]) if have_torch else None
            row = {"tinydip": r, "torch": t,
                   "ratio": r["s_per_iter"] / t["s_per_iter"] if t else None}
            rows.append(row)
            line = (f"{net:8s} {size:5d} {r['gflop_per_iter']:9.2f} {r['s_per_iter']:13.4f} "
                    f"{r['gflops']:8.1f} {r['peak_rss_mb']:6.0f}")
            if t:
                line += (f" {t['s_per_iter']:11.4f} {t['gflops']:8.1f} {t['peak_rss_mb']:6.0f} "
                         f"{row['ratio']:6.2f}")
            print(line, flush=True)
    # cold start: import tinydip -> end of first iteration, warm and cold numba cache
    print("GFLOP/it counts every convolution as a direct product (forward, dx, dw); with "
          "Winograd\ntinydip does fewer multiplies, so its GFLOP/s is an effective rate.")
    warm = cold = None
    if not a.no_cold_start:
        warm = spawn(["tinydip", "unet", "64", "1", algo])["import_to_first_iter_s"]
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache}
            cold = spawn(["tinydip", "unet", "64", "1", algo], env)["import_to_first_iter_s"]
        print(f"cold start (import tinydip -> end of first U-Net iteration at 64x64): "
              f"warm numba cache {warm:.2f} s, cold cache {cold:.2f} s")
    if a.json:
        Path(a.json).write_text(json.dumps({"algo": algo, "rows": rows,
                                            "cold_start_warm_cache_s": warm,
                                            "cold_start_cold_cache_s": cold}, indent=1))


if __name__ == "__main__":
    main()
