"""One full fitting iteration (forward, MSE, backward, Adam) of the default nets vs PyTorch.

    NUMBA_NUM_THREADS=2 python benchmarks/bench_fit.py            # the default nets, 128 + 256
    python benchmarks/bench_fit.py --nets unet32 --sizes 128 --base /tmp/base   # + an old tree
    python benchmarks/bench_fit.py --nets unet128 decoder128 --sizes 64 128 256 512  # the paper's

Nets (``--nets``): ``unet16`` / ``unet32`` / ``unet128`` are the skip U-Nets of ``denoise
--quality fast`` / ``default`` / ``paper`` (tinydip/tasks/quality.py); ``decoder16`` is the
codec's Deep Decoder (k = 16, the layers ``codec.deepdecoder.fitting_layers`` gives: 6 at
128 and 256), ``decoder128`` the k = 128 decoder of the earlier tables. ``unet`` and
``decoder`` are kept as the old names of ``unet128`` and ``decoder128``.

Each framework runs in its own worker process (its peak RSS is its own); the workers are
timed INTERLEAVED, round by round (tinydip, [base,] PyTorch, a large GEMM; repeat), so a
change in the machine's load hits all of them alike: s/it is the median over rounds of the
median of ``--steps`` steps. FLOPs are counted once per net, by PyTorch's FlopCounterMode on
the mirror (convolutions, forward + backward; the analytic count of benchmarks/flops.py if
PyTorch is missing); tinydip's Winograd layers do fewer multiplies, so its GFLOP/s is an
effective rate. The GEMM peak is tinydip's own ``gemm`` (the pool) on a 1024x2048 @
2048x2048 float32 product, timed in the same rounds (best of them). Peak MB: every
worker's peak RSS; for tinydip also the tracemalloc peak of building the net and two steps
(NumPy's buffers, not the interpreter or numba). ``/proc/loadavg`` is recorded per net.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NETS = {"unet16": ("unet", 16), "unet32": ("unet", 32), "unet128": ("unet", 128),
        "decoder16": ("decoder", 16), "decoder128": ("decoder", 128),
        "unet": ("unet", 128), "decoder": ("decoder", 128)}
DEFAULT_NETS = ["unet16", "unet32", "unet128", "decoder16"]


def build(net_name: str, size: int, algo: str = "auto"):
    """The network, z and a target; ``algo`` is Conv2d's algo, with ":lean" appended for
    tinydip's lean mode (:func:`tinydip.fitting.memory.set_lean`)."""
    import numpy as np

    from tinydip.fitting.memory import set_lean
    from tinydip.models import deep_decoder, skip_unet, unet_config
    from tinydip.nn import Conv2d

    algo, _, mode = algo.partition(":")
    kind, width = NETS[net_name]
    rng = np.random.default_rng(0)
    if kind == "unet":  # the denoising U-Net: 32 in, width x 5, 4-ch skips, 3x3, reflect
        net = skip_unet(unet_config("skip5-128", channels_down=(width,) * 5,
                                    channels_up=(width,) * 5), rng=rng)
    else:  # the Deep Decoder with the codec's layer count for this size
        net = deep_decoder(width, _codec_layers(size), rng=rng)
    for m in net.modules():
        if isinstance(m, Conv2d):
            m.algo = algo
    set_lean(net, mode == "lean")
    z = rng.uniform(0, 0.1, net.input_shape((size, size))).astype(np.float32)
    target = rng.uniform(0, 1, (1, 3, size, size)).astype(np.float32)
    return net, z, target


def _codec_layers(size: int) -> int:
    """The codec's default ``--layers`` for a size x size image (``fitting_layers``)."""
    import importlib
    for mod in ("tinydip.codec.encoder", "tinydip.codec.deepdecoder"):  # its home moved
        try:
            return importlib.import_module(mod).fitting_layers(size, size)
        except (ImportError, AttributeError):
            continue
    raise ImportError("tinydip.codec: no fitting_layers")


def make_step(net, z, target):
    """One tinydip fitting iteration as a closure: the library's own ``fit_step``."""
    import numpy as np

    from tinydip.fitting.step import fit_step
    from tinydip.optim import Adam

    opt = Adam(net.parameters(), lr=0.01)

    def step():
        out = fit_step(net, opt, z, target).output
        assert out.dtype == np.float32

    return step


def torch_step(net, z, target, threads: int):
    """The same iteration in PyTorch on the mirror of ``net``; returns (step, count_flops)."""
    import torch
    from torch_models import torch_mirror

    torch.set_num_threads(threads)
    tnet = torch_mirror(net)
    tz, tt = torch.from_numpy(z), torch.from_numpy(target)
    topt = torch.optim.Adam(tnet.parameters(), lr=0.01)

    def step():
        topt.zero_grad(set_to_none=False)
        loss = torch.nn.functional.mse_loss(tnet(tz), tt)
        loss.backward()
        topt.step()

    def count_flops() -> float:
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as fc:
            torch.nn.functional.mse_loss(tnet(tz), tt).backward()
        topt.zero_grad(set_to_none=False)
        return fc.get_total_flops() / 1e9

    return step, count_flops


def _gemm_rate(reps: int = 3) -> float:
    """GFLOP/s of tinydip's pooled gemm on a 1024x2048 @ 2048x2048 float32 product (best)."""
    import numpy as np

    from tinydip.functional.gemm import gemm
    a = np.random.default_rng(0).standard_normal((1024, 2048), dtype=np.float32)
    b = np.random.default_rng(1).standard_normal((2048, 2048), dtype=np.float32)
    out = np.empty((1024, 2048), np.float32)
    gemm(a, b, out)
    best = min(_timed(lambda: gemm(a, b, out)) for _ in range(reps))
    return 2.0 * 1024 * 2048 * 2048 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _tracemalloc_peak(net_name: str, size: int, algo: str) -> float:
    """MB: tracemalloc's peak over building the net and two steps (NumPy buffers)."""
    import gc
    import tracemalloc
    gc.collect()
    tracemalloc.start()
    step = make_step(*build(net_name, size, algo))
    step()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def worker(framework: str, net_name: str, size: int, algo: str) -> None:
    """Serve commands on stdin, one JSON line out per command: ``time N`` (N steps' seconds),
    ``gemm``, ``flops``, ``stats`` (peak MB), ``quit``."""
    if framework == "torch":  # before tinydip: its OpenMP starts with PyTorch's own
        import torch  # noqa: F401  # defaults, not tinydip's OMP_WAIT_POLICY / GOMP_SPINCOUNT
    import numba

    import tinydip
    sys.path.insert(0, str(HERE))
    from flops import conv_flops

    net, z, target = build(net_name, size, algo)
    threads = numba.get_num_threads()
    if framework == "torch":
        step, count_flops = torch_step(net, z, target, threads)
    else:
        step = make_step(net, z, target)

        def count_flops() -> float:
            return conv_flops(net, z)[1]
    step()
    step()
    print(json.dumps({"ready": True, "tinydip_file": tinydip.__file__, "threads": threads}),
          flush=True)
    for line in sys.stdin:
        cmd, *arg = line.split()
        if cmd == "time":
            reply = [_timed(step) for _ in range(int(arg[0]))]
        elif cmd == "gemm":
            reply = _gemm_rate()
        elif cmd == "flops":
            reply = count_flops()
        elif cmd == "stats":
            reply = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            if framework != "torch":
                reply["tracemalloc_mb"] = _tracemalloc_peak(net_name, size, algo)
        else:
            return
        print(json.dumps(reply), flush=True)


class Worker:
    """A worker subprocess and its command channel."""

    def __init__(self, framework: str, net: str, size: int, algo: str, pythonpath=None):
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", framework, net, str(size), algo],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {self.proc.args[3:]} died")
        return json.loads(line)

    def ask(self, cmd: str):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ")[0]
    except OSError:  # not Linux
        return "?"


def measure(net: str, size: int, a) -> dict:
    """One (net, size): workers started, timed in interleaved rounds, then closed."""
    load0 = _loadavg()
    names = ["tinydip"] + (["base"] if a.base else []) + (["torch"] if a.torch else [])
    workers = {n: Worker("torch" if n == "torch" else "tinydip", net, size, a.algo,
                         a.base if n == "base" else None) for n in names}
    rounds = {n: [] for n in names}
    gemm = []
    for _ in range(a.repeats):
        for n, w in workers.items():
            rounds[n].append(statistics.median(w.ask(f"time {a.steps}")))
        gemm.append(workers["tinydip"].ask("gemm"))
    flops_w = workers["torch"] if a.torch else workers["tinydip"]
    gflop = flops_w.ask("flops")
    row = {"net": net, "size": size, "algo": a.algo, "gflop_per_iter": gflop,
           "flops_by": "torch FlopCounterMode" if a.torch else "analytic conv_flops",
           "gemm_peak_gflops": max(gemm), "gemm_gflops_rounds": gemm,
           "loadavg_start": load0, "loadavg_end": _loadavg()}
    for n, w in workers.items():
        sec = statistics.median(rounds[n])
        row[n] = {"s_per_iter": sec, "s_rounds": rounds[n], "gflops": gflop / sec,
                  "share_of_gemm_peak": gflop / sec / max(gemm), **w.ask("stats"),
                  "tinydip_file": w.info["tinydip_file"], "threads": w.info["threads"]}
        w.close()
    for n in names[:-1] if a.torch else []:
        row[f"ratio_{n}"] = row[n]["s_per_iter"] / row["torch"]["s_per_iter"]
    return row


def _print_row(r: dict, names: list[str]) -> None:
    line = f"{r['net']:10s} {r['size']:4d} {r['gflop_per_iter']:6.2f}"
    for n in names:
        t = r[n]
        mb = t.get("tracemalloc_mb")
        share = 100 * t["share_of_gemm_peak"]
        line += (f" | {t['s_per_iter']:.4f} {t['gflops']:6.1f} {share:4.0f}%"
                 f" {t['peak_rss_mb']:5.0f}" + (f"/{mb:4.0f}" if mb is not None else ""))
        if f"ratio_{n}" in r:
            line += f" {r[f'ratio_{n}']:5.2f}"
    print(line + f" | {r['gemm_peak_gflops']:5.0f} {r['loadavg_start']}-{r['loadavg_end']}",
          flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="+", default=DEFAULT_NETS, choices=sorted(NETS))
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--steps", type=int, default=3, help="steps per worker per round")
    p.add_argument("--base", metavar="DIR", help="also time the tinydip in DIR (e.g. a "
                   "`git archive` of the previous commit), interleaved with the others")
    p.add_argument("--no-torch", dest="torch", action="store_false")
    p.add_argument("--json", metavar="PATH", help="write the figures (strict JSON)")
    p.add_argument("--algo", choices=["auto", "im2col"], default="auto",
                   help="tinydip's convolution algorithm (im2col: Winograd off)")
    p.add_argument("--lean", action="store_true", help="tinydip in lean mode (rebuild every "
                   "convolution's im2col matrix / Winograd tiles in backward)")
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        fw, net, size, algo = a.worker
        worker(fw, net, int(size), algo)
        return
    if a.torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            a.torch = False
    a.algo += ":lean" if a.lean else ""
    names = ["tinydip"] + (["base"] if a.base else []) + (["torch"] if a.torch else [])
    print("net        size GFLOP | per framework (" + ", ".join(names) + "): s/it GFLOP/s "
          "%GEMM-peak peak-RSS-MB[/tracemalloc-MB] [ratio to torch] | GEMM peak, load")
    rows = []
    for net in a.nets:
        for size in a.sizes:
            rows.append(measure(net, size, a))
            _print_row(rows[-1], names)
    if a.json:
        meta = {"argv": sys.argv[1:], "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                        "NUMBA_NUM_THREADS")},
                "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE,
                                         capture_output=True, text=True).stdout.strip()}
        Path(a.json).write_text(json.dumps({**meta, "rows": rows}, indent=1, allow_nan=False))


if __name__ == "__main__":
    main()
