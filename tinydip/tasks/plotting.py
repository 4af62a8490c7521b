"""Figures: training dynamics (loss / PSNR vs iteration) and image grids, saved as PNG.

Uses ``matplotlib.figure.Figure`` with the Agg canvas directly, so nothing touches pyplot's
global state or opens a window.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io.files import atomic_write

__all__ = ["plot_training", "plot_grid"]

_MARK_COLORS = ("tab:red", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
_STAT_COLOR = "tab:cyan"  # the stopping statistic: not one of the marks' colours


def _display_array(img: np.ndarray, name: str) -> tuple[np.ndarray, str | None]:
    """``(H, W)``, ``(H, W, 1|3)`` or ``(1, C, H, W)`` -> (array for imshow, cmap)."""
    a = np.asarray(img)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0].transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise ValueError(f"image {name!r}: expected HxW, HxWx1, HxWx3 or 1xCxHxW, "
                         f"got shape {np.shape(img)}")
    a = np.clip(np.nan_to_num(a.astype(np.float32)), 0.0, 1.0)
    return a, ("gray" if a.ndim == 2 else None)


def _check_images(images: Mapping[str, np.ndarray]) -> list[tuple[str, np.ndarray, str | None]]:
    if not isinstance(images, Mapping) or len(images) == 0:
        raise ValueError("images must be a non-empty dict {title: image}")
    return [(str(k), *_display_array(v, str(k))) for k, v in images.items()]


def _show(ax: Axes, title: str, arr: np.ndarray, cmap: str | None) -> None:
    ax.imshow(arr, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` atomically in the format its suffix names (PNG without one)."""
    p = Path(path)
    FigureCanvasAgg(fig)
    fmt = p.suffix.lower().lstrip(".") or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        raise ValueError(f"{p}: cannot write figure (unsupported format {fmt!r})")
    try:
        with atomic_write(p) as f:
            fig.savefig(f, format=fmt, dpi=100)
    except OSError as exc:
        raise ValueError(f"{p}: cannot write figure ({exc})") from None
    return p


def _series(history: Sequence[Mapping], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(iters, values) for the entries that have a finite ``key``."""
    pts = [(float(h["iter"]), float(h[key])) for h in history
           if h.get(key) is not None and np.isfinite(h[key])]
    if not pts:
        return np.empty(0), np.empty(0)
    it, v = np.array(pts).T
    return it, v


def _draw_marks(ax: Axes, marks: Mapping[str, int] | None, label: bool) -> None:
    for i, (name, it) in enumerate((marks or {}).items()):
        ax.axvline(it, color=_MARK_COLORS[i % len(_MARK_COLORS)], ls="--", lw=1.2,
                   label=f"{name} ({it})" if label else None)


def plot_training(
    history: Sequence[Mapping[str, float]],
    images: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    title: str | None = None,
    marks: Mapping[str, int] | None = None,
    stat_label: str = "stopping statistic",
) -> Path:
    """Training-dynamics figure: loss and PSNR curves on top, images below.

    Parameters
    ----------
    history : list of dicts with keys ``iter`` and ``loss`` and optionally ``psnr`` and
        ``psnr_smoothed`` (entries may omit the optional keys, e.g. PSNR every k steps).
    images : ``{title: image}``, images ``(H, W)``, ``(H, W, 1|3)`` or ``(1, C, H, W)`` in
        [0, 1]; sizes may differ. Grayscale is shown with the gray colormap.
    path : PNG file to write.
    title : figure title.
    marks : ``{label: iteration}`` drawn as dashed vertical lines on both plots
        (e.g. ``{"auto stop": 812, "oracle best": 1050}``).
    stat_label : axis label for the entries' optional ``stat`` key (the early-stopping
        rule's statistic, e.g. the held-out MSE), drawn on a second axis of the loss panel.

    Returns
    -------
    ``Path(path)``.

    Notes
    -----
    Loss uses a log y-axis when all values are positive. The PSNR panel is omitted when no
    entry has a PSNR; images are laid out ``min(n, 4)`` per row.
    """
    if not isinstance(history, Sequence) or len(history) == 0:
        raise ValueError("history must be a non-empty list of dicts with 'iter' and 'loss'")
    for h in history:
        if not isinstance(h, Mapping) or "iter" not in h or "loss" not in h:
            raise ValueError(f"history entries need 'iter' and 'loss' keys, got {h!r}")
    panels = _check_images(images)
    it_loss, loss = _series(history, "loss")
    it_psnr, psnr = _series(history, "psnr")
    it_sm, psnr_sm = _series(history, "psnr_smoothed")
    has_psnr = it_psnr.size > 0 or it_sm.size > 0

    ncols = min(len(panels), 4)
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(max(9.0, 2.8 * ncols), 3.4 + 2.9 * nrows), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.4, 2.9 * nrows])

    ax_loss, ax_p = top.subplots(1, 2, sharex=True) if has_psnr else (top.subplots(), None)
    ax_loss.plot(it_loss, loss, color="tab:blue", lw=1.0, label="loss")
    if loss.size and np.all(loss > 0):
        ax_loss.set_yscale("log")
    ax_loss.set_xlabel("iteration")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(True, alpha=0.3)
    _draw_marks(ax_loss, marks, label=True)
    handles, labels = ax_loss.get_legend_handles_labels()
    it_stat, stat = _series(history, "stat")
    if it_stat.size:  # the stopping rule's statistic: its own scale, so its own axis
        ax_s = ax_loss.twinx()
        ax_s.plot(it_stat, stat, color=_STAT_COLOR, lw=1.2, ls=":", label=stat_label)
        if np.all(stat > 0):
            ax_s.set_yscale("log")
        ax_s.set_ylabel(stat_label, color=_STAT_COLOR)
        h, lab = ax_s.get_legend_handles_labels()
        handles, labels = handles + h, labels + lab
    ax_loss.legend(handles, labels, fontsize=8, loc="upper right")

    if ax_p is not None:
        if it_psnr.size:
            ax_p.plot(it_psnr, psnr, color="tab:orange", lw=0.8, alpha=0.6, label="PSNR",
                      marker="." if it_psnr.size < 30 else None)
        if it_sm.size:
            ax_p.plot(it_sm, psnr_sm, color="tab:orange", lw=1.8, label="PSNR (smoothed)",
                      marker="." if it_sm.size < 30 else None)
        ax_p.set_xlabel("iteration")
        ax_p.set_ylabel("PSNR [dB]")
        ax_p.grid(True, alpha=0.3)
        _draw_marks(ax_p, marks, label=False)
        ax_p.legend(fontsize=8, loc="lower right")

    for i, (name, arr, cmap) in enumerate(panels):
        _show(bottom.add_subplot(nrows, ncols, i + 1), name, arr, cmap)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_grid(
    images: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    ncols: int | None = None,
    title: str | None = None,
) -> Path:
    """Save a grid of titled images (e.g. before/after) as a PNG and return ``Path(path)``.

    ``images`` as in :func:`plot_training`; ``ncols`` defaults to ``min(n, 4)``.
    """
    panels = _check_images(images)
    n = len(panels)
    if ncols is None:
        ncols = min(n, 4)
    if isinstance(ncols, bool) or int(ncols) != ncols or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(3.0 * ncols, 3.1 * nrows + (0.4 if title else 0.0)),
                 layout="constrained")
    for i, (name, arr, cmap) in enumerate(panels):
        _show(fig.add_subplot(nrows, ncols, i + 1), name, arr, cmap)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
