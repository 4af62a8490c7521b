"""Exercise dip_step (chapter 04_denoising): one Deep Image Prior fitting step, by hand.

The network is a U-Net in miniature with one fork (tinydip/exercises/tiny_net.py):

    zin -> stem -> h --> skip -> s --+
                     |               +-> concat [s, a] along channels -> head -> out
                     +-> deep -> a --+

Its parts are tinydip modules: ``part(x)`` runs forward, ``part.backward(dout)`` returns
the input gradient and ADDS the parameter gradients into ``p.grad``. Check your work with:

    tinydip exercise check dip_step

To experiment:  from tinydip.exercises.tiny_net import make_tiny_net; net = make_tiny_net(0)
"""

from __future__ import annotations

import numpy as np

from tinydip.exercises.tiny_net import TinySkipNet
from tinydip.functional import mse_loss  # noqa: F401 (you will need it)
from tinydip.optim import Adam


def dip_step(net: TinySkipNet, opt: Adam, z: np.ndarray, target: np.ndarray,
             mask: np.ndarray, sigma: float, rng: np.random.Generator) -> float:
    """One fitting step: jitter, forward, loss, backward, update. Returns the loss.

    Parameters
    ----------
    net : TinySkipNet with parts ``net.stem``, ``net.skip``, ``net.deep``, ``net.head``,
        ``net.skip_channels`` (= 2) and ``net.zero_grad()``.
    opt : an Adam optimiser over ``net.parameters()``; ``opt.step()`` applies the update.
    z : (1, 2, H, W) float32, the fixed network input.
    target : (1, 3, H, W) float32, the observed image.  mask : (1, 1, H, W), 1 = known.
    sigma : std of the input jitter.  rng : draw the jitter from it (exactly once per call).

    Steps
    -----
    1. jitter:   zin = z + np.float32(sigma) * rng.standard_normal(z.shape, dtype=np.float32)
    2. forward:  h = net.stem(zin);  u = concat([net.skip(h), net.deep(h)], axis=1)  (1, 5, H, W)
                 out = net.head(u)                                                    (1, 3, H, W)
    3. loss:     loss, dout = mse_loss(out, target, mask)     (tinydip's masked MSE)
    4. backward: clear old gradients, then run the graph backwards: du from the head, split
                 du's channels (the first net.skip_channels belong to s), each branch's
                 backward, and the stem's backward with dh.
    5. update:   opt.step()

    Hints
    -----
    * h is used twice, so dL/dh = (what skip sends back) + (what deep sends back).
    * ``backward`` accumulates (+=) into p.grad: without ``net.zero_grad()`` before it,
      every step would add the previous steps' gradients.
    * Slices like ``du[:, :2]`` are views; ``np.ascontiguousarray`` makes a compact copy.
    """
    # TODO: steps 1-5 (~12 lines).
    raise NotImplementedError("TODO: implement dip_step")
