"""Containers: Sequential (a chain) and Concat (parallel branches joined along channels)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .module import Module, check_input


class Sequential(Module):
    """Apply layers in order; backward runs them in reverse."""

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def add(self, layer: Module) -> Sequential:
        self.layers.append(layer)
        return self

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def input_layers(self) -> Iterator[Module]:
        yield self
        if self.layers:
            yield from self.layers[0].input_layers()


class Concat(Module):
    """Run branches on the same input and concatenate their outputs along channels.

    If the branches' spatial sizes differ, each output is centre-cropped to the smallest
    (as in the Deep Image Prior code). Backward splits dout by channels, pads each piece back
    to its branch's size with zeros, runs every branch's backward and SUMS their input
    gradients: the input is used once per branch (an empty ``Sequential()`` is the identity).
    """

    def __init__(self, *branches: Module):
        if not branches:
            raise ValueError("Concat needs at least one branch")
        self.branches = list(branches)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_input("Concat", x)
        outs = [b(x) for b in self.branches]
        h = min(o.shape[2] for o in outs)
        w = min(o.shape[3] for o in outs)
        crops = []
        for o in outs:
            top, left = (o.shape[2] - h) // 2, (o.shape[3] - w) // 2
            crops.append((o.shape, top, left))
        out = np.concatenate([o[:, :, t:t + h, l:l + w]
                              for o, (_, t, l) in zip(outs, crops, strict=True)],
                             axis=1)  # (N, sum C_b, h, w)
        self._cache = crops
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        crops = self._need_cache(self._cache)
        h, w = dout.shape[2:]
        dx = None
        start = 0
        for branch, (shape, top, left) in zip(self.branches, crops, strict=True):
            c = shape[1]
            piece = dout[:, start:start + c]  # (N, C_b, h, w)
            start += c
            if shape[2:] != (h, w):
                full = np.zeros(shape, dtype=dout.dtype)
                full[:, :, top:top + h, left:left + w] = piece
                piece = full
            else:
                piece = np.ascontiguousarray(piece)
            g = branch.backward(piece)
            if not self._skip_dx:
                dx = g if dx is None else dx + g  # accumulate: the input feeds every branch
        self._used_cache()
        return dx

    def input_layers(self) -> Iterator[Module]:
        yield self
        for branch in self.branches:
            yield from branch.input_layers()
