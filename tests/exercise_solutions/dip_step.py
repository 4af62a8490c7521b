import numpy as np

from tinydip.functional import mse_loss


def dip_step(net, opt, z, target, mask, sigma, rng):
    zin = z + np.float32(sigma) * rng.standard_normal(z.shape, dtype=np.float32)
    h = net.stem(zin)
    u = np.concatenate([net.skip(h), net.deep(h)], axis=1)
    out = net.head(u)
    loss, dout = mse_loss(out, target, mask)
    net.zero_grad()
    du = net.head.backward(dout)
    k = net.skip_channels
    dh = net.skip.backward(np.ascontiguousarray(du[:, :k]))
    dh = dh + net.deep.backward(np.ascontiguousarray(du[:, k:]))
    net.stem.backward(dh)
    opt.step()
    return loss
