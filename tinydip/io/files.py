"""Writing files without losing them: atomic writes, strict JSON, output paths checked early.

Every file tinydip writes (images, reports, figures, ``.tdd`` files) goes through
:func:`atomic_write`: the bytes go to a temporary file in the destination's folder, are
flushed to disk, and only then renamed over the destination. A full disk, a crash or a
signal half way leaves the old file (or none), never a truncated one, and the error names
the file.

:func:`check_outputs` validates output paths *before* a long run starts (missing folder, a
folder given as a file, an extension no writer supports, two outputs on one path), so a typo
costs a second, not a fit.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["OutputPathError", "atomic_write", "write_bytes", "write_json", "strict_json",
           "to_strict", "check_outputs", "IMAGE_EXTENSIONS", "FIGURE_EXTENSIONS"]

PathLike = str | os.PathLike

# Extensions tinydip's writers accept (an empty suffix means PNG for images).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                    ".gif", "")
FIGURE_EXTENSIONS = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".ps", ".tif", ".tiff",
                     ".webp", ".pgf", ".svgz", "")


class OutputPathError(ValueError):
    """An output path cannot be written (checked before any work starts)."""


@contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    ``with atomic_write("out.png") as f: f.write(data)``. On any exception (including
    ``KeyboardInterrupt``) the temporary file is removed and ``path`` is untouched. An
    ``OSError`` (disk full, permission) is re-raised as ``OSError`` naming ``path``.
    """
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OSError(f"{p}: cannot write ({exc.strerror or exc})") from None
    ok = False
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
        ok = True
    except OSError as exc:
        raise OSError(f"{p}: cannot write ({exc.strerror or exc})") from None
    finally:
        if not ok:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def to_strict(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON can hold: non-finite floats become ``None``,
    NumPy scalars and arrays become Python numbers and lists, tuples become lists."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Mapping):
        return {str(k): to_strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_strict(v) for v in obj]
    if isinstance(obj, (np.generic, np.ndarray)):  # NumPy scalars and arrays
        return to_strict(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def strict_json(obj: Any, indent: int | None = 2) -> str:
    """``json.dumps`` that never writes ``NaN`` / ``Infinity`` (they become ``null``)."""
    return json.dumps(to_strict(obj), indent=indent, allow_nan=False)


def write_json(path: PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict JSON (see :func:`strict_json`) atomically."""
    return write_bytes(path, (strict_json(obj) + "\n").encode())


def check_outputs(outputs: Mapping[str, tuple[PathLike | None, tuple[str, ...]]],
                  inputs: Mapping[str, PathLike | None] | None = None) -> None:
    """Check output paths before any work starts; raise :class:`OutputPathError` if one is bad.

    Parameters
    ----------
    outputs : ``{option: (path or None, allowed suffixes)}``, e.g.
        ``{"--out": ("x.png", IMAGE_EXTENSIONS), "--report": ("r.json", (".json",))}``.
    inputs : ``{option: path}`` that no output may overwrite.

    Checks, with one line naming the option and the path: the folder exists and is a folder,
    the path is not an existing folder, the suffix is one a writer supports, the folder is
    writable, no two outputs (nor an output and an input) are the same file.
    """
    seen: dict[Path, str] = {}
    for opt, p in (inputs or {}).items():
        if p is not None:
            seen[Path(p).resolve()] = opt
    for opt, (path, suffixes) in outputs.items():
        if path is None:
            continue
        p = Path(path)
        if str(path).endswith(os.sep) or p.is_dir():
            raise OutputPathError(f"{opt} {path}: is a folder; give a file name")
        folder = p.parent if str(p.parent) else Path(".")
        if not folder.exists():
            raise OutputPathError(f"{opt} {path}: folder {folder} does not exist")
        if not folder.is_dir():
            raise OutputPathError(f"{opt} {path}: {folder} is not a folder")
        if not os.access(folder, os.W_OK):
            raise OutputPathError(f"{opt} {path}: folder {folder} is not writable")
        if p.suffix.lower() not in suffixes:
            shown = ", ".join(s for s in suffixes if s) or "(none)"
            raise OutputPathError(f"{opt} {path}: unsupported extension {p.suffix or '(none)'!r}"
                                  f" (use one of {shown})")
        key = p.resolve()
        if key in seen:
            raise OutputPathError(f"{opt} {path}: same file as {seen[key]}")
        seen[key] = opt


def write_with(path: PathLike, writer: Callable[[IO[bytes]], None]) -> Path:
    """Atomically write ``path`` by calling ``writer(file_object)`` (e.g. ``fig.savefig``)."""
    with atomic_write(path, "wb") as f:
        writer(f)
    return Path(path)


__all__ += ["write_with"]
