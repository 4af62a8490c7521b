import numpy as np

from tinydip.exercises.stubs.upsample_backward import upsample_forward  # noqa: F401


def _upsample_axis_adjoint(d, axis):
    d = np.moveaxis(d, axis, -1)
    even, odd = d[..., 0::2], d[..., 1::2]
    dx = 0.75 * (even + odd)
    dx[..., :-1] += 0.25 * even[..., 1:]
    dx[..., 1:] += 0.25 * odd[..., :-1]
    dx[..., 0] += 0.25 * even[..., 0]
    dx[..., -1] += 0.25 * odd[..., -1]
    return np.moveaxis(dx, -1, axis)


def upsample_backward(dout, cache):
    return _upsample_axis_adjoint(_upsample_axis_adjoint(dout, 3), 2)
