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
        # quick mode shrinks the work, not the pictures: only when nobody is watching (no
        # notebook kernel, no display) do figures go to files alone
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if headless and "ipykernel" not in sys.modules:
            plt.switch_backend("agg")
        here = Path(script).resolve().parent if script else Path.cwd()
        self.out = Path(os.environ.get("TINYDIP_TUTORIAL_OUT", here / "out"))
        self.out.mkdir(parents=True, exist_ok=True)

    def show(self, fig, name: str) -> Path:
        """Save a figure under ``out``; display it too if someone is watching.

        In a notebook the saved PNG is displayed as the cell's output and the figure closed
        (whatever the kernel's matplotlib backend, so even ``MPLBACKEND=Agg`` shows it, and the
        inline backend does not show it a second time at the end of the cell)."""
        import matplotlib.pyplot as plt

        path = self.out / f"{self.chapter}_{name}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        print(f"[figure saved to {path}]")
        if in_notebook():
            from IPython.display import Image, display

            display(Image(data=path.read_bytes(), format="png"))
            plt.close(fig)
        elif plt.get_backend().lower() == "agg":
            plt.close(fig)
        else:
            plt.show()
        return path


def in_notebook() -> bool:
    """True inside a Jupyter kernel (an IPython shell with a kernel attached)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
