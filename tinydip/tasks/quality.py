"""``denoise --quality {fast,default,best}``: time for PSNR, one declaration per setting.

A setting is the skip U-Net's width, how many fits from consecutive seeds are averaged
(:mod:`tinydip.tasks.ensemble`), the weight of a total-variation term in the loss
(:func:`tinydip.functional.tv.with_tv`) and whether the output is the pilot of a Wiener
pass (:func:`tinydip.denoising.grouped_wiener.grouped_wiener`). The settings are chosen by
measurement
(benchmarks/bench_denoise.py; benchmarks/README.md, *Denoising: quality settings*).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..models.nets import Net


@dataclass(frozen=True)
class Quality:
    """A ``denoise --quality`` setting: the U-Net's width, how many fits are averaged and
    the weight of a total-variation term added to the loss."""

    restarts: int = 1  # fits from seeds seed, seed + 1, ... averaged (tasks/ensemble.py)
    width: int | None = None  # channels per level of the skip U-Net (None: the preset's 128)
    tv: float = 0.0  # weight of TV(output) in the loss (functional/tv.py; 0: off)
    wiener: bool = False  # then Wiener-filter the noisy image guided by the output
    # (grouped_wiener.py; Gaussian noise only: not with the Poisson loss)
    iters: int | None = None  # at most this many fitting steps (None: the task's 3000;
    # an explicit iters / --iters wins)

    def fit_options(self) -> dict:
        return {} if self.iters is None else {"iters": self.iters}

    def net_options(self) -> dict:
        if self.width is None:
            return {}
        return {Net.UNET: {"channels_down": (self.width,) * 5, "channels_up": (self.width,) * 5}}


# Chosen by measurement: benchmarks/README.md, "Denoising beyond one fit" (128x128, sigma 25,
# four images, no ground truth used; mean PSNR, CBM3D with the true sigma 30.32 dB; seconds
# on 2 cores = mean iterations x s/iteration measured on its own, 2026-12-06; the Wiener pass
# is grouped_wiener at stride 2; the table and its sources are in docs/cli.md, --quality):
#   paper   one width-128 fit (the DIP paper's; the default before the Wiener pass)
#           29.07 dB, 241 s
#   fast    one width-16 fit of at most 1000 steps + Wiener pass   30.09 dB, 20 s
#   default one width-32 fit + Wiener pass   30.27 dB, 44 s
#   best    two width-32 fits averaged + Wiener pass   30.33 dB, 89 s (side by side ~0.73x)
# At 256x256: default 30.51, best 30.54 dB against CBM3D's 30.69. The pass adds 0.2-2.4 dB
# to any fit in about a second at 128x128 (3 s at 256x256). Fewer input channels (z of 8 or
# 16 instead of 32: 7-15% a step) measured and not kept: benchmarks/README.md, "Input depth".
QUALITY = {
    "fast": Quality(width=16, iters=1000, wiener=True),
    "default": Quality(width=32, wiener=True),
    "best": Quality(width=32, restarts=2, wiener=True),
    "paper": Quality(),
}
