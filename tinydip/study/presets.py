"""Built-in studies. ``paper``: the *shape* of the Deep Image Prior paper's experiments
(Ulyanov et al. 2018) on small images, as a runnable demo.

Tasks: denoising at sigma 25, inpainting with 50% of the pixels missing at random,
super-resolution x4. Prior and optimiser: the paper's U-Net preset per task, Adam lr 0.01,
the paper's input jitter per task. Settings side by side: the ground-truth-free automatic stop
and a fixed iteration budget (``stop = "none"``). Defaults are sized for a demo: 64x64
images and a budget of 1000 iterations (the paper runs 2000-3000 on 256-512 pixel images).
"""

from __future__ import annotations

from pathlib import Path

from .spec import Study, parse_study

PRESETS = ("paper",)


def paper_doc(images: list[str] | None = None, size: int = 64, iters: int = 1000,
              seeds: list[int] | None = None) -> dict:
    doc = {
        "name": "dip-paper",
        "images": images or [f"sample:hopper@{size}", f"sample:mri@{size}"],
        "seeds": seeds or [0],
        "tasks": [{"kind": "denoise", "sigma": 25},
                  {"kind": "inpaint", "mask": "random", "fraction": 0.5},
                  {"kind": "sr", "factor": 4}],
        "defaults": {"net": "unet", "lr": 0.01, "iters": iters},
        "settings": [{"name": "auto-stop", "stop": "auto"},
                     {"name": "fixed-budget", "stop": "none"}],
    }
    if images:
        doc["resize"] = size
    return doc


def preset_study(name: str, images_folder: str | None = None, size: int = 64,
                 iters: int = 1000) -> Study:
    """The built-in study ``name`` (raises :class:`~tinydip.study.spec.StudyError`)."""
    if name != "paper":
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    images = [str(Path(images_folder).resolve())] if images_folder else None
    return parse_study(paper_doc(images, size, iters), Path.cwd(), f"preset {name}")
