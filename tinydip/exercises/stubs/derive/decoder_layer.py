"""Exercise decoder_layer, level derive (chapter 07_deep_decoder_compression):
one Deep Decoder layer, forward and backward.

The Deep Decoder (Heckel & Hand, 2019) has no 3x3 convolutions at all: each layer mixes the
channels of every pixel (a 1x1 convolution), doubles the resolution (bilinear), applies a
ReLU and normalises each channel (BatchNorm in train mode, over the pixels of the image:
DIP fits one image, a batch of one). That is the whole prior. Write the layer's forward and
its backward: derive each stage's backward from its forward, then chain them. Check your work with:

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

    To derive
    ---------
    Run the four stages backwards, each one's backward from its forward:
    * the normalisation: dbeta and dgamma are sums over the channel's values; for dr
      remember that mu and var are computed from EVERY value of the channel, so each r
      reaches the loss through xhat directly, through mu and through var (chapter 3);
    * the ReLU: which entries let the gradient through?
    * the upsampling is a fixed linear map: its backward is the adjoint. Which outputs used
      a[i], with which weights -- the clamped edges included? (Chapter 4's exercise.)
    * the 1x1 convolution is a matrix product per pixel: a = W x, with W (F, C).
    Test each stage alone with finite differences before chaining them.
    """
    # TODO: derive and compute the four backward stages.
    raise NotImplementedError("TODO: implement decoder_layer_backward")
