"""``denoise --quality {fast,default,best}``: time for PSNR, one declaration per setting.

A setting is the skip U-Net's width, how many fits from consecutive seeds are averaged
(:mod:`tinydip.tasks.ensemble`) and the weight of a total-variation term in the loss
(:func:`tinydip.functional.tv.with_tv`). The settings are chosen by measurement
(benchmarks/bench_denoise.py; benchmarks/README.md, *Denoising: quality settings*).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quality:
    """A ``denoise --quality`` setting: the U-Net's width, how many fits are averaged and
    the weight of a total-variation term added to the loss."""

    restarts: int = 1  # fits from seeds seed, seed + 1, ... averaged (tasks/ensemble.py)
    width: int | None = None  # channels per level of the skip U-Net (None: the preset's 128)
    tv: float = 0.0  # weight of TV(output) in the loss (functional/tv.py; 0: off)

    def net_options(self) -> dict:
        if self.width is None:
            return {}
        return {"unet": {"channels_down": (self.width,) * 5, "channels_up": (self.width,) * 5}}


# benchmarks/README.md, "Denoising beyond one fit" (128x128, sigma 25; what is and is not
# measured is listed there): "default" is today's single paper-width fit, unchanged (only one
# image was measured for any alternative); "fast" is one width-32 fit (15x fewer weights;
# 28.25 / 28.22 dB on hopper / face, today's default 28.19 on hopper); "best" averages two
# width-32 fits (28.73 / 28.80 dB on hopper / face; +0.54 over today's default on hopper).
QUALITY = {"fast": Quality(width=32), "default": Quality(), "best": Quality(width=32, restarts=2)}
