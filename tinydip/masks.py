"""Inpainting masks made from an image or at random: no image editor needed.

Masks are ``(H, W)`` bool arrays with ``True`` = known (observed) pixel, as everywhere in
tinydip (:mod:`tinydip.degrade` makes hole and text masks).

* :func:`random_mask` -- every pixel dropped with probability ``drop`` (the paper's
  "50 % of the pixels missing" experiment), the same pixels in every channel.
* :func:`mask_from_color` -- pixels within ``tol`` of a colour are unknown (white text, a
  watermark colour).
* :func:`mask_from_threshold` -- pixels brighter than a level are unknown.
* :func:`mask_from_alpha` -- transparent pixels of a PNG are unknown.
* :func:`mask_from_spec` -- the CLI's ``--mask-from`` text (``white``, ``#ff0000,0.1``,
  ``threshold:0.9``, ``alpha``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["random_mask", "parse_color", "mask_from_color", "mask_from_threshold",
           "mask_from_alpha", "mask_from_spec", "COLORS", "DEFAULT_TOL"]

COLORS = {"white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "red": (1.0, 0.0, 0.0),
          "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0),
          "cyan": (0.0, 1.0, 1.0), "magenta": (1.0, 0.0, 1.0)}
DEFAULT_TOL = 0.05  # ~13/255 per channel: absorbs 8-bit rounding and mild JPEG ringing
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights: brightness of an RGB pixel


def random_mask(h: int, w: int, drop: float, rng: np.random.Generator) -> np.ndarray:
    """Each pixel unknown with probability ``drop`` (0 < drop < 1), independently; the same
    pixels in every channel. Returns ``(h, w)`` bool, True = known. ``rng.random((h, w)) >=
    drop`` -- so a given seed gives the same mask at any ``drop`` threshold."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not 0.0 < drop < 1.0:
        raise ValueError(f"drop must be a fraction between 0 and 1 (exclusive), got {drop!r}")
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"mask size must be positive integers, got {h}x{w}")
    return rng.random((int(h), int(w))) >= drop


def parse_color(text: str) -> tuple[float, float, float]:
    """A colour name (:data:`COLORS`), ``#rrggbb`` or ``#rgb`` -> RGB in [0, 1]."""
    t = text.strip().lower()
    if t in COLORS:
        return COLORS[t]
    hexpart = t[1:] if t.startswith("#") else None
    if hexpart is not None and len(hexpart) in (3, 6) and \
            all(ch in "0123456789abcdef" for ch in hexpart):
        if len(hexpart) == 3:
            hexpart = "".join(ch * 2 for ch in hexpart)
        return tuple(int(hexpart[i:i + 2], 16) / 255 for i in (0, 2, 4))
    raise ValueError(f"cannot read the colour {text!r}: give a name ({', '.join(COLORS)}), "
                     "#rrggbb or #rgb")


def _brightness(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2:
        return a
    return a[:, :, 0] if a.shape[2] == 1 else a[:, :, :3] @ LUMA


def mask_from_color(img: np.ndarray, color, tol: float = DEFAULT_TOL) -> np.ndarray:
    """Unknown where every channel is within ``tol`` of ``color`` (max |difference| <= tol,
    values in [0, 1]); ``color``: RGB in [0, 1] or a text for :func:`parse_color`. A
    grayscale image is compared with the colour's brightness (BT.601 luma)."""
    rgb = np.asarray(parse_color(color) if isinstance(color, str) else color, dtype=np.float64)
    if not 0.0 <= tol < 1.0:
        raise ValueError(f"colour tolerance must be in [0, 1), got {tol!r}")
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 2 or a.shape[2] == 1:
        diff = np.abs(_brightness(a) - float(rgb @ LUMA))
    else:
        diff = np.abs(a[:, :, :3] - rgb).max(axis=2)
    return ~(diff <= tol + 1e-6)  # float32 images: 0.8 is 0.8000000119


def mask_from_threshold(img: np.ndarray, level: float) -> np.ndarray:
    """Unknown where the brightness (BT.601 luma of RGB, or the grey value) is > ``level``
    (in [0, 1)): bright text or scratches on a darker image."""
    if not 0.0 <= level < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {level!r}")
    return ~(_brightness(img) > level)


def mask_from_alpha(path: str | Path) -> np.ndarray:
    """Unknown where the image file's alpha is below one half (transparent pixels); the
    alpha is read with Pillow (``tinydip.images.load_image`` drops it). ValueError if the
    file has no alpha channel (nor a transparent palette entry)."""
    p = Path(path)
    try:
        with Image.open(p) as im:
            has_alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or \
                "transparency" in im.info
            if not has_alpha:
                raise ValueError(f"--mask-from alpha: {p} has no alpha channel (mode {im.mode}); "
                                 "save it as a PNG with transparency, or use --mask")
            alpha = np.asarray(im.convert("RGBA"))[:, :, 3]
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"cannot read the alpha channel of {p}: {exc}") from None
    return alpha >= 128


def mask_from_spec(spec: str, img: np.ndarray, path: str | Path | None = None) -> np.ndarray:
    """The CLI's ``--mask-from SPEC`` on an HxWxC image: ``COLOR[,TOL]`` (a name or #rrggbb,
    tolerance default :data:`DEFAULT_TOL`), ``threshold:T`` or ``alpha`` (read from
    ``path``). Raises ValueError naming the problem."""
    s = spec.strip()
    if s.lower() == "alpha":
        if path is None:
            raise ValueError("--mask-from alpha needs the image file")
        return mask_from_alpha(path)
    if s.lower().startswith("threshold:"):
        value = s.split(":", 1)[1]
        try:
            level = float(value)
        except ValueError:
            raise ValueError(f"--mask-from threshold:T needs a number T in [0, 1), got "
                             f"{value!r}") from None
        return mask_from_threshold(img, level)
    color, _, tol_text = s.partition(",")
    tol = DEFAULT_TOL
    if tol_text:
        try:
            tol = float(tol_text)
        except ValueError:
            raise ValueError(f"--mask-from {spec}: the tolerance {tol_text!r} is not a "
                             "number") from None
    return mask_from_color(img, parse_color(color), tol)
