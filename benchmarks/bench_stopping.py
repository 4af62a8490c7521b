"""Early-stopping study: ground-truth-free rules vs the oracle best vs a fixed budget.

    python benchmarks/bench_stopping.py                       # full study (~45 min, 2 cores)
    python benchmarks/bench_stopping.py --quick               # smoke test (~1 min)
    python benchmarks/bench_stopping.py --analyze stop.json   # re-tabulate saved traces

Design: ONE fit per (config, training variant), always ``stop="none"`` for the full budget with
the truth given, so the history holds PSNR of the raw and the smoothed (EMA) output at every
step.  The candidate rules watch passively through ``fit``'s callback (``callback_every=1``):
several :class:`~tinydip.fitting.stopping.WindowedVariance` windows on both output streams at once.
A rule's statistic does not depend on its patience/warmup, so the plateau logic is replayed
offline on the recorded statistic (:func:`replay_plateau`, checked against the live rule with
the default settings) -- oracle best, every rule's stop point and selected PSNR, and the
fixed-budget PSNR all come from the same run.  The validation rule trains on fewer pixels, so
it gets its own run (``--val`` configs only).  Seconds saved = (budget - iterations run) *
seconds per iteration of that run.

The study uses the paper's U-Net presets at reduced width (``--width``, default 32 channels per
level instead of 128: ~10x cheaper) so that >= 8 full 3000-iteration runs fit on two shared
cores; ``--paper`` adds a full-width check run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tinydip.degrade import add_noise, hole_mask, text_mask
from tinydip.degrade.masks import random_mask
from tinydip.fitting.fit import FitConfig, fit
from tinydip.fitting.stopping import ValidationLoss, WindowedVariance
from tinydip.io.images import sample_image, to_tensor
from tinydip.metrics import psnr
from tinydip.operators import Downsampler, parse_kernel
from tinydip.tasks import TASKS, auto_rule_spec, build_net

WINDOWS = (25, 50, 100)
STREAMS = ("smoothed", "raw")


# ----------------------------------------------------------------------------- images
def shapes_image(size: int, seed: int = 0) -> np.ndarray:
    """A synthetic RGB test image: gradient, filled shapes, lines and a stripe texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    base = np.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.8 - 0.5 * xx * yy], axis=-1)
    im = Image.fromarray((base * 255).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.integers(0, size * 3 // 4, 2)
        w, h = rng.integers(size // 8, size // 2, 2)
        col = tuple(int(c) for c in rng.integers(0, 256, 3))
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=col)
    pts = [tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(3)]
    d.polygon(pts, fill=(240, 230, 40))
    for _ in range(4):
        d.line([tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(2)],
               fill=(20, 20, 20), width=max(1, size // 48))
    a = np.asarray(im, dtype=np.float32) / 255.0
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (xx + 0.5 * yy) * size / 6.0)
    region = (xx > 0.55) & (yy > 0.55)  # a textured corner
    a[region] = 0.6 * a[region] + 0.4 * stripes[region, None]
    return np.clip(a, 0, 1).astype(np.float32)


def make_image(name: str, size: int) -> np.ndarray:
    if name == "hopper":
        return sample_image(size)
    if name == "hoppercrop":  # a size x size crop of the sample at twice the resolution
        big = sample_image(2 * size)
        o = size // 2
        return np.ascontiguousarray(big[o:o + size, o:o + size])
    if name == "shapes":
        return shapes_image(size)
    raise ValueError(name)


# name, task, image, size (of the OUTPUT), parameter (sigma | "text"/"hole" | factor |
# "kernel spec/noise sigma"), role
CONFIGS = [
    ("dn25-hopper64", "denoise", "hopper", 64, 25, "tune"),
    ("dn25-shapes64", "denoise", "shapes", 64, 25, "tune"),
    ("dn15-crop64", "denoise", "hoppercrop", 64, 15, "report"),
    ("dn50-hopper64", "denoise", "hopper", 64, 50, "report"),
    ("dn50-shapes64", "denoise", "shapes", 64, 50, "report"),
    ("inp-text-hopper64", "inpaint", "hopper", 64, "text", "report"),
    ("inp-hole-shapes64", "inpaint", "shapes", 64, "hole", "report"),
    ("sr4-shapes64", "sr", "shapes", 64, 4, "report"),
    ("dn25-hopper128", "denoise", "hopper", 128, 25, "report"),
    ("sr4-hopper128", "sr", "hopper", 128, 4, "report"),
    ("db-g2n5-hopper64", "deblur", "hopper", 64, "gaussian:2/5", "report"),
    ("db-m9n5-shapes64", "deblur", "shapes", 64, "motion:9,30/5", "report"),
    ("inp-drop50-hopper64", "inpaint", "hopper", 64, "drop0.5", "report"),
    ("inp-drop50-hopper128", "inpaint", "hopper", 128, "drop0.5", "report"),
]
VAL_CONFIGS = ["dn25-hopper64", "dn50-shapes64", "inp-text-hopper64", "sr4-shapes64",
               "dn15-crop64", "dn25-hopper128", "dn25-shapes64", "dn50-hopper64",
               "db-g2n5-hopper64", "db-m9n5-shapes64", "inp-drop50-hopper64",
               "inp-drop50-hopper128"]


def problem(cfg):
    """(observation NCHW, mask, operator, truth NCHW) for a config."""
    name, task, img, size, par, _ = cfg
    clean = make_image(img, size)
    rng = np.random.default_rng(1)
    mask = op = None
    if task == "denoise":
        obs = add_noise(clean, float(par), rng)
    elif task == "inpaint":
        if str(par).startswith("drop"):  # random pixels (inpaint --drop)
            m = random_mask(size, size, float(par[4:]), rng)
        else:
            m = text_mask(size, size, rng) if par == "text" else hole_mask(size, size, 0.25, rng)
        obs = np.where(m[:, :, None], clean, 0).astype(np.float32)
        mask = m[None, None].astype(np.float32)
    elif task == "deblur":  # blur with the kernel, then noise of the given sigma
        spec, sigma = par.split("/")
        op = parse_kernel(spec)
        obs = add_noise(np.clip(op(to_tensor(clean))[0].transpose(1, 2, 0), 0, 1), float(sigma),
                        rng)
    else:
        op = Downsampler(int(par))
        obs = op(to_tensor(clean))[0].transpose(1, 2, 0)
    return to_tensor(obs), mask, op, to_tensor(clean)


# ----------------------------------------------------------------------------- running
def run(cfg, *, iters: int, width: int, variant: str, val_options: dict) -> dict:
    """One full-budget fit with passive observers; returns per-iteration traces."""
    name, task, *_ = cfg
    obs, mask, op, truth = problem(cfg)
    opts = {"channels_down": (width,) * 5, "channels_up": (width,) * 5}
    if task == "inpaint":
        opts["channels_skip"] = (width,) * 5
    net = build_net("unet", task, obs.shape[1], seed=0, **opts)
    settings = {**TASKS[task].fit_defaults, "iters": iters, "progress": False, "seed": 0}
    settings.pop("stop", None), settings.pop("stop_options", None)
    observers = {f"wmv{w}_{s}": (s, WindowedVariance(w, patience=10**9, warmup=0))
                 for w in WINDOWS for s in STREAMS}
    live = {}  # the task's WMV rule, run live, to check the offline replay
    _, wmv_opts, wmv_stream = auto_rule_spec(task, "wmv")
    live["wmv_live"] = (wmv_stream, WindowedVariance(**wmv_opts))
    tr = {k: [] for k in ("loss_smoothed", *observers)}
    live_out = {}

    def observe(it, info):
        s = info["smoothed"]
        pred = op.forward(s) if op is not None else s
        r = (pred - obs) ** 2
        tr["loss_smoothed"].append(float(r.mean() if mask is None else
                                         (r * mask).sum() / (mask.sum() * r.shape[1])))
        for key, (stream, rule) in observers.items():
            rule.update(it, s if stream == "smoothed" else info["output"], 0.0)
            tr[key].append(rule.statistic if math.isfinite(rule.statistic) else None)
        for key, (stream, rule) in live.items():
            if key not in live_out and rule.update(
                    it, s if stream == "smoothed" else info["output"], 0.0):
                live_out[key] = {"stop": it, "sel": rule.best_iter, "opts": wmv_opts,
                                 "stream": stream}

    if variant == "val":
        stop = {"stop": "val", "stop_options": {**val_options, "patience": 10**9}}
        cb = None
    else:
        stop = {"stop": "none"}
        cb = observe
    t0 = time.perf_counter()
    res = fit(net, obs, mask=mask, operator=op, truth=truth, callback=cb, callback_every=1,
              config=FitConfig(**settings, **stop))
    h = res.history
    out = {"name": name, "task": task, "variant": variant, "iters": res.iters_run,
           "seconds": res.seconds, "seconds_per_iter": res.seconds_per_iter,
           "wall": time.perf_counter() - t0, "width": width,
           "psnr": [r["psnr"] for r in h], "psnr_smoothed": [r["psnr_smoothed"] for r in h],
           "loss": [r["loss"] for r in h],
           "psnr_fixed": psnr(np.clip(getattr(res, settings["output"]), 0, 1), truth),
           "fixed_kind": res.output_kind, "sigma": cfg[4] if task == "denoise" else None}
    if variant == "val":
        out["val_loss"] = [r["val_loss"] for r in h]
    else:
        out.update(tr)
        out["live"] = live_out
    return out


# ----------------------------------------------------------------------------- replay
def replay_plateau(stat, back: int, patience: int, warmup: int, min_rel_delta: float = 0.0):
    """Exactly the decisions of ``_PlateauRule`` on a recorded statistic.

    ``stat[it]`` (None/nan = not yet defined) is the statistic after iteration ``it``; the
    candidate it offers is iteration ``it - back``.  Returns ``(stop_iter or None, sel)``.
    """
    best, improved, sel = math.inf, None, None
    for it, v in enumerate(stat):
        if v is not None and math.isfinite(v) and it - back >= warmup \
                and v < best * (1.0 - min_rel_delta):
            best, improved, sel = v, it, it - back
        if improved is not None and it - improved >= patience:
            return it, sel
    return None, sel


def ema_trace(values, beta: float):
    s = c = 0.0
    out = []
    for v in values:
        s, c = beta * s + (1 - beta) * v, beta * c + (1 - beta)
        out.append(s / c)
    return out


def evaluate(tr: dict, rule: str, opts: dict, stream: str = "smoothed") -> dict:
    """Stop point and selected PSNR of one rule setting on one recorded run."""
    n = len(tr["psnr"])
    curve = tr["psnr_smoothed"] if stream == "smoothed" else tr["psnr"]
    if rule == "wmv":  # options not given take the class defaults, as in make_rule
        r = WindowedVariance(**opts)
        back = {"last": 0, "center": r.window // 2, "first": r.window - 1}[r.select]
        stop, sel = replay_plateau(tr[f"wmv{r.window}_{stream}"], back, r.patience, r.warmup,
                                   r.min_rel_delta)
    elif rule == "val":
        r = ValidationLoss(**opts)
        stat = ema_trace(tr["val_loss"], r.smooth)
        stop, sel = replay_plateau(stat, 0, r.patience, r.warmup, r.min_rel_delta)
    elif rule == "discrepancy":  # first iterate whose smoothed data misfit <= tau * sigma^2
        target = opts.get("tau", 1.0) * (tr["sigma"] / 255.0) ** 2
        hit = [i for i, v in enumerate(tr["loss_smoothed"]) if v <= target]
        stop = sel = hit[0] if hit else None
        stream = "smoothed"
        curve = tr["psnr_smoothed"]
    else:
        raise ValueError(rule)
    ran = n if stop is None else stop + 1
    pick = sel if sel is not None else n - 1
    return {"stop": stop, "sel": pick, "psnr": curve[pick], "ran": ran,
            "saved_s": (n - ran) * tr["seconds_per_iter"]}


def oracle(tr: dict) -> tuple[float, int, str]:
    a, b = np.asarray(tr["psnr"]), np.asarray(tr["psnr_smoothed"])
    if b.max() >= a.max():
        return float(b.max()), int(b.argmax()), "smoothed"
    return float(a.max()), int(a.argmax()), "raw"


# ----------------------------------------------------------------------------- tables
def table(results: list[dict]) -> str:
    passive = {r["name"]: r for r in results if r["variant"] == "passive"}
    val = {r["name"]: r for r in results if r["variant"] == "val"}
    rows = ["| config | role | oracle best dB (iter, stream) | auto rule | auto dB (sel/stop) "
            "| gap dB | fixed-3000 dB | WMV dB | val dB (own run, its oracle) | s/it "
            "| seconds saved |", "|" + "---|" * 11]
    gaps, wins = [], []
    roles = {c[0]: c[5] for c in CONFIGS}
    roles.update({c[0] + "-w128": "check" for c in CONFIGS})
    roles.update({c[0] + "-w8": "smoke" for c in CONFIGS})
    for name, tr in passive.items():
        best, bi, bs = oracle(tr)
        rule, ropts, stream = auto_rule_spec(tr["task"])
        src = val.get(name) if rule == "val" else tr
        wmv = evaluate(tr, "wmv", auto_rule_spec(tr["task"], "wmv")[1],
                       auto_rule_spec(tr["task"], "wmv")[2])
        if rule == "val" and src is None:
            a = None
        else:
            a = evaluate(src, rule, ropts, stream)
        vcell = "-"
        if name in val:
            v = evaluate(val[name], "val", auto_rule_spec(tr["task"], "val")[1],
                         auto_rule_spec(tr["task"], "val")[2])
            vcell = f"{v['psnr']:.2f} ({oracle(val[name])[0]:.2f})"
        if a is None:
            acell, gap, saved = "(no val run)", math.nan, math.nan
        else:
            gap = best - a["psnr"]  # against the full-data oracle, also for "val"
            gaps.append(gap)
            wins.append(a["psnr"] - tr["psnr_fixed"])
            stopc = "-" if a["stop"] is None else a["stop"]
            acell, saved = f"{a['psnr']:.2f} ({a['sel']}/{stopc})", a["saved_s"]
        rows.append(
            f"| {name} | {roles.get(name, '?')} | {best:.2f} ({bi}, {bs}) | {rule}/{stream} "
            f"| {acell} | {gap:.2f} | {tr['psnr_fixed']:.2f} | {wmv['psnr']:.2f} | {vcell} "
            f"| {tr['seconds_per_iter']:.3f} | {saved:.0f} |")
    checks = [(tr["live"]["wmv_live"], evaluate(tr, "wmv", tr["live"]["wmv_live"]["opts"],
                                                tr["live"]["wmv_live"]["stream"]))
              for tr in passive.values() if "wmv_live" in tr.get("live", {})]
    if checks:
        ok = all((c["stop"], c["sel"]) == (e["stop"], e["sel"]) for c, e in checks)
        rows.append("")
        rows.append(f"offline replay == live WMV rule: {ok} ({len(checks)} runs)")
    if gaps:
        rows.append("")
        rows.append(f"auto vs oracle: mean gap {np.mean(gaps):.2f} dB, worst {np.max(gaps):.2f} "
                    f"dB; auto - fixed-3000: mean {np.mean(wins):+.2f} dB, min "
                    f"{np.min(wins):+.2f} dB over {len(gaps)} runs")
    return "\n".join(rows)


def sweep(results: list[dict], roles=("tune",)) -> str:
    """Per-setting mean/worst gap to the oracle, on runs whose role is in ``roles``."""
    names = {c[0] for c in CONFIGS if c[5] in roles}
    lines = []
    for variant, rule, grid in (
        ("passive", "wmv", [dict(window=w, patience=p, warmup=100, select=sel,
                                 min_rel_delta=d)
                            for w in WINDOWS for p in (50, 100, 200, 300, 500)
                            for d in (0.0, 0.02, 0.05, 0.1, 0.2)
                            for sel in ("center", "last")]),
        ("val", "val", [dict(patience=p, smooth=b, warmup=wu) for p in (100, 200, 300, 500)
                        for b in (0.9, 0.97, 0.99) for wu in (100, 300)]),
        ("passive", "discrepancy", [dict(tau=t) for t in (1.0, 1.05, 1.1, 1.2)]),
    ):
        runs = [r for r in results if r["variant"] == variant and r["name"] in names]
        if rule == "discrepancy":
            runs = [r for r in runs if r["task"] == "denoise"]
        if not runs:
            continue
        for stream in (("smoothed", "raw") if rule != "discrepancy" else ("smoothed",)):
            for o in grid:
                ev = [evaluate(r, rule, o, stream) for r in runs]
                g = [oracle(r)[0] - e["psnr"] for r, e in zip(runs, ev)]
                ran = np.mean([e["ran"] for e in ev])
                lines.append((np.mean(g), f"{rule:<11} {stream:<8} {json.dumps(o):<70} "
                              f"mean gap {np.mean(g):5.2f}  worst {np.max(g):5.2f}  "
                              f"mean iters {ran:6.0f}  n={len(runs)}"))
    lines.sort(key=lambda t: t[0])
    return "\n".join(s for _, s in lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 tiny runs, 120 its")
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--width", type=int, default=32, help="U-Net channels per level")
    ap.add_argument("--only", nargs="*", help="config names to run")
    ap.add_argument("--no-val", action="store_true", help="skip the validation-rule runs")
    ap.add_argument("--paper", action="store_true",
                    help="add a full-width (128) dn25-hopper64 run")
    ap.add_argument("--json", default="stop_results.json", help="traces are saved here")
    ap.add_argument("--md", default=None, help="write the markdown table here")
    ap.add_argument("--analyze", metavar="JSON", help="only tabulate saved traces")
    ap.add_argument("--variants", nargs="*", default=("passive", "val"),
                    help="training variants to run (passive, val)")
    ap.add_argument("--merge", metavar="JSON",
                    help="start from these saved runs; new runs replace same name+variant")
    ap.add_argument("--sweep", choices=("tune", "all"), default=None,
                    help="print the rule-setting sweep on the tune (or all) configs")
    args = ap.parse_args(argv)

    if args.analyze:
        data = json.loads(Path(args.analyze).read_text())
    else:
        # cheap 64x64 runs first (passive, then validation runs), the 128x128 ones last, so
        # that an interrupted study still covers every task
        small = [c for c in CONFIGS if c[3] <= 64]
        jobs = [(c, "passive", args.width) for c in small]
        if not args.no_val:
            jobs += [(c, "val", args.width) for c in CONFIGS if c[0] in VAL_CONFIGS]
        jobs += [(c, "passive", args.width) for c in CONFIGS if c[3] > 64]
        if args.only:
            jobs = [j for j in jobs if j[0][0] in args.only]
        jobs = [j for j in jobs if j[1] in args.variants]
        if args.paper:  # the paper's full-width U-Net on the first config
            jobs += [(CONFIGS[0], v, 128) for v in ("passive", "val") if v in args.variants]
        iters = args.iters
        if args.quick:
            jobs, iters = [(CONFIGS[0], "passive", 8), (CONFIGS[0], "val", 8)], 120
        data = {"meta": {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                         "machine": f"{platform.node()} {platform.machine()} "
                         f"{platform.processor() or ''}".strip(), "python": sys.version.split()[0],
                         "argv": sys.argv[1:], "iters": iters}, "runs": []}
        if args.merge:
            data = json.loads(Path(args.merge).read_text())
            data["meta"].setdefault("merged_argv", []).append(sys.argv[1:])
        val_opts = auto_rule_spec("denoise", "val")[1]
        for cfg, variant, width in jobs:
            print(f"[{time.strftime('%H:%M:%S')}] {cfg[0]} {variant} width={width}", flush=True)
            r = run(cfg, iters=iters, width=width, variant=variant, val_options=val_opts)
            if width != args.width:
                r["name"] += f"-w{width}"
            data["runs"] = [x for x in data["runs"]
                            if (x["name"], x["variant"]) != (r["name"], r["variant"])] + [r]
            print(f"    {r['seconds']:.0f} s ({r['seconds_per_iter']:.3f} s/it), oracle "
                  f"{oracle(r)[0]:.2f}, fixed {r['psnr_fixed']:.2f}", flush=True)
            Path(args.json).write_text(json.dumps(data))
    md = table(data["runs"])
    print(md)
    if args.md:
        Path(args.md).write_text(md + "\n")
    if args.sweep:
        roles = ("tune",) if args.sweep == "tune" else ("tune", "report")
        print(sweep(data["runs"], roles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
