"""Degradations for the Deep Image Prior tasks and their classical baselines.

* :mod:`.noise` -- Gaussian and Poisson noise;
* :mod:`.masks` -- inpainting masks (holes, text, random pixels, from a colour, a level or
  an alpha channel);
* :mod:`.fill` -- bicubic upsampling and harmonic / biharmonic fill.

The linear operators A (``Mask``, ``Downsampler``, ``Blur``) live in :mod:`tinydip.operators`.
"""

from .fill import bicubic_upsample, biharmonic_fill, harmonic_fill, smooth_fill
from .masks import (
    COLORS,
    DEFAULT_TOL,
    apply_mask,
    hole_mask,
    mask_from_alpha,
    mask_from_color,
    mask_from_spec,
    mask_from_threshold,
    parse_color,
    random_mask,
    text_mask,
)
from .noise import add_noise, add_poisson_noise, parse_noise

__all__ = ["add_noise", "add_poisson_noise", "parse_noise", "hole_mask", "text_mask",
           "apply_mask", "random_mask", "parse_color", "mask_from_color", "mask_from_threshold",
           "mask_from_alpha", "mask_from_spec", "COLORS", "DEFAULT_TOL", "bicubic_upsample",
           "smooth_fill", "harmonic_fill", "biharmonic_fill"]
