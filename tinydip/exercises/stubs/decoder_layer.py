"""Exercise decoder_layer (chapter 07_deep_decoder_compression): one Deep Decoder layer,
forward and backward.

The Deep Decoder (Heckel & Hand, 2019) has no 3x3 convolutions at all: each layer mixes the
channels of every pixel (a 1x1 convolution), doubles the resolution (bilinear), applies a
ReLU and normalises each channel (BatchNorm in train mode, over the pixels of the image:
DIP fits one image, a batch of one). That is the whole prior. Write the layer's forward and
its backward (four stages, chained in reverse). Check your work with:

    tinydip exercise check decoder_layer
"""

from __future__ import annotations

import numpy as np


def _upsample_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """x2 bilinear (half-pixel centres, clamped edges) along one axis (given).

    With n = x.shape[axis], for i = 0..n-1:
        out[2i]     = 1/4 x[i-1] + 3/4 x[i]      (x[-1] is clamped to x[0])
        out[2i + 1] = 3/4 x[i]   + 1/4 x[i+1]    (x[n]  is clamped to x[n-1])
    """
    x = np.moveaxis(x, axis, -1)
    left = np.concatenate([x[..., :1], x[..., :-1]], axis=-1)  # x[i-1], clamped
    right = np.concatenate([x[..., 1:], x[..., -1:]], axis=-1)  # x[i+1], clamped
    out = np.empty(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    out[..., 0::2] = 0.25 * left + 0.75 * x
    out[..., 1::2] = 0.75 * x + 0.25 * right
    return np.moveaxis(out, -1, axis)


def decoder_layer_forward(x: np.ndarray, w: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                          eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """One Deep Decoder layer: 1x1 conv -> bilinear x2 -> ReLU -> channel normalisation.

    Parameters
    ----------
    x : (N, C, H, W) input (the Deep Decoder fits with N = 1).
    w : (F, C, 1, 1) the 1x1 convolution's weights (no bias).
    gamma, beta : (F,) the normalisation's scale and shift.

    Returns
    -------
    out : (N, F, 2H, 2W), same dtype as x;  cache : whatever your backward needs.

    The layer
    ---------
    a[n, f] = sum_c w[f, c, 0, 0] * x[n, c]              1x1 conv: a channel mix per pixel
    u = bilinear x2 of a                                  _upsample_axis along H, then W
    r = max(u, 0)                                         ReLU
    per channel f, over its M = N * 2H * 2W values (axes 0, 2, 3):
        mu = mean(r),  var = mean((r - mu)^2)            (the biased variance, as BatchNorm)
        xhat = (r - mu) / sqrt(var + eps)
    out = gamma * xhat + beta                             (gamma, beta broadcast per channel)

    Hints
    -----
    * ``np.einsum("fc,nchw->nfhw", w[:, :, 0, 0], x)`` is the 1x1 convolution.
    * Keep float32 float32: no float64 arrays mixed in.
    """
    # TODO: the four stages; return out and a cache (~10 lines).
    raise NotImplementedError("TODO: implement decoder_layer_forward")


def decoder_layer_backward(dout: np.ndarray, cache: tuple) -> tuple:
    """Backward pass of :func:`decoder_layer_forward`.

    Parameters
    ----------
    dout : (N, F, 2H, 2W) upstream gradient dL/dout.  cache : from your forward.

    Returns
    -------
    dx : (N, C, H, W);  dw : (F, C, 1, 1);  dgamma, dbeta : (F,) -- dout's dtype.

    Equations
    ---------
    Run the stages backwards; every mean is per channel over axes (0, 2, 3):
        dbeta = sum(dout),  dgamma = sum(dout * xhat),  g = gamma * dout
        dr = (g - mean(g) - xhat * mean(g * xhat)) / sqrt(var + eps)
        du = dr * (u > 0)
        da = U^T du: the adjoint of the bilinear upsampling, along W and along H; in 1-D
            da[i] = 3/4 (d[2i] + d[2i+1]) + 1/4 d[2i+2] + 1/4 d[2i-1]
            (terms outside 0..2n-1 do not exist) -- plus the clamped edges: out[0] used
            x[0] twice (1/4 + 3/4) and out[2n-1] used x[n-1] twice.
        dw[f, c, 0, 0] = sum over n, h, w of da[n, f] * x[n, c]
        dx[n, c] = sum_f w[f, c, 0, 0] * da[n, f]

    Hints
    -----
    * The normalisation's two mean terms come from mu and var depending on every value of
      the channel: drop one and the finite-difference check will tell.
    * A helper ``_upsample_axis_adjoint(d, axis)`` mirroring :func:`_upsample_axis`:
      ``d[..., 0::2]`` and ``d[..., 1::2]`` are the even and odd outputs.
    * ``np.einsum("nfhw,nchw->fc", da, x)`` sums over n, h, w; mind which index is which.
    """
    # TODO: the four stages in reverse order (~20 lines).
    raise NotImplementedError("TODO: implement decoder_layer_backward")
