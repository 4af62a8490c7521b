"""tinydip.functional.tv: total variation against a loop formula, its gradient against
central differences in float64 (and a planted bug the check must catch), the TV loss."""

from __future__ import annotations

import numpy as np
import pytest

from tinydip.functional import mse_loss
from tinydip.functional.tv import TVCache, tv_backward, tv_forward, with_tv
from tinydip.gradcheck import numerical_grad, rel_error


def tv_loops(x, eps):
    """Textbook vectorial TV: one magnitude per pixel, Neumann boundary."""
    n, c, h, w = x.shape
    total = 0.0
    for b in range(n):
        for i in range(h):
            for j in range(w):
                s = eps**2
                for k in range(c):
                    dh = x[b, k, i + 1, j] - x[b, k, i, j] if i + 1 < h else 0.0
                    dw = x[b, k, i, j + 1] - x[b, k, i, j] if j + 1 < w else 0.0
                    s += dh * dh + dw * dw
                total += np.sqrt(s)
    return total / (n * h * w)


def _tv_grad_check(backward, shape=(2, 3, 5, 4), eps=0.1, dout=1.7):
    x = np.random.default_rng(0).standard_normal(shape)
    _, cache = tv_forward(x, eps)
    num = numerical_grad(lambda: np.array(tv_forward(x, eps)[0]), x, np.array(dout))
    return rel_error(backward(dout, cache), num)


def test_tv_matches_loops():
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5))
    assert tv_forward(x, 0.05)[0] == pytest.approx(tv_loops(x, 0.05), rel=1e-12)


def test_tv_of_flat_image_is_eps_and_of_a_step_counts_the_edge():
    assert tv_forward(np.full((1, 3, 8, 8), 0.4), 1e-3)[0] == pytest.approx(1e-3)
    step = np.zeros((1, 1, 8, 8))
    step[:, :, :, 4:] = 1.0  # one vertical edge of height 1 across 8 rows
    expected = (8 * np.sqrt(1 + 1e-6) + 56 * 1e-3) / 64
    assert tv_forward(step, 1e-3)[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 1, 7, 3), (1, 2, 1, 6)])
def test_tv_gradcheck(shape):
    assert _tv_grad_check(tv_backward, shape) < 1e-7


def test_tv_gradcheck_catches_a_planted_bug():
    def forgets_the_shifted_term(dout, cache):  # drops the g[i-1] neighbour of the divergence
        gh, gw, count = cache
        return -(gh + gw) * dout / count

    def per_pixel_not_mean(dout, cache):  # forgets the 1 / (N H W)
        return tv_backward(dout, cache) * cache.count

    assert _tv_grad_check(forgets_the_shifted_term) > 1e-2
    assert _tv_grad_check(per_pixel_not_mean) > 1e-2


def test_tv_float32_stays_float32_and_cache_is_named():
    x = np.random.default_rng(2).random((1, 3, 8, 8), dtype=np.float32)
    _, cache = tv_forward(x)
    assert isinstance(cache, TVCache) and cache.count == 64
    assert tv_backward(2.0, cache).dtype == np.float32


def test_tv_rejects_bad_input():
    with pytest.raises(ValueError, match="N, C, H, W"):
        tv_forward(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="eps"):
        tv_forward(np.zeros((1, 1, 4, 4)), eps=0.0)
    with pytest.raises(ValueError, match="weight"):
        with_tv(mse_loss, -1.0)


def test_with_tv_adds_weighted_tv_and_its_gradient():
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((2, 1, 2, 6, 5))
    loss = with_tv(mse_loss, 0.3, eps=0.1)
    value, grad = loss(pred, target)
    assert value == pytest.approx(mse_loss(pred, target)[0] + 0.3 * tv_forward(pred, 0.1)[0])
    num = numerical_grad(lambda: np.array(loss(pred, target)[0]), pred, np.array(1.0))
    assert rel_error(grad, num) < 1e-7
    assert with_tv(mse_loss, 0.0)(pred, target)[0] == mse_loss(pred, target)[0]
