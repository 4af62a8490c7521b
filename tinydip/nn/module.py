"""Module and Parameter: the tiny object layer on top of the functional forward/backward pairs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class Parameter:
    """A trainable array ``data`` and its gradient ``grad`` (same shape and dtype).

    Backward passes ACCUMULATE into ``grad`` (``+=``), micrograd-style, so a parameter or a
    tensor used twice receives both contributions; call ``Module.zero_grad()`` before each
    backward.
    """

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad = np.zeros_like(data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: ``forward(x)`` caches what ``backward(dout)`` needs; ``backward`` returns dx.

    Parameters are ``Parameter`` attributes; submodules are ``Module`` attributes or lists of
    them; buffers (state that is not trained, e.g. BatchNorm running statistics) are array
    attributes named in ``_buffer_names``.
    """

    _buffer_names: tuple[str, ...] = ()
    training: bool = True
    _free_caches: bool = False  # set by backward_once for its duration
    _skip_dx: bool = False  # set by backward_once(input_grad=False) on input_layers()

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_once(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """``backward(dout)`` that frees every layer's cache as soon as that layer's backward
        has used it, as a training step wants: backward's peak memory no longer holds the
        activations of the layers it has already passed (at 512x512 about 270 MB of the
        paper U-Net's). Run forward again before the next backward; plain :meth:`backward`
        keeps the caches (it may be called again on the same forward, accumulating).

        ``input_grad=False``: the caller does not want dL/dx (a fit never learns its input
        z), so the layers that see the input (:meth:`input_layers`) may skip it and the call
        returns None; every parameter gradient is computed as before. A convolution then
        saves its largest backward product: 3.5% of a width-32 U-Net step at 128x128."""
        mods = list(self.modules())
        firsts = [] if input_grad else list(self.input_layers())
        for m in mods:
            m._free_caches = True
        for m in firsts:
            m._skip_dx = True
        try:
            dx = self.backward(dout)
            return dx if input_grad else None
        finally:
            for m in mods:
                del m._free_caches  # back to the class default (False)
            for m in firsts:
                del m._skip_dx

    def input_layers(self) -> Iterator[Module]:
        """This module and the modules inside it that receive its input unchanged (a
        container's first layer, every branch of a Concat), recursively."""
        yield self

    def _used_cache(self) -> None:
        """Called by a layer at the end of its backward: drop the cache under backward_once."""
        if self._free_caches:
            self._cache = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    # -- traversal ----------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield str(i) if name == "layers" else f"{name}.{i}", item

    def modules(self) -> Iterator[Module]:
        """This module and every module inside it, depth first in attribute order (a stack,
        not nested generators: a fit walks the tree twice a step)."""
        stack = [self]
        while stack:
            m = stack.pop()
            yield m
            stack.extend(reversed([child for _, child in m.named_children()]))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name in self._buffer_names:
            yield prefix + name, getattr(self, name)
        for name, child in self.named_children():
            yield from child.named_buffers(prefix + name + ".")

    # -- state --------------------------------------------------------------------------------
    def zero_grad(self) -> None:
        for m in self.modules():  # every Parameter attribute, without building names
            for value in vars(m).values():
                if isinstance(value, Parameter):
                    value.grad[...] = 0

    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        return self.train(False)

    def num_parameters(self) -> int:
        """Number of trainable scalars (buffers are not counted)."""
        return int(sum(p.data.size for p in self.parameters()))

    def astype(self, dtype) -> Module:
        """Cast every parameter, gradient and buffer to ``dtype`` in place (float64 for checks)."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = p.grad.astype(dtype)
        for m in self.modules():
            for name in m._buffer_names:
                setattr(m, name, getattr(m, name).astype(dtype))
        return self

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        state = {k: p.data.copy() for k, p in self.named_parameters()}
        state.update({k: b.copy() for k, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays from ``state`` (as made by :meth:`state_dict`) into this module."""
        own = dict(self.named_parameters())
        bufs = dict(self.named_buffers())
        missing = (set(own) | set(bufs)) - set(state)
        if missing:
            raise ValueError(f"load_state_dict: missing entries {sorted(missing)[:5]}")
        for k, p in own.items():
            if state[k].shape != p.data.shape:
                raise ValueError(f"load_state_dict: {k} has shape {state[k].shape}, "
                                 f"expected {p.data.shape}")
            p.data[...] = state[k]
        for k, b in bufs.items():
            b[...] = state[k]

    def _need_cache(self, cache):
        if cache is None:
            raise ValueError(f"{type(self).__name__}.backward called before forward (or "
                             "twice after backward_once)")
        return cache

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def check_input(name: str, x: np.ndarray, channels: int | None = None, dtype=None) -> None:
    """Validate an NCHW input: a 4-D float array, the expected channels and dtype."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name} expects a NumPy array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} expects a 4-D (N, C, H, W) input, got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name} expects {channels} input channels, got {x.shape[1]} "
                         f"(input shape {x.shape})")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name} expects float32 or float64 input, got {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise ValueError(f"{name}: input dtype {x.dtype} does not match parameter dtype {dtype} "
                         "(cast the input or call module.astype)")
