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
ribbons: dark flat cloth and fine coloured stripes). Held out (never used to choose a
setting; ``--images collar,arm,background,giftbox``): three more crops of the photo and
matplotlib's clip-art gift box; ``table`` then writes ``table_s<sigma>_<size>_<images>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from tinydip.degrade import add_noise
from tinydip.denoising.grouped_wiener import grouped_wiener
from tinydip.denoising.noise_estimate import estimate_sigma
from tinydip.denoising.pilot_wiener import pilot_wiener
from tinydip.io.images import load_image, sample_image
from tinydip.metrics import psnr, ssim

# centre (row, column) of each crop in the 600x512 (H x W) photo
CROPS = {"face": (200, 265), "flag": (170, 70), "ribbons": (500, 385)}
IMAGES = ("hopper", *CROPS)
# held out: never used to choose a setting (collar and chin, sleeve, plain background; and
# matplotlib's 128x128 clip-art gift box, composited over white, at any --size)
HELD_OUT_CROPS = {"collar": (330, 250), "arm": (430, 110), "background": (70, 440)}
HELD_OUT = (*HELD_OUT_CROPS, "giftbox")
NOISE_SEED = 1234


def _photo() -> np.ndarray:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return load_image(path)


def clean_image(name: str, size: int) -> np.ndarray:
    """The clean HxWx3 float32 test image ``name`` at ``size`` x ``size``."""
    if name == "hopper":
        return sample_image(size)
    if name == "giftbox":
        return _giftbox(size)
    crops = {**CROPS, **HELD_OUT_CROPS}
    if name not in crops:
        raise ValueError(f"unknown image {name!r}; choose from {', '.join(IMAGES + HELD_OUT)}")
    photo = _photo()
    r, c = crops[name]
    r0 = int(np.clip(r - size // 2, 0, photo.shape[0] - size))
    c0 = int(np.clip(c - size // 2, 0, photo.shape[1] - size))
    return np.ascontiguousarray(photo[r0:r0 + size, c0:c0 + size, :3])


def _giftbox(size: int) -> np.ndarray:
    import matplotlib
    from PIL import Image

    path = Path(matplotlib.get_data_path()) / "sample_data" / "Minduka_Present_Blue_Pack.png"
    im = Image.open(path).convert("RGBA").resize((size, size), Image.LANCZOS)
    rgba = np.asarray(im, dtype=np.float32) / 255  # (size, size, 4)
    return np.ascontiguousarray(rgba[:, :, :3] * rgba[:, :, 3:] + 1 - rgba[:, :, 3:])


def noisy_image(clean: np.ndarray, sigma: float, name: str) -> np.ndarray:
    """The fixed noisy observation of one (image, sigma): the same for every method."""
    seed = NOISE_SEED + (IMAGES + HELD_OUT).index(name) * 100 + int(round(sigma))
    return add_noise(clean, sigma, np.random.default_rng(seed))


# variants of a single fit; ``--quality`` settings average fits of one variant over seeds
# (the fits are saved before the Wiener pass; ``table`` applies it: --quality fast = w16 +
# Wiener, default = w32 + Wiener, best = w32 seeds 0 + 1 averaged + Wiener, paper = "default")
VARIANTS = {
    "default": {"quality": "paper"},  # the paper's skip5-128 U-Net, val stop, EMA output
    # (the default before the Wiener pass: --quality paper; the files keep the old name)
    "w16": {"quality": "paper", "net_options": {"channels_down": (16,) * 5,
                                                "channels_up": (16,) * 5}},
    "w16-1000": {"quality": "paper", "iters": 1000,  # --quality fast: at most 1000 steps
                 "net_options": {"channels_down": (16,) * 5, "channels_up": (16,) * 5}},
    "w32": {"quality": "paper", "net_options": {"channels_down": (32,) * 5,
                                                "channels_up": (32,) * 5}},
    "w32-6000": {"quality": "paper", "iters": 6000,  # w32 with twice the step budget
                 "net_options": {"channels_down": (32,) * 5, "channels_up": (32,) * 5}},
    # w32 with fewer input channels (z: 8 or 16 instead of the preset's 32; issue 25)
    "w32-z8": {"quality": "paper", "net_options": {"channels_down": (32,) * 5,
                                                   "channels_up": (32,) * 5, "in_channels": 8}},
    "w32-z16": {"quality": "paper", "net_options": {"channels_down": (32,) * 5,
                                                    "channels_up": (32,) * 5, "in_channels": 16}},
    # w32 with Adam's step 0.02, or z ~ U(0, 0.2) / U(0, 0.05) instead of U(0, 0.1) (issue 25)
    "w32-lr02": {"quality": "paper", "lr": 0.02,
                 "net_options": {"channels_down": (32,) * 5, "channels_up": (32,) * 5}},
    "w32-in02": {"quality": "paper", "input_scale": 0.2,
                 "net_options": {"channels_down": (32,) * 5, "channels_up": (32,) * 5}},
    "w32-in005": {"quality": "paper", "input_scale": 0.05,
                  "net_options": {"channels_down": (32,) * 5, "channels_up": (32,) * 5}},
    "w64": {"quality": "paper", "net_options": {"channels_down": (64,) * 5,
                                                "channels_up": (64,) * 5}},
}


# the Wiener passes scored after every fit: the denoiser's, and two simpler ones
PASSES = {
    " + Wiener pass": grouped_wiener,
    " + sliding pass": pilot_wiener,
    " + uncalibrated sliding pass": partial(pilot_wiener, calibrate=False),
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


def ensembles(root: Path, name: str, sigma: float, size: int, variant: str,
              seeds: list[int]) -> dict[int, tuple[np.ndarray, float, list[dict]]]:
    """{k: (mean output of the first k seeds, total iterations, metas)} for every k whose
    k seeds have all been run (what ``--quality`` with k restarts returns)."""
    out, metas, imgs = {}, [], []
    for seed in seeds:
        path = _path(root, name, sigma, size, variant, seed)
        if not path.exists():
            break
        img, meta = load_run(path)
        imgs.append(img)
        metas.append(meta)
        out[len(imgs)] = (np.mean(imgs, axis=0), sum(m["iters"] for m in metas), list(metas))
    return out


def timing(widths: list[int], size: int, iters: int = 15) -> dict[int, float]:
    """Seconds per fitting iteration of the denoising U-Net at each width (run this under
    the timing lock; the sweeps' own seconds are taken on a loaded machine)."""
    from tinydip.fitting.fit import fit
    from tinydip.io.images import to_tensor
    from tinydip.tasks import build_net

    clean = clean_image("hopper", size)
    obs = to_tensor(noisy_image(clean, 25, "hopper"))
    out = {}
    for w in widths:
        net = build_net("unet", "denoise", 3, 0, channels_down=(w,) * 5, channels_up=(w,) * 5)
        fit(net, obs, iters=3, stop="none", progress=False)  # warm-up (numba, workspaces)
        r = fit(net, obs, iters=iters, stop="none", progress=False)
        out[w] = r.seconds_per_iter
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=("run", "table", "timing"))
    ap.add_argument("--images", default=",".join(IMAGES))
    ap.add_argument("--sigma", type=float, default=25.0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seeds", default="0,1,2,3")
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
    if args.command == "timing":
        res = {"size": args.size, "seconds_per_iter": timing([128, 32, 16], args.size),
               "load": os.getloadavg()}
        print(json.dumps(res))
        return 0
    return table(names, args.sigma, args.size, seeds, root)


def table(names, sigma, size, seeds, root) -> int:
    """Markdown table: one row per method, PSNR per image, mean PSNR / SSIM / iterations."""
    rows: dict[str, dict[str, tuple[float, float, float]]] = {}  # method -> image -> ...
    extra = {}
    for name in names:
        clean = clean_image(name, size)
        noisy = noisy_image(clean, sigma, name)
        rows.setdefault("noisy input", {})[name] = (psnr(noisy, clean), ssim(noisy, clean),
                                                    math.nan)
        est = estimate_sigma(noisy) * 255
        extra[name] = {"sigma_estimate": round(est, 2)}
        for label, s in (("CBM3D, true sigma", sigma), ("CBM3D, estimated sigma", est)):
            out, sec = cbm3d(noisy, s)
            rows.setdefault(label, {})[name] = (psnr(out, clean), ssim(out, clean), sec)
        for variant in VARIANTS:
            for k, (img, iters, metas) in ensembles(root, name, sigma, size, variant,
                                                    seeds).items():
                label = f"DIP {variant}, {k} fit{'s' if k > 1 else ''} averaged" if k > 1 \
                    else f"DIP {variant}, seed 0"
                rows.setdefault(label, {})[name] = (psnr(img, clean), ssim(img, clean), iters)
                # the Wiener pass of --quality fast/default/best, sigma from the image alone
                # (grouped, calibrated), and for comparison the sliding pass with and
                # without calibration (the latter: the pass before 2026-12-01)
                for suffix, filt in PASSES.items():
                    filtered = filt(noisy, img, est / 255)
                    rows.setdefault(label + suffix, {})[name] = (
                        psnr(filtered, clean), ssim(filtered, clean), iters)
                if k == 1:
                    rows.setdefault(f"DIP {variant}, seed 0: oracle best iterate", {})[name] = \
                        (metas[0]["oracle_best_smoothed"], math.nan, math.nan)
    print("| method | " + " | ".join(names)
          + " | mean PSNR | mean SSIM | mean iterations / CBM3D s |")
    print("|" + "---|" * (len(names) + 4))
    result = {"sigma": sigma, "size": size, "images": extra, "rows": {}}
    for label, per in rows.items():
        cells = [f"{per[n][0]:.2f}" if n in per else "-" for n in names]
        full = all(n in per for n in names)
        vals = [per[n] for n in names if n in per]
        mean = [float(np.mean([v[i] for v in vals])) for i in range(3)]
        tail = [f"{mean[0]:.2f}" + ("" if full else f" ({len(vals)} img)"),
                "-" if math.isnan(mean[1]) else f"{mean[1]:.4f}",
                "-" if math.isnan(mean[2]) else f"{mean[2]:.0f}"]
        print(f"| {label} | " + " | ".join(cells + tail) + " |")
        result["rows"][label] = {n: [round(x, 4) if math.isfinite(x) else None for x in per[n]]
                                 for n in per}
    tag = "" if list(names) == list(IMAGES) else "_" + "-".join(names)
    (root / f"table_s{sigma:g}_{size}{tag}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
