"""Inpainting masks: ``(H, W)`` bool arrays with ``True`` = known (observed) pixel.

* :func:`hole_mask`, :func:`text_mask` -- a square hole, overlaid text;
* :func:`apply_mask` -- the observation (unknown pixels set to a fill value);
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

import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from .noise import _check_rng


def _check_hw(h: int, w: int) -> tuple[int, int]:
    if int(h) != h or int(w) != w or h < 1 or w < 1:
        raise ValueError(f"mask size must be positive integers, got {h}x{w}")
    return int(h), int(w)


def hole_mask(h: int, w: int, frac: float, rng: np.random.Generator) -> np.ndarray:
    """One rectangular hole at a random position fully inside the image.

    Parameters
    ----------
    h, w : image size.
    frac : hole side as a fraction of the image side, ``0 <= frac < 1``.
    rng : picks the position.

    Returns
    -------
    mask : ``(h, w)`` bool, ``False`` inside the hole.

    Notes
    -----
    The hole is ``hh x hw`` with ``hh = round(frac * h)``, ``hw = round(frac * w)`` (so it
    covers about ``frac**2`` of the pixels; at least 1 x 1 if ``frac > 0``). Its top-left
    corner ``(r, c)`` is uniform on ``0 <= r <= h - hh``, ``0 <= c <= w - hw``.
    """
    _check_rng(rng)
    h, w = _check_hw(h, w)
    if not 0.0 <= frac < 1.0:
        raise ValueError(f"frac must be in [0, 1), got {frac!r}")
    mask = np.ones((h, w), dtype=bool)
    if frac == 0:
        return mask
    hh, hw = max(1, round(frac * h)), max(1, round(frac * w))
    r = int(rng.integers(0, h - hh + 1))
    c = int(rng.integers(0, w - hw + 1))
    mask[r:r + hh, c:c + hw] = False
    return mask


def _random_words(rng: np.random.Generator, n: int) -> str:
    letters = string.ascii_letters
    words = ["".join(letters[i] for i in rng.integers(0, len(letters), rng.integers(2, 8)))
             for _ in range(n)]
    return " ".join(words)


def _load_font(size: int) -> tuple[ImageFont.ImageFont | ImageFont.FreeTypeFont, int, int]:
    """(font, integer upscale, font px at canvas resolution) for Pillow's default font.

    ``load_default(size=...)`` (Pillow >= 10.1 with FreeType) gives ``(font, 1, size)``;
    otherwise the ~11 px bitmap font is drawn small and upscaled: ``(font, ~size/11, 11)``.
    """
    try:
        font = ImageFont.load_default(size=size)
        if isinstance(font, ImageFont.FreeTypeFont):
            return font, 1, size
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or no FreeType
        pass
    return ImageFont.load_default(), max(1, round(size / 11)), 11


def text_mask(
    h: int,
    w: int,
    rng: np.random.Generator,
    text: str | None = None,
    font_size: int | None = None,
) -> np.ndarray:
    """Inpainting mask of overlaid text lines (``False`` where text covers the image).

    Parameters
    ----------
    h, w : image size.
    rng : picks words, line offsets and horizontal shifts (deterministic for a given seed
        and Pillow version).
    text : text to repeat along every line; default random "words" of 2-7 letters.
    font_size : pixel size; default ``max(8, round(min(h, w) / 8))``.

    Returns
    -------
    mask : ``(h, w)`` bool, True = known.

    Notes
    -----
    Lines are ``round(1.5 * font_size)`` apart (first line offset random), each shifted
    left by a random amount, drawn with Pillow's default font (``load_default(size=...)`` on
    Pillow >= 10.1, else the bitmap font upscaled by an integer factor). Pixels at least
    half covered by the anti-aliased text are unknown: about 15 % of them at 128 x 128.
    """
    _check_rng(rng)
    h, w = _check_hw(h, w)
    size = max(8, round(min(h, w) / 8)) if font_size is None else int(font_size)
    if size < 1:
        raise ValueError(f"font_size must be positive, got {font_size!r}")
    if text is not None and not text.strip():
        raise ValueError("text must contain at least one non-space character")
    font, scale, fs = _load_font(size)
    ch, cw = -(-h // scale), -(-w // scale)  # canvas at font resolution
    step = max(2, round(1.5 * fs))
    canvas = Image.new("L", (cw, ch), 0)
    draw = ImageDraw.Draw(canvas)
    y = -int(rng.integers(0, step))
    n_words = max(4, int(cw / fs))  # more than enough letters to cross the canvas
    while y < ch:
        line = _random_words(rng, n_words) if text is None else (text.strip() + " ") * n_words
        x = -int(rng.integers(0, max(1, round(3 * fs))))
        draw.text((x, y), line, fill=255, font=font)
        y += step
    ink = np.asarray(canvas) >= 128
    if scale > 1:
        ink = np.repeat(np.repeat(ink, scale, axis=0), scale, axis=1)[:h, :w]
    return ~ink


def apply_mask(img: np.ndarray, mask: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Set unknown pixels (``mask == False``) of an ``(H, W)`` or ``(H, W, C)`` image to ``fill``.

    ``mask`` is ``(H, W)``, bool or 0/1 numbers. Returns a new array of ``img``'s dtype.
    """
    a = np.asarray(img)
    m = _as_bool_mask(mask)
    if a.ndim not in (2, 3) or a.shape[:2] != m.shape:
        raise ValueError(f"image of shape {a.shape} does not match mask of shape {m.shape}")
    mm = m if a.ndim == 2 else m[:, :, None]
    return np.where(mm, a, np.asarray(fill, dtype=a.dtype)).astype(a.dtype, copy=False)


def _as_bool_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D (H, W), got shape {m.shape}")
    if m.dtype != bool:
        if not np.all((m == 0) | (m == 1)):
            raise ValueError("mask must be boolean or contain only 0 and 1")
        m = m.astype(bool)
    return m


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
    alpha is read with Pillow (``tinydip.io.images.load_image`` drops it). ValueError if the
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
