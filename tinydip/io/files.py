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

import errno
import io
import json
import math
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["OutputPathError", "atomic_write", "write_bytes", "write_json", "strict_json",
           "to_strict", "check_outputs", "input_problem", "IMAGE_EXTENSIONS", "FIGURE_EXTENSIONS"]

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
    """Write ``path`` so that a failure half way never leaves a truncated file.

    ``with atomic_write("out.png") as f: f.write(data)``. A new path or a regular file gets
    a temporary file beside it, renamed over it on success; on any exception (including
    ``KeyboardInterrupt``) the temporary file is removed and ``path`` is untouched. A
    symlink is followed (its target is replaced, the link stays). A device, a pipe or a
    socket (``/dev/null``, ``/dev/stdout``, a FIFO) is written THROUGH, never replaced:
    there is nothing to rename over. An ``OSError`` (disk full, permission, ``/dev/full``'s
    ENOSPC) is re-raised as ``OSError`` naming ``path``.
    """
    p = Path(path)
    try:
        target = _target(p)
    except OSError as exc:
        raise OSError(exc.strerror) from None  # one line: "PATH: cannot write (...)"
    if target is not None and not stat.S_ISREG(target[1]):
        with _write_through(p, target[0], mode) as f:
            yield f
        return
    dest = target[0] if target is not None else _follow(p)
    folder = dest.parent if str(dest.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise OSError(f"{p}: cannot write ({exc.strerror or exc})") from None
    ok = False
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
        ok = True
    except OSError as exc:
        raise OSError(f"{p}: cannot write ({exc.strerror or exc})") from None
    finally:
        if not ok:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _target(p: Path) -> tuple[Path, int] | None:
    """(the path a write lands on, its st_mode), or None for a new path; a symlink loop or
    an unreadable path is an ``OSError`` naming ``p``."""
    try:
        st = os.stat(p)  # follows symlinks
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP, EACCES, ENOTDIR (errno kept for check_outputs)
        raise OSError(exc.errno, f"{p}: cannot write ({exc.strerror or exc})") from None
    return (Path(os.path.realpath(p)) if stat.S_ISREG(st.st_mode) else p), st.st_mode


def _follow(p: Path) -> Path:
    """Where a write to a new path lands: a dangling symlink's target, else ``p``."""
    return Path(os.path.realpath(p)) if p.is_symlink() else p


@contextmanager
def _write_through(p: Path, real: Path, mode: str) -> Iterator[IO[Any]]:
    """Write into a device or pipe (no temporary file, no rename): the data is gathered in
    memory first (writers may seek), then written once; a failed write names ``p``."""
    buf: IO[Any] = io.BytesIO() if "b" in mode else io.StringIO()
    yield buf
    try:
        with open(real, mode) as f:
            f.write(buf.getvalue())
    except OSError as exc:  # /dev/full: ENOSPC on write, flush or close
        raise OSError(f"{p}: cannot write ({exc.strerror or exc})") from None


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
            seen[_key(Path(p))] = opt
    for opt, (path, suffixes) in outputs.items():
        if path is None:
            continue
        p = Path(path)
        if str(path).endswith(os.sep) or p.is_dir():
            raise OutputPathError(f"{opt} {path}: is a folder; give a file name")
        try:
            target = _target(p)
        except OSError as exc:  # a symlink loop; a file used as a folder: below
            if exc.errno == errno.ELOOP:
                raise OutputPathError(f"{opt} {path}: symlink loop (the link points back to "
                                      "itself)") from None
            target = None
        if target is not None and not stat.S_ISREG(target[1]):  # a device or pipe: through
            if not os.access(p, os.W_OK):
                raise OutputPathError(f"{opt} {path}: not writable")
        else:
            _check_folder(opt, path, target[0] if target is not None else _follow(p))
        if p.suffix.lower() not in suffixes:
            shown = ", ".join(s for s in suffixes if s) or "(none)"
            raise OutputPathError(f"{opt} {path}: unsupported extension {p.suffix or '(none)'!r}"
                                  f" (use one of {shown})")
        key = _key(p)
        if key in seen:
            raise OutputPathError(f"{opt} {path}: same file as {seen[key]}")
        seen[key] = opt


def _check_folder(opt: str, path: PathLike, dest: Path) -> None:
    """The folder a temporary file goes to exists, is a folder and is writable."""
    folder = dest.parent if str(dest.parent) else Path(".")
    if not folder.exists():
        raise OutputPathError(f"{opt} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise OutputPathError(f"{opt} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK):
        raise OutputPathError(f"{opt} {path}: folder {folder} is not writable")


def _key(p: Path) -> Path:
    """One name per file (symlinks followed; a symlink loop is its own name, no error)."""
    return Path(os.path.realpath(p))


def input_problem(path: PathLike) -> str | None:
    """Why an input path cannot be opened before trying (``"symlink loop"``), or None."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (the link points back to itself)"
    return None


def write_with(path: PathLike, writer: Callable[[IO[bytes]], None]) -> Path:
    """Atomically write ``path`` by calling ``writer(file_object)`` (e.g. ``fig.savefig``)."""
    with atomic_write(path, "wb") as f:
        writer(f)
    return Path(path)


__all__ += ["write_with"]
