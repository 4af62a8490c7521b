import numpy as np

from tinydip.exercises.stubs.leaky_relu_backward import leaky_relu_forward  # noqa: F401


def leaky_relu_backward(dout, cache):
    x, slope = cache
    dx = np.where(x > 0, dout, slope * dout)
    return dx.astype(x.dtype, copy=False)
