"""Small-scale denoising checks behind benchmarks/README.md (*SURE*, *Total variation*).

    nice -n 19 python benchmarks/bench_denoise_small.py sure --size 64 --width 32 --eps 0.1
    nice -n 19 python benchmarks/bench_denoise_small.py val --size 64 --width 32
    nice -n 19 python benchmarks/bench_denoise_small.py tv --size 64 --width 32 --weights 0.003,0.01

``sure``: two fits without stopping, on y and on y + eps*sigma*b (same seed: same z, init
and jitter); the EMA outputs every 10 iterations give SURE (sigma estimated from y) and the
true MSE; prints the oracle and the SURE-selected iterate.  ``val``: the same network with
the held-out-pixel rule (today's denoise stop).  ``tv``: ``val`` with ``weight * TV`` added
to the loss.  Images and noise as in bench_denoise.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_denoise import clean_image, noisy_image  # noqa: E402

from tinydip.denoising.noise_estimate import estimate_sigma  # noqa: E402
from tinydip.denoising.sure import PairedSure  # noqa: E402
from tinydip.fitting.fit import fit  # noqa: E402
from tinydip.fitting.stopping import VAL_TUNED  # noqa: E402
from tinydip.functional import mse_loss  # noqa: E402
from tinydip.functional.tv import with_tv  # noqa: E402
from tinydip.io.images import to_tensor  # noqa: E402
from tinydip.metrics import psnr  # noqa: E402
from tinydip.tasks import build_net  # noqa: E402


def _net(width):
    return build_net("unet", "denoise", 3, 0, channels_down=(width,) * 5,
                     channels_up=(width,) * 5)


def sure_study(clean, noisy, width, iters, eps):
    sigma = estimate_sigma(noisy)
    paired = PairedSure(to_tensor(noisy), sigma, eps * sigma, np.random.default_rng(99))

    def run(obs):
        snaps = {}
        fit(_net(width), obs, iters=iters, stop="none", seed=0, progress=False,
            callback=lambda it, info: snaps.__setitem__(it, info["smoothed"].copy()),
            callback_every=10)
        return snaps

    a, b = run(to_tensor(noisy)), run(paired.probe)
    x = to_tensor(clean)
    its = sorted(a)
    mse = np.array([np.mean((a[i] - x) ** 2) for i in its])
    est = np.array([paired.value(a[i], b[i]) for i in its])
    i, j = int(mse.argmin()), int(est.argmin())
    return {"sigma_estimate": float(sigma * 255), "oracle_iter": its[i],
            "oracle_psnr": float(10 * np.log10(1 / mse[i])), "sure_iter": its[j],
            "sure_pick_psnr": float(10 * np.log10(1 / mse[j]))}


def val_run(clean, noisy, width, iters, weight=0.0):
    r = fit(_net(width), to_tensor(noisy), truth=to_tensor(clean), iters=iters, stop="val",
            stop_options=VAL_TUNED[0], stop_on="smoothed", seed=0, progress=False,
            loss_fn=with_tv(mse_loss, weight))
    return {"tv": weight, "psnr": psnr(r.output, to_tensor(clean)), "selected": r.output_iter,
            "stopped": r.stopped_iter,
            "own_oracle": float(max(h["psnr_smoothed"] for h in r.history))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("sure", "val", "tv"))
    ap.add_argument("--image", default="hopper")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--sigma", type=float, default=25.0)
    ap.add_argument("--iters", type=int, default=1500)
    ap.add_argument("--eps", type=float, default=0.1, help="SURE probe, in units of sigma")
    ap.add_argument("--weights", default="0.003,0.01", help="TV weights")
    args = ap.parse_args()
    clean = clean_image(args.image, args.size)
    noisy = noisy_image(clean, args.sigma, args.image)
    t0 = time.perf_counter()
    if args.command == "sure":
        rows = [sure_study(clean, noisy, args.width, args.iters, args.eps)]
    elif args.command == "val":
        rows = [val_run(clean, noisy, args.width, 3000)]
    else:
        rows = [val_run(clean, noisy, args.width, 3000, float(w))
                for w in args.weights.split(",")]
    for row in rows:
        print(json.dumps({"image": args.image, "size": args.size, "width": args.width, **row,
                          "seconds": time.perf_counter() - t0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
