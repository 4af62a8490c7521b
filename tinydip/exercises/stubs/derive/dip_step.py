"""Exercise dip_step, level derive (chapter 04_denoising):
one Deep Image Prior fitting step, by hand.

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

    What one step does
    ------------------
    Perturb the input with fresh noise of std sigma drawn once from rng (float32:
    ``rng.standard_normal(z.shape, dtype=np.float32)``), run the network (stem, then the two
    branches on the same h, concatenated along channels -- skip first -- then head), take
    tinydip's masked MSE (``mse_loss(out, target, mask)`` returns (loss, dout)), run the
    graph backwards and update the weights with ``opt.step()``.

    To work out: what does ``backward`` do to p.grad (look at tinydip/nn/layers.py), and
    what is the gradient of a value that feeds two branches?
    """
    # TODO: one fitting step.
    raise NotImplementedError("TODO: implement dip_step")
