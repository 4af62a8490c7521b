"""A study's images: entries (files, folders, globs, ``sample:NAME@SIZE``) -> sources -> pixels.

The client resolves every entry to an :class:`ImageSource` (validation, dry run), and loads the
pixels right before a run is submitted: the pixel array travels with the run to the worker,
so workers need no shared filesystem. A source's ``content_hash`` (SHA-256 of the file's bytes,
or of a built-in sample's pixels) is part of every run key, so editing an image invalidates its
finished runs and renaming it does not.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..io.images import ImageError, load_image, sample_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_SAMPLE_SIZE = 64


def _mri_image(size: int) -> np.ndarray:
    """matplotlib's ``s1045.ima.gz``: a 256x256 16-bit MRI slice, gray, scaled to [0, 1]."""
    import matplotlib.cbook as cbook

    path = cbook.get_sample_data("s1045.ima.gz", asfileobj=False)
    with gzip.open(path, "rb") as f:
        raw = np.frombuffer(f.read(), np.uint16).reshape(256, 256).astype(np.float32)
    raw /= raw.max()
    im = Image.fromarray(raw).resize((size, size), Image.LANCZOS)
    return np.clip(np.asarray(im, np.float32), 0, 1)[:, :, None]


# Built-in samples: matplotlib's sample data (shipped with every matplotlib install).
SAMPLES = {
    "hopper": ("Grace Hopper photo, RGB", lambda s: sample_image(s)),
    "hopper-gray": ("Grace Hopper photo, gray", lambda s: sample_image(s, gray=True)),
    "mri": ("MRI slice (s1045), gray", _mri_image),
}


@dataclass(frozen=True)
class ImageSource:
    """One image of a study: a file or a built-in sample."""

    name: str  # label in rows and summaries (relative path or "sample:NAME@SIZE")
    path: str | None = None  # file (absolute); None for a sample
    sample: str | None = None
    size: int | None = None  # sample side
    content_hash: str = ""

    def load(self, resize: int | None = None) -> np.ndarray:
        """HxWxC float32 pixels (raises :class:`~tinydip.io.images.ImageError` if unreadable)."""
        if self.sample is not None:
            return _sample_pixels(self.sample, int(self.size or DEFAULT_SAMPLE_SIZE))
        img = load_image(self.path)
        return img if resize is None else square_resize(img, resize)


@lru_cache(maxsize=16)
def _sample_pixels(name: str, size: int) -> np.ndarray:
    img = SAMPLES[name][1](size)
    img.setflags(write=False)
    return img


def square_resize(img: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of ``img``, resized to ``size`` x ``size`` (Lanczos, float)."""
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    planes = []
    for c in range(img.shape[2]):
        im = Image.fromarray(np.ascontiguousarray(img[top:top + s, left:left + s, c]))
        planes.append(np.asarray(im.resize((size, size), Image.LANCZOS), np.float32))
    return np.clip(np.stack(planes, axis=2), 0, 1)


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pixel_hash(img: np.ndarray) -> str:
    a = np.ascontiguousarray(img, dtype=np.float32)
    return hashlib.sha256(repr(a.shape).encode() + a.tobytes()).hexdigest()


def _parse_sample(entry: str) -> tuple[str, int]:
    spec = entry[len("sample:"):]
    name, _, size = spec.partition("@")
    name = name.strip().lower()
    if name not in SAMPLES:
        raise ValueError(f"unknown built-in sample {name!r} in {entry!r}; choose from "
                         f"{', '.join(sorted(SAMPLES))}")
    if not size:
        return name, DEFAULT_SAMPLE_SIZE
    if not size.isdigit() or not 32 <= int(size) <= 1024:
        raise ValueError(f"{entry!r}: size after '@' must be an integer from 32 to 1024")
    return name, int(size)


def _label(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


def resolve_entry(entry: str, base: Path) -> list[ImageSource]:
    """Sources for one ``images`` entry; raises ``ValueError`` (one line) if it names nothing.

    Relative paths are relative to ``base`` (the study file's folder). A folder gives the
    image files directly inside it, a glob (``*``, ``?``, ``[``) its matches; both sorted.
    A listed file that exists but cannot be decoded is NOT an error here: its runs become
    failed rows.
    """
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError(f"images: entries must be non-empty strings, got {entry!r}")
    entry = entry.strip()
    if entry.startswith("sample:"):
        name, size = _parse_sample(entry)
        label = f"sample:{name}@{size}"
        return [ImageSource(label, sample=name, size=size,
                            content_hash=pixel_hash(_sample_pixels(name, size)))]
    p = Path(entry).expanduser()
    p = p if p.is_absolute() else base / p
    if any(ch in entry for ch in "*?["):
        paths = sorted(Path(m) for m in glob.glob(str(p), recursive=True))
        paths = [m for m in paths if m.is_file()]
        if not paths:
            raise ValueError(f"images: glob {entry!r} matches no file")
    elif p.is_dir():
        paths = sorted(m for m in p.iterdir()
                       if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise ValueError(f"images: folder {entry!r} has no image file "
                             f"({', '.join(IMAGE_SUFFIXES)})")
    elif p.is_file():
        paths = [p]
    else:
        raise ValueError(f"images: {entry!r}: no such file, folder or glob match")
    return [ImageSource(_label(m, base), path=str(m.resolve()), content_hash=_file_hash(m))
            for m in paths]


__all__ = ["ImageError", "ImageSource", "SAMPLES", "pixel_hash", "resolve_entry",
           "square_resize"]
