"""The tiny skip network of the ``dip_step`` exercise: a U-Net in miniature, with one fork.

    z (1, 2, H, W) -> stem -> h (1, 4, H, W) -+-> skip -> s (1, 2, H, W) -+
                                              |                           +-> concat (1, 5, H, W)
                                              +-> deep -> a (1, 3, H, W) -+      -> head -> out
                                                                                  (1, 3, H, W)

``h`` feeds two branches, so its gradient is the SUM of what both send back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..nn.module import Module, Parameter


@dataclass
class TinySkipNet:
    stem: Module  # (1, 2, H, W) -> (1, 4, H, W)
    skip: Module  # (1, 4, H, W) -> (1, 2, H, W)
    deep: Module  # (1, 4, H, W) -> (1, 3, H, W): down by 2, then up by 2
    head: Module  # (1, 5, H, W) -> (1, 3, H, W)
    in_channels: int = 2
    skip_channels: int = 2

    def parts(self) -> tuple[Module, ...]:
        return self.stem, self.skip, self.deep, self.head

    def parameters(self) -> list[Parameter]:
        return [p for part in self.parts() for p in part.parameters()]

    def zero_grad(self) -> None:
        for part in self.parts():
            part.zero_grad()

    def as_sequential(self) -> nn.Sequential:
        """The same modules as one tinydip network (shares the parameters)."""
        return nn.Sequential(self.stem, nn.Concat(self.skip, self.deep), self.head)


def make_tiny_net(seed: int = 0) -> TinySkipNet:
    """A float32 TinySkipNet with weights drawn from ``seed`` (H and W must be even)."""
    rng = np.random.default_rng(seed)

    def conv(cin, cout, k, s=1):
        return nn.Conv2d(cin, cout, k, s, "reflect", rng=rng)

    return TinySkipNet(
        stem=nn.Sequential(conv(2, 4, 3), nn.BatchNorm2d(4), nn.LeakyReLU(0.2)),
        skip=nn.Sequential(conv(4, 2, 1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2)),
        deep=nn.Sequential(conv(4, 3, 3, 2), nn.BatchNorm2d(3), nn.LeakyReLU(0.2),
                           nn.Upsample(2)),
        head=nn.Sequential(conv(5, 3, 3), nn.Sigmoid()),
    )
