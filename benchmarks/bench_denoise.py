"""Denoising study: tinydip's denoiser (each --quality) against CBM3D, no ground truth used.

    nice -n 19 python benchmarks/bench_denoise.py run --images hopper,face,flag,ribbons \
        --sigma 25 --size 128 --seeds 0,1,2 --variant default      # one DIP fit per seed
    python benchmarks/bench_denoise.py table --sigma 25 --size 128   # + CBM3D, the table

``run`` fits DIP with tinydip's denoise task (today's default settings, or a ``--variant``)
once per seed on the SAME noisy observation (noise seed fixed per image) and saves each
fit's output, PSNRs, seconds and history to ``--dir`` (one ``.npz`` per fit; existing fits
are skipped, so a sweep can be resumed or extended).  ``table`` scores the saved fits --
single runs, and the averages over seeds that ``--quality best`` computes -- beside CBM3D
(the ``bm3d`` package, a benchmark-only extra: ``pip install -e ".[bench]"``) and prints a
markdown table: PSNR, SSIM, seconds.  The truth is used for scoring only.

Images (offline: matplotlib's sample data, no download): ``hopper`` is tinydip's built-in
sample (the whole Grace Hopper portrait resized to SIZE); ``face``, ``flag`` and
``ribbons`` are SIZE x SIZE crops of the same 512x600 photo at its native resolution
(face and glasses: texture; stars and stripes: flat regions and edges; uniform and
ribbons: dark flat cloth and fine coloured stripes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from tinydip.degrade import add_noise
from tinydip.images import load_image, sample_image
from tinydip.metrics import psnr, ssim

# centre (row, column) of each crop in the 600x512 (H x W) photo
CROPS = {"face": (200, 265), "flag": (170, 70), "ribbons": (500, 385)}
IMAGES = ("hopper", *CROPS)
NOISE_SEED = 1234


def _photo() -> np.ndarray:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return load_image(path)


def clean_image(name: str, size: int) -> np.ndarray:
    """The clean HxWx3 float32 test image ``name`` at ``size`` x ``size``."""
    if name == "hopper":
        return sample_image(size)
    if name not in CROPS:
        raise ValueError(f"unknown image {name!r}; choose from {', '.join(IMAGES)}")
    photo = _photo()
    r, c = CROPS[name]
    r0 = int(np.clip(r - size // 2, 0, photo.shape[0] - size))
    c0 = int(np.clip(c - size // 2, 0, photo.shape[1] - size))
    return np.ascontiguousarray(photo[r0:r0 + size, c0:c0 + size, :3])


def noisy_image(clean: np.ndarray, sigma: float, name: str) -> np.ndarray:
    """The fixed noisy observation of one (image, sigma): the same for every method."""
    seed = NOISE_SEED + IMAGES.index(name) * 100 + int(round(sigma))
    return add_noise(clean, sigma, np.random.default_rng(seed))


# variants of a single fit; ``--quality`` settings average fits of one variant over seeds
VARIANTS = {
    "default": {},  # today's default: the paper's skip5-128 U-Net, val stop, EMA output
    "w32": {"net_options": {"channels_down": (32,) * 5, "channels_up": (32,) * 5}},
    "w64": {"net_options": {"channels_down": (64,) * 5, "channels_up": (64,) * 5}},
}


def _path(root: Path, name: str, sigma: float, size: int, variant: str, seed: int) -> Path:
    return root / f"{name}_s{sigma:g}_{size}_{variant}_seed{seed}.npz"


def run_one(name: str, sigma: float, size: int, variant: str, seed: int, root: Path) -> Path:
    from tinydip.tasks import denoise

    path = _path(root, name, sigma, size, variant, seed)
    if path.exists():
        print(f"skip {path.name} (exists)", flush=True)
        return path
    clean = clean_image(name, size)
    noisy = noisy_image(clean, sigma, name)
    opts = dict(VARIANTS[variant])
    t0 = time.perf_counter()
    res = denoise(noisy, truth=clean, seed=seed, progress=False, **opts)
    wall = time.perf_counter() - t0
    hist = res.fit.history
    curve = np.array([h["psnr_smoothed"] for h in hist], dtype=np.float32)
    meta = {"image": name, "sigma": sigma, "size": size, "variant": variant, "seed": seed,
            "seconds": res.fit.seconds, "wall": wall, "iters": res.fit.iters_run,
            "output_iter": res.fit.output_iter, "psnr": res.psnr,
            "oracle_best_smoothed": float(curve.max()),
            "oracle_best_iter": int(curve.argmax()), "load": os.getloadavg()[0]}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, output=res.output, curve=curve, meta=json.dumps(meta))
    os.replace(tmp, path)
    print(f"{path.name}: output {res.psnr['output']:.2f} dB (oracle best smoothed "
          f"{curve.max():.2f}), {res.fit.iters_run} it, {res.fit.seconds:.0f} s", flush=True)
    return path


def load_run(path: Path) -> tuple[np.ndarray, dict]:
    with np.load(path) as f:
        return f["output"], json.loads(str(f["meta"]))


def cbm3d(noisy: np.ndarray, sigma: float) -> tuple[np.ndarray, float]:
    """CBM3D (bm3d package) with the TRUE sigma, and its seconds."""
    import bm3d

    t0 = time.perf_counter()
    out = bm3d.bm3d_rgb(noisy.astype(np.float64), sigma / 255.0)
    return np.clip(out, 0, 1).astype(np.float32), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("run", "table"))
    ap.add_argument("--images", default=",".join(IMAGES))
    ap.add_argument("--sigma", type=float, default=25.0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variant", default="default", choices=sorted(VARIANTS))
    ap.add_argument("--dir", default="benchmarks/results/denoise")
    args = ap.parse_args(argv)
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    names = [s for s in args.images.split(",") if s]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.command == "run":
        for seed in seeds:  # seed-major: every image gets seed 0 first
            for name in names:
                run_one(name, args.sigma, args.size, args.variant, seed, root)
        return 0
    return table(names, args.sigma, args.size, args.variant, seeds, root)


def table(names, sigma, size, variant, seeds, root) -> int:
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
