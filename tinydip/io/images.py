"""Image I/O and layout helpers: load/save, built-in sample, HWC <-> NCHW, pad/crop.

User-facing images are ``H x W x C`` float32 arrays in ``[0, 1]`` with ``C = 1``
(grayscale) or ``C = 3`` (RGB). Networks see ``(1, C, H, W)`` tensors.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .files import atomic_write, input_problem
from .png16 import is_gray_alpha16, read_gray_alpha16

__all__ = [
    "ImageError",
    "load_image",
    "save_image",
    "sample_image",
    "to_tensor",
    "to_image",
    "pad_to_multiple",
    "crop",
    "check_min_size",
]

PathLike = str | os.PathLike

_SAMPLE_NAME = "grace_hopper.jpg"
_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_TO_RGB_MODES = ("RGB", "CMYK", "YCbCr", "LAB", "HSV", "RGBX")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
_Resampling = getattr(Image, "Resampling", Image)  # Pillow < 9.1 has no Image.Resampling


class ImageError(ValueError):
    """An image file could not be read or written (missing, not an image, corrupt...)."""


def _pil_to_array(img: Image.Image, name: str) -> np.ndarray:
    """Convert a loaded Pillow image to an ``H x W x C`` float32 array in [0, 1]."""
    mode = img.mode
    if mode == "P":
        has_alpha = "transparency" in img.info
        img, mode = img.convert("RGBA" if has_alpha else "RGB"), ("RGBA" if has_alpha else "RGB")
    if mode in _ALPHA_MODES:
        warnings.warn(f"{name}: image has an alpha channel ({mode}); dropping it",
                      UserWarning, stacklevel=3)
        img = img.convert("L" if mode in ("LA", "La") else "RGB")
        mode = img.mode
    if mode == "1":
        img, mode = img.convert("L"), "L"
    if mode in _TO_RGB_MODES:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    elif mode == "L":
        arr = np.asarray(img, dtype=np.float32) / 255.0
    elif mode in _16BIT_MODES:
        arr = np.asarray(img).astype(np.float64) / 65535.0
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float64)
    else:
        raise ImageError(f"{name}: unsupported image mode {mode!r}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.clip(_finite(arr, name), 0.0, 1.0).astype(np.float32)


_PIPE_LIMIT = 1 << 30  # bytes read from a pipe at most (1 GiB)


def _source(p: Path) -> Path | io.BytesIO:
    """``p`` itself for a regular file; its bytes for a pipe or device (``/dev/stdin``,
    ``<(...)``), which Pillow cannot seek in."""
    if p.is_file():
        return p
    with open(p, "rb") as f:
        data = f.read(_PIPE_LIMIT + 1)
    if len(data) > _PIPE_LIMIT:
        raise ImageError(f"{p}: more than {_PIPE_LIMIT >> 20} MiB from a pipe; save it to a file")
    if not data:
        raise ImageError(f"{p}: empty input (nothing was read)")
    return io.BytesIO(data)


def _rewind(src: Path | io.BytesIO) -> Path | io.BytesIO:
    if isinstance(src, io.BytesIO):
        src.seek(0)
    return src


def _finite(arr: np.ndarray, name: str) -> np.ndarray:
    """Refuse images with NaN or infinite pixels (float TIFFs), naming the file."""
    bad = arr.size - int(np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ImageError(f"{name}: {bad} pixel value(s) are NaN or infinite; fix or replace them")
    return arr


def load_image(path: PathLike) -> np.ndarray:
    """Read an image file (any format Pillow reads) as float32 in ``[0, 1]``.

    Parameters
    ----------
    path : file name.

    Returns
    -------
    img : ``(H, W, C)`` float32, ``C = 1`` for grayscale files, ``C = 3`` otherwise.

    Raises
    ------
    ImageError
        (a ``ValueError``) if the file is missing, not an image, corrupt or truncated,
        or has a mode that cannot be mapped to gray/RGB.

    Notes
    -----
    Mode mapping: ``L``/``1`` -> C=1 (values / 255); 16-bit gray ``I;16*``/``I`` -> C=1
    (values / 65535, clipped); ``F`` -> C=1 (clipped to [0, 1]); ``RGB``/``CMYK``/``YCbCr``
    /... -> C=3; ``P`` -> RGB; ``RGBA``/``LA``/``PA`` -> alpha dropped with a
    ``UserWarning``. EXIF orientation is applied. Pillow itself reduces 16-bit RGB files
    to 8 bits. Truncated files are always an error: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is
    forced to ``False`` while decoding, and PNG chunk structure/CRCs are checked with
    ``Image.verify`` (which also catches a file cut after the pixel data).
    """
    p = Path(path)
    name = str(p)
    if input_problem(p):
        raise ImageError(f"{name}: {input_problem(p)}")
    if not p.exists():
        raise ImageError(f"{name}: no such file")
    if p.is_dir():
        raise ImageError(f"{name}: is a directory, not an image file")
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        src = _source(p)
        if is_gray_alpha16(src):  # Pillow reads these as 8-bit RGBA of the low bytes
            try:
                return read_gray_alpha16(src, name)
            except ValueError as exc:
                raise ImageError(str(exc)) from None
        with Image.open(src) as im:
            im.load()
            fmt = im.format
            im = ImageOps.exif_transpose(im) or im
            arr = _pil_to_array(im, name)
        if fmt == "PNG":  # load() tolerates a cut after the last IDAT; verify() walks all chunks
            with Image.open(_rewind(src)) as im:
                im.verify()
        return arr
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file (unrecognised format)") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{name}: image too large ({exc})") from None
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageError(f"{name}: corrupt or truncated image file ({msg})") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def load_input(path: PathLike, what: str) -> np.ndarray:
    """:func:`load_image` of a file a person named (``what``: "image", "mask", ...); a
    missing file is a one-line ValueError that says which."""
    problem = input_problem(path)
    if problem:
        raise ValueError(f"{what} file {path}: {problem}")
    if not Path(path).exists():
        raise ValueError(f"{what} file not found: {path}")
    return load_image(path)


def save_image(path: PathLike, img: np.ndarray) -> Path:
    """Write a float image in ``[0, 1]`` as an 8-bit file (PNG unless the suffix says otherwise).

    Parameters
    ----------
    path : destination; no suffix -> PNG, else the format Pillow associates with the suffix.
    img : ``(H, W)``, ``(H, W, 1)`` (saved as grayscale) or ``(H, W, 3)`` (RGB) float array.

    Returns
    -------
    The path written, as a ``Path``.

    Notes
    -----
    ``u8 = round(clip(img, 0, 1) * 255)``. Non-finite values are rejected.
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"save_image expects HxW, HxWx1 or HxWx3, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"save_image got an empty image of shape {a.shape}")
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"save_image expects a float image in [0, 1], got dtype {a.dtype}")
    if not np.all(np.isfinite(a)):
        raise ValueError("save_image got NaN or infinite pixel values")
    u8 = np.round(np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    p = Path(path)
    fmt = "PNG" if p.suffix == "" else Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"{p}: cannot write image (unknown extension {p.suffix!r})")
    try:
        with atomic_write(p) as f:  # a temporary file renamed into place: never truncated
            Image.fromarray(u8).save(f, format=fmt)
    except (OSError, ValueError, KeyError) as exc:
        raise ImageError(f"{p}: cannot write image ({' '.join(str(exc).split())})") from None
    return p


def _sample_path() -> Path:
    """Locate matplotlib's bundled ``grace_hopper.jpg`` across matplotlib versions."""
    import matplotlib
    import matplotlib.cbook as cbook

    candidates: list[Path] = []
    try:
        got = cbook.get_sample_data(_SAMPLE_NAME, asfileobj=False)
        candidates.append(Path(got))
    except Exception:  # noqa: BLE001 - any failure just means "try the next place"
        pass
    candidates.append(Path(matplotlib.get_data_path()) / "sample_data" / _SAMPLE_NAME)
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"built-in sample image {_SAMPLE_NAME!r} not found in matplotlib's sample data "
        f"(looked in: {', '.join(str(c) for c in candidates)}); pass an image file instead")


@lru_cache(maxsize=2)
def _sample_pil(gray: bool) -> Image.Image:
    with Image.open(_sample_path()) as im:
        im.load()
        return im.convert("L" if gray else "RGB")


def sample_image(size: int | Sequence[int] = 128, gray: bool = False) -> np.ndarray:
    """The built-in test image (Grace Hopper, shipped with matplotlib).

    Parameters
    ----------
    size : output side ``S`` (square) or ``(H, W)``.
    gray : if True return one luminance channel.

    Returns
    -------
    img : ``(H, W, C)`` float32 in [0, 1], ``C = 1`` if ``gray`` else 3.

    Notes
    -----
    The largest centred crop with the target aspect ratio ``W / H`` (a square for an int
    ``size``) is taken, then resized with Pillow's LANCZOS filter in 8 bits.
    """
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or (H, W), got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    im = _sample_pil(bool(gray))
    sw, sh = im.size
    if sw * h > sh * w:  # source too wide: crop width
        cw, ch = max(1, round(sh * w / h)), sh
    else:
        cw, ch = sw, max(1, round(sw * h / w))
    left, top = (sw - cw) // 2, (sh - ch) // 2
    out = im.resize((w, h), _Resampling.LANCZOS, box=(left, top, left + cw, top + ch))
    return _pil_to_array(out, _SAMPLE_NAME)


def to_tensor(img: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """``(H, W, C)`` or ``(H, W)`` image -> ``(1, C, H, W)`` contiguous array of ``dtype``."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"to_tensor expects an HxW or HxWxC image, got shape {a.shape}")
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None], dtype=dtype)


def to_image(t: np.ndarray) -> np.ndarray:
    """``(1, C, H, W)`` or ``(C, H, W)`` tensor -> ``(H, W, C)`` contiguous array (same dtype)."""
    a = np.asarray(t)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"to_image expects a batch of one image, got shape {a.shape}")
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"to_image expects (1, C, H, W) or (C, H, W), got shape {a.shape}")
    return np.ascontiguousarray(a.transpose(1, 2, 0))


def pad_to_multiple(
    x: np.ndarray, multiple: int, mode: str = "reflect"
) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the last two axes at the bottom/right so ``H`` and ``W`` are multiples of ``multiple``.

    Parameters
    ----------
    x : ``(..., H, W)`` array, typically NCHW.
    multiple : positive int (e.g. ``2 ** depth`` of a U-Net).
    mode : ``np.pad`` mode, default ``"reflect"``.

    Returns
    -------
    padded : ``(..., H', W')`` with ``H' = ceil(H / m) m``, ``W' = ceil(W / m) m``.
    size : ``(H, W)``, pass to :func:`crop` to undo.

    Notes
    -----
    Padding is added only at the bottom and right, so ``crop`` is ``x[..., :H, :W]`` and the
    original pixels keep their coordinates. NumPy's ``"reflect"`` reflects repeatedly when
    the pad exceeds the axis length (``pad >= H``), so any size works; an axis of length 1 is
    simply repeated.
    """
    a = np.asarray(x)
    if a.ndim < 2:
        raise ValueError(f"pad_to_multiple expects at least 2 dims (..., H, W), got {a.shape}")
    if isinstance(multiple, bool) or not isinstance(multiple, (int, np.integer)) or multiple < 1:
        raise ValueError(f"multiple must be a positive int, got {multiple!r}")
    h, w = a.shape[-2:]
    if h == 0 or w == 0:
        raise ValueError(f"cannot pad an empty image of shape {a.shape}")
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return a.copy(), (h, w)
    widths = [(0, 0)] * (a.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(a, widths, mode=mode), (h, w)


def crop(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Undo :func:`pad_to_multiple`: return ``x[..., :H, :W]`` (a copy) for ``size = (H, W)``."""
    a = np.asarray(x)
    h, w = (int(s) for s in size)
    if a.ndim < 2 or a.shape[-2] < h or a.shape[-1] < w:
        raise ValueError(f"cannot crop array of shape {a.shape} to {h}x{w}")
    return a[..., :h, :w].copy()


def check_min_size(h: int, w: int, minimum: int = 32) -> None:
    """Raise ``ValueError`` unless ``h >= minimum`` and ``w >= minimum``."""
    if h < minimum or w < minimum:
        raise ValueError(f"image is {h}x{w} pixels; at least {minimum}x{minimum} is required")
