"""Rate-distortion comparison of the Deep Decoder codec with JPEG and Haar wavelets.

Rates are bits per pixel (8 * file bytes / (H * W)); distortion is PSNR in dB of the image a
user gets back (8-bit pixels for all three).

* Deep Decoder: the ``.tdd`` file, header included.
* JPEG (Pillow, optimised Huffman tables, default 4:2:0 chroma): the largest quality whose file
  is not larger than the ``.tdd`` file (:func:`tinydip.codec.baselines.jpeg_at_size`), and a
  curve over fixed qualities.
* Haar: hard thresholding keeping as many coefficients as the decoder has parameters (the
  comparison of Heckel & Hand, 2019). It is a coefficient-count comparison: the cost of
  storing the coefficients' values and positions is NOT counted, so on a bits-per-pixel axis
  each Haar point is drawn at the rate of the decoder with the same count.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from ..io.files import write_with
from ..metrics import psnr
from .baselines import _jpeg_bytes, haar_compress, jpeg_at_size
from .encoder import CodecConfig, CompressResult, compress, stats

JPEG_QUALITIES = (2, 5, 10, 20, 30, 50, 70, 85, 95)


def to_8bit(img: np.ndarray) -> np.ndarray:
    """Round a [0, 1] image to the 8-bit grid (still float32 in [0, 1])."""
    return (np.round(np.clip(np.asarray(img, np.float64), 0, 1) * 255) / 255).astype(np.float32)


def bits_per_pixel(nbytes: int, shape: Sequence[int]) -> float:
    return 8.0 * nbytes / (shape[0] * shape[1])


def jpeg_point(img: np.ndarray, max_bytes: int) -> dict:
    """The best JPEG not larger than ``max_bytes``: quality, bytes, bpp, psnr, exceeds, image."""
    j = jpeg_at_size(img, int(max_bytes))
    return {"quality": j["quality"], "bytes": j["bytes"],
            "bits_per_pixel": bits_per_pixel(j["bytes"], img.shape),
            "psnr": psnr(j["image"], to_8bit(img)), "exceeds": bool(j["exceeds"]),
            "image": j["image"]}


def jpeg_curve(img: np.ndarray, qualities: Sequence[int] = JPEG_QUALITIES) -> list[dict]:
    """JPEG at fixed qualities: one dict (quality, bytes, bits_per_pixel, psnr) each."""
    u8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
    pil = Image.fromarray(u8[:, :, 0] if u8.shape[2] == 1 else u8)
    out = []
    for q in qualities:
        data = _jpeg_bytes(pil, int(q), None, True)
        dec = np.asarray(Image.open(io.BytesIO(data)).convert(pil.mode), np.float32) / 255.0
        out.append({"quality": int(q), "bytes": len(data),
                    "bits_per_pixel": bits_per_pixel(len(data), img.shape),
                    "psnr": psnr(dec.reshape(img.shape), to_8bit(img))})
    return out


def haar_point(img: np.ndarray, keep: int) -> dict:
    """Haar hard thresholding keeping ``keep`` coefficients: keep, psnr, image (8-bit)."""
    rec = to_8bit(haar_compress(img, int(keep)))
    return {"keep": int(keep), "psnr": psnr(rec, to_8bit(img)), "image": rec}


def equal_size_baselines(img: np.ndarray, result: CompressResult) -> dict:
    """JPEG at the ``.tdd`` file size and Haar with the decoder's parameter count."""
    jp = jpeg_point(img, result.nbytes)
    hp = haar_point(img, result.num_parameters)
    return {"jpeg": jp, "haar": hp}


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "image"}


def compression_report(img: np.ndarray, result: CompressResult, baselines: dict) -> dict:
    """JSON-ready report: :func:`stats` plus the equal-size baselines' PSNRs."""
    rep = stats(result)
    rep["jpeg_equal_size"] = _strip(baselines["jpeg"])
    rep["haar_equal_coefficients"] = _strip(baselines["haar"])
    return rep


def rate_distortion(img: np.ndarray, ks: Sequence[int], config: CodecConfig | None = None,
                    done: dict[int, CompressResult] | None = None,
                    qualities: Sequence[int] = JPEG_QUALITIES,
                    log: Callable[[str], None] | None = None) -> dict:
    """Compress ``img`` with every k in ``ks`` and collect all three codecs' points.

    ``done``: results already computed (by k) are reused. Returns ``{"decoder": [...],
    "jpeg_curve": [...], "results": {k: CompressResult}, "baselines": {k: {...}}}``; each
    decoder point is :func:`stats` plus ``jpeg_equal_size`` and ``haar_equal_coefficients``.
    """
    cfg = config or CodecConfig()
    results = dict(done or {})
    points, base = [], {}
    for k in ks:
        if k not in results:
            if log:
                log(f"rate-distortion: compressing with k = {k}")
            results[k] = compress(img, replace(cfg, k=int(k)))
        base[k] = equal_size_baselines(img, results[k])
        points.append(compression_report(img, results[k], base[k]))
    return {"decoder": points, "jpeg_curve": jpeg_curve(img, qualities),
            "results": results, "baselines": base}


def markdown_table(points: Sequence[dict]) -> str:
    """One row per decoder point: size, k, bytes (of which header), bpp, ratio, PSNRs, encode s.

    JPEG is at the largest quality whose file is not larger than the ``.tdd`` file; Haar keeps
    as many coefficients as the decoder has parameters. PSNRs in dB of 8-bit images.
    """
    head = ("| image | k | params | bytes (header) | bpp | ratio | Deep Decoder PSNR "
            "| JPEG PSNR (q) | Haar PSNR | encode s |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for p in points:
        j, h = p["jpeg_equal_size"], p["haar_equal_coefficients"]
        jq = f"{j['psnr']:.2f} (q{j['quality']}{', over size' if j['exceeds'] else ''})"
        rows.append(f"| {p['height']}x{p['width']} | {p['k']} | {p['num_parameters']} | "
                    f"{p['file_bytes']} ({p['header_bytes']}) | {p['bits_per_pixel']:.3f} | "
                    f"{p['compression_ratio']:.1f} | {p['psnr']:.2f} | {jq} | "
                    f"{h['psnr']:.2f} | {p['encode_seconds']:.1f} |")
    return "\n".join(rows)


def plot_rate_distortion(img: np.ndarray, rd: dict, path: str | os.PathLike,
                         show_k: int | None = None, title: str | None = None) -> Path:
    """PSNR vs bits per pixel for the three codecs, and decoded images at one rate.

    ``show_k``: the decoder point whose images are shown (default: the middle one).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    pts = sorted(rd["decoder"], key=lambda p: p["bits_per_pixel"])
    if not pts:
        raise ValueError("plot_rate_distortion: no decoder points")
    ks = [p["k"] for p in pts]
    show_k = ks[len(ks) // 2] if show_k is None else show_k
    if show_k not in rd["results"]:
        raise ValueError(f"plot_rate_distortion: no result for k = {show_k}")
    fig = Figure(figsize=(13, 5.2), layout="constrained")
    grid = fig.add_gridspec(2, 3, width_ratios=[2.2, 1, 1])
    ax = fig.add_subplot(grid[:, 0])
    bpp = [p["bits_per_pixel"] for p in pts]
    ax.plot(bpp, [p["psnr"] for p in pts], "o-", color="tab:blue",
            label=f"Deep Decoder ({pts[0]['bits']}-bit weights)")
    for p in pts:
        ax.annotate(f"k={p['k']}", (p["bits_per_pixel"], p["psnr"]), textcoords="offset points",
                    xytext=(4, -11), fontsize=8, color="tab:blue")
    jc = rd["jpeg_curve"]
    ax.plot([p["bits_per_pixel"] for p in jc], [p["psnr"] for p in jc], "s--",
            color="tab:orange", label="JPEG (quality sweep)", markersize=4)
    ax.plot([p["jpeg_equal_size"]["bits_per_pixel"] for p in pts],
            [p["jpeg_equal_size"]["psnr"] for p in pts], "s", color="tab:red",
            label="JPEG at the .tdd size", markersize=7, fillstyle="none")
    ax.plot(bpp, [p["haar_equal_coefficients"]["psnr"] for p in pts], "^-", color="tab:green",
            label="Haar, same # coefficients\n(coefficient storage not counted)")
    xmax = max(bpp) * 1.6
    ax.set_xlim(0, xmax)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    h, w = img.shape[:2]
    ax.set_title(title or f"rate-distortion, {h}x{w}")
    p = next(p for p in pts if p["k"] == show_k)
    base = rd["baselines"][show_k]
    panels = [("original", img),
              (f"Deep Decoder k={show_k}\n{p['file_bytes']} B, {p['psnr']:.2f} dB",
               rd["results"][show_k].image),
              (f"JPEG q{base['jpeg']['quality']}\n{base['jpeg']['bytes']} B, "
               f"{base['jpeg']['psnr']:.2f} dB", base["jpeg"]["image"]),
              (f"Haar, {base['haar']['keep']} coefficients\n{base['haar']['psnr']:.2f} dB",
               base["haar"]["image"])]
    for i, (name, im) in enumerate(panels):
        a = fig.add_subplot(grid[i // 2, 1 + i % 2])
        arr = np.clip(np.asarray(im, np.float32), 0, 1)
        if arr.shape[2] == 1:
            a.imshow(arr[:, :, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        else:
            a.imshow(arr, interpolation="nearest")
        a.set_title(name, fontsize=9)
        a.set_xticks([])
        a.set_yticks([])
    FigureCanvasAgg(fig)
    out = Path(path)
    try:  # atomically, and through a device or pipe (never replacing it)
        write_with(out, lambda f: fig.savefig(f, format="png", dpi=100))
    except OSError as exc:
        raise ValueError(f"cannot write figure: {exc}") from None
    return out
