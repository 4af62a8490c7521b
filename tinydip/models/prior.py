"""``Prior``: a generator network f(z; theta) together with what its input z must look like.

Both models (:func:`~tinydip.models.skip_unet`, :func:`~tinydip.models.deep_decoder`) return
a :class:`Prior`, a :class:`~tinydip.nn.Sequential` that also knows

* ``in_channels``: channels of z;
* ``downsampling``: generated sizes are multiples of this (other sizes are generated larger
  and cropped by the fitting loop);
* ``z_stride``: z is this many times smaller than the generated image (U-Net 1, Deep
  Decoder 2^(layers-1));
* ``min_size``: the smallest side the network can generate;
* ``config``: the architecture (a ``UNetConfig`` or the Deep Decoder's argument dict).

:meth:`Prior.make_input` is the one place the fixed input z ~ U(0, scale) is drawn (the
codec regenerates z from a seed with the same function, :func:`uniform_input`).
"""

from __future__ import annotations

import numpy as np

from ..nn import Module, Sequential


def uniform_input(shape: tuple[int, ...], scale: float, rng: np.random.Generator) -> np.ndarray:
    """z ~ U(0, scale) of ``shape``, float32: ``rng.random(shape, float32) * float32(scale)``."""
    return (rng.random(shape, dtype=np.float32) * np.float32(scale)).astype(np.float32)


class Prior(Sequential):
    """A Sequential generator with its input contract (see the module docstring)."""

    def __init__(self, *layers: Module, in_channels: int, downsampling: int = 1,
                 z_stride: int = 1, min_size: int | None = None, config=None) -> None:
        super().__init__(*layers)
        self.in_channels = int(in_channels)
        self.downsampling = int(downsampling)
        self.z_stride = int(z_stride)
        self.min_size = self.downsampling if min_size is None else int(min_size)
        self.config = config

    def generated_size(self, out_hw: tuple[int, int]) -> tuple[int, int]:
        """The (H, W) the network generates for an output of ``out_hw``: each side rounded
        up to a multiple of ``downsampling`` and to at least ``min_size``."""
        m = self.downsampling
        return tuple(max(-(-int(n) // m) * m, self.min_size) for n in out_hw)  # type: ignore

    def input_shape(self, out_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """Shape (1, in_channels, H / z_stride, W / z_stride) of z for an output of ``out_hw``."""
        H, W = self.generated_size(out_hw)
        return (1, self.in_channels, H // self.z_stride, W // self.z_stride)

    def make_input(self, out_hw: tuple[int, int], scale: float,
                   rng: np.random.Generator) -> np.ndarray:
        """The fixed network input z ~ U(0, scale) for an output of ``out_hw`` (float32)."""
        return uniform_input(self.input_shape(out_hw), scale, rng)
