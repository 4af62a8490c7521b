"""Shared set-up of the tutorials (tutorials/*.py): quick mode, figure folder, ``show``.

``TINYDIP_QUICK=1`` shrinks sizes and iteration counts (the test suite runs every chapter so);
figures go to ``TINYDIP_TUTORIAL_OUT`` (default ``tutorials/out/``) and are displayed only when
someone is watching (a notebook or a window).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class Tutorial:
    """``Tutorial("04", __file__)``: ``.quick``, ``.out`` and ``.show(fig, name)``."""

    def __init__(self, chapter: str, script: str | None = None):
        import matplotlib.pyplot as plt

        self.chapter = chapter
        flag = os.environ.get("TINYDIP_QUICK", "0").strip().lower()
        self.quick = flag not in ("", "0", "false", "no")
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if self.quick or (headless and "ipykernel" not in sys.modules):
            plt.switch_backend("agg")  # no window: figures only go to files
        here = Path(script).resolve().parent if script else Path.cwd()
        self.out = Path(os.environ.get("TINYDIP_TUTORIAL_OUT", here / "out"))
        self.out.mkdir(parents=True, exist_ok=True)

    def show(self, fig, name: str) -> Path:
        """Save a figure under ``out``; display it too if someone is watching."""
        import matplotlib.pyplot as plt

        path = self.out / f"{self.chapter}_{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        print(f"[figure saved to {path}]")
        if plt.get_backend().lower() == "agg":
            plt.close(fig)
        else:
            plt.show()
        return path
