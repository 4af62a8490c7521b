"""Shot-noise denoising: the Poisson negative log-likelihood vs MSE as the energy.

    python benchmarks/bench_poisson.py --size 64 --peak 30 --seeds 0 1 --iters 2000

Each run denoises the built-in sample with Poisson noise (``Poisson(PEAK x) / PEAK``) with
the paper's denoising U-Net and the task's automatic stop (``tinydip denoise --noise
poisson:PEAK --loss mse|poisson``), and prints the output's PSNR, where the run stopped and
the oracle best (smoothed) PSNR of the run.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from tinydip.degrade import add_poisson_noise
from tinydip.io.images import sample_image
from tinydip.tasks import denoise


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--peak", type=float, default=30.0)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--losses", nargs="*", default=["mse", "poisson"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    clean = sample_image(args.size)
    rows = []
    for seed in args.seeds:
        noisy = add_poisson_noise(clean, args.peak, np.random.default_rng(seed))
        for loss in args.losses:
            r = denoise(noisy, truth=clean, loss=loss, seed=seed, iters=args.iters,
                        progress=False)
            f = r.fit
            oracle = max(h["psnr_smoothed"] for h in f.history)
            row = {"seed": seed, "loss": loss, "input": round(r.psnr["input"], 2),
                   "output": round(r.psnr["output"], 2), "stopped": f.stopped_iter,
                   "oracle_smoothed": round(oracle, 2), "s_per_it": round(f.seconds_per_iter, 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
