"""Compress to a target: a file size (bytes or bits per pixel) or a PSNR.

The rate of a Deep Decoder file has two knobs: k (the number of weights; each k needs its
own fit, the expensive part) and the quantisation steps (cheap: a fine-tuning). The search:

1. k: the one given, or the widest of :data:`K_LADDER` whose estimated file fits the target
   (:func:`estimate_bytes`; for a PSNR target the narrowest k, widened when its float fit
   falls short -- at most :data:`MAX_FITS` fits);
2. one fit, then the global step factor f (every tensor's step times f: about
   n_weights * log2(f) / 8 bytes less) by bisection on encoded files: for a size, the
   smallest f whose file fits; for a PSNR, the largest f whose decoded file reaches it.

Every candidate is a complete encode (fine-tuning included) whose bytes and PSNR are those
of the written file. :class:`Search` records each candidate tried.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from ..models import decoder_num_parameters
from .encoder import CodecConfig, CompressResult, Fitted, choose_steps, encode_fitted
from .encoder import fit_image as _fit_image

K_LADDER = (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 80, 96, 128)
MAX_FITS = 3
HEADER_BYTES = 120  # format 3, 6 layers, ANS: framing + keys + 19 tensor records (measured)
BITS_PER_WEIGHT = {5: 4.4, 6: 5.3, 7: 6.2, 8: 7.1}  # ANS, rd allocation (measured, 256x256)
_FACTOR_RANGE = (1 / 16, 64.0)
Log = Callable[[str], None]


@dataclass
class Search:
    """What a target search tried and chose."""

    target: str  # "bytes <= N" or "psnr >= X dB"
    k: int
    step_factor: float
    fits: int = 0
    candidates: list[dict] = field(default_factory=list)  # k, step_factor, bytes, psnr
    met: bool = False

    def as_dict(self) -> dict:
        return {"target": self.target, "k": self.k, "step_factor": self.step_factor,
                "fits": self.fits, "met": self.met, "candidates": self.candidates}


def estimate_bytes(k: int, layers: int, channels: int, bits: int) -> int:
    """Rough size of a format-3 file before fitting (for the choice of k only)."""
    per = BITS_PER_WEIGHT.get(bits, 0.9 * bits)
    return int(HEADER_BYTES + decoder_num_parameters(k, layers, channels) * per / 8)


def k_for_bytes(max_bytes: int, layers: int, channels: int, bits: int) -> int:
    """The widest k of :data:`K_LADDER` whose :func:`estimate_bytes` is within ``max_bytes``."""
    fits = [k for k in K_LADDER if estimate_bytes(k, layers, channels, bits) <= max_bytes]
    return max(fits) if fits else K_LADDER[0]


def min_file_bytes(cfg: CodecConfig, shape: tuple[int, int, int]) -> int:
    """The smallest ``.tdd`` file a decoder of ``cfg`` can be: its header with every tensor
    constant (nothing to entropy-code). No step size makes a file smaller."""
    from .container import encode_tdd3
    from .decoding import MODEL, layout
    from .folded import tensor_shapes
    from .quantize import step_quantize

    H, W, C = shape
    arch = cfg.architecture(C)
    header = {"model": MODEL, "height": H, "width": W, "channels": C, "architecture": arch,
              "seed": int(cfg.seed)}
    zeros = {n: step_quantize(np.zeros(s, np.float32), 1.0)
             for n, s in tensor_shapes(arch).items()}
    return len(encode_tdd3(header, zeros, coder="none", layout=layout))


def psnr_ceiling(img: np.ndarray) -> float:
    """The highest PSNR any decoded file can reach: the decoder writes 8-bit pixels, and the
    8-bit image nearest to ``img`` is its rounding."""
    from ..metrics import psnr

    a = np.asarray(img)
    return psnr(np.round(np.clip(a.astype(np.float64), 0, 1) * 255) / 255, a)


def check_target(img: np.ndarray, cfg: CodecConfig, *, max_bytes: int | None = None,
                 min_psnr: float | None = None, choose_k: bool = True) -> None:
    """ValueError (one line, before any fit) for a target no file can meet."""
    if max_bytes is not None:
        k = min(K_LADDER[0], cfg.k) if choose_k else cfg.k
        least = min_file_bytes(replace(cfg, k=k), img.shape)
        if max_bytes < least:
            raise ValueError(f"target {max_bytes} bytes is impossible: the smallest file of a "
                             f"k={k} decoder of this image (its header alone) is {least} bytes")
    if min_psnr is not None:
        top = psnr_ceiling(img)
        if min_psnr > top:
            raise ValueError(f"target {min_psnr:g} dB is impossible: decoded files are 8-bit, "
                             f"and even the exact 8-bit rounding of this image is {top:.1f} dB")


def compress_to_size(img: np.ndarray, cfg: CodecConfig, max_bytes: int, *,
                     choose_k: bool = True, log: Log | None = None
                     ) -> tuple[CompressResult, Search]:
    """The best file of at most ``max_bytes`` bytes the search finds (see the module doc).

    If even the coarsest steps give a larger file, the smallest file found is returned with
    ``Search.met = False``.
    """
    if max_bytes < 1:
        raise ValueError(f"target size must be positive, got {max_bytes}")
    check_target(img, cfg, max_bytes=max_bytes, choose_k=choose_k)
    if choose_k:
        cfg = replace(cfg, k=k_for_bytes(max_bytes, cfg.layers, img.shape[2], cfg.bits))
    search = Search(f"bytes <= {max_bytes}", cfg.k, 1.0)
    _say(log, f"target {max_bytes} bytes: fitting k = {cfg.k}")
    fitted = _fit(img, cfg, search)
    steps = choose_steps(fitted, cfg)

    def size(f: float) -> CompressResult:
        return _candidate(fitted, cfg, steps, f, search, log)

    best = _bisect(size, lambda r: r.nbytes <= max_bytes, want_small_factor=True)
    search.met = best.nbytes <= max_bytes
    search.step_factor = _factor_of(best, search)
    return best, search


def compress_to_psnr(img: np.ndarray, cfg: CodecConfig, min_psnr: float, *,
                     choose_k: bool = True, log: Log | None = None
                     ) -> tuple[CompressResult, Search]:
    """The smallest file found whose decoded PSNR is at least ``min_psnr`` dB."""
    check_target(img, cfg, min_psnr=min_psnr)
    ks = [k for k in K_LADDER if k >= (K_LADDER[4] if choose_k else cfg.k)] if choose_k \
        else [cfg.k]
    search = Search(f"psnr >= {min_psnr:g} dB", ks[0], 1.0)
    fitted = None
    for k in ks:
        cfg = replace(cfg, k=k)
        _say(log, f"target {min_psnr:g} dB: fitting k = {k}")
        fitted = _fit(img, cfg, search)
        search.k = k
        if (fitted.psnr_float >= min_psnr + 0.05 or search.fits >= MAX_FITS or not choose_k
                or fitted.fit.interrupted):
            break
        _say(log, f"  k = {k} reaches {fitted.psnr_float:.2f} dB before quantisation: wider")
    assert fitted is not None
    steps = choose_steps(fitted, cfg)

    def quality(f: float) -> CompressResult:
        return _candidate(fitted, cfg, steps, f, search, log)

    best = _bisect(quality, lambda r: r.psnr >= min_psnr, want_small_factor=False)
    search.met = best.psnr >= min_psnr
    search.step_factor = _factor_of(best, search)
    return best, search


def _fit(img: np.ndarray, cfg: CodecConfig, search: Search) -> Fitted:
    search.fits += 1
    return _fit_image(img, cfg)


def _candidate(fitted: Fitted, cfg: CodecConfig, steps: dict[str, float], f: float,
               search: Search, log: Log | None) -> CompressResult:
    r = encode_fitted(fitted, cfg, steps=steps, step_factor=f)
    search.candidates.append({"k": cfg.k, "step_factor": f, "bytes": r.nbytes,
                              "psnr": r.psnr})
    _say(log, f"  k = {cfg.k}, step factor {f:.3g}: {r.nbytes} bytes, {r.psnr:.2f} dB")
    return r


def _bisect(run: Callable[[float], CompressResult], ok: Callable[[CompressResult], bool],
            want_small_factor: bool, rounds: int = 6) -> CompressResult:
    """Bisection on log2(factor) between the ok and the not-ok side.

    ``want_small_factor``: ok results lie at large factors (size targets: coarser steps give
    smaller files) and the smallest ok factor is wanted; else ok lies at small factors
    (PSNR targets) and the largest ok factor is wanted. Returns the best ok result, or the
    result closest to ok when none is.
    """
    lo, hi = (math.log2(x) for x in _FACTOR_RANGE)
    first = run(1.0)
    if first.interrupted_by is not None:  # Ctrl-C / SIGTERM: this file, now
        return first
    results = [(0.0, first)]
    good = [(0.0, first)] if ok(first) else []
    # [a, b]: not ok at a, ok at b (size targets) / ok at a, not ok at b (PSNR targets)
    if want_small_factor:
        a, b = (lo, 0.0) if ok(first) else (0.0, hi)
    else:
        a, b = (0.0, hi) if ok(first) else (lo, 0.0)
    for _ in range(rounds):
        mid = (a + b) / 2
        r = run(2.0 ** mid)
        if r.interrupted_by is not None:
            return r
        results.append((mid, r))
        is_ok = ok(r)
        if is_ok:
            good.append((mid, r))
        if is_ok == want_small_factor:
            b = mid
        else:
            a = mid
    if good:
        pick = min(good, key=lambda t: t[0]) if want_small_factor else max(good,
                                                                          key=lambda t: t[0])
        return pick[1]
    far = max(results, key=lambda t: t[0]) if want_small_factor else min(results,
                                                                       key=lambda t: t[0])
    return far[1]


def _factor_of(result: CompressResult, search: Search) -> float:
    for c in search.candidates:
        if c["bytes"] == result.nbytes and c["psnr"] == result.psnr:
            return c["step_factor"]
    return 1.0


def _say(log: Log | None, msg: str) -> None:
    if log is not None:
        log(msg)
