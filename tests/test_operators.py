"""Linear operators: the contract, exact adjoints (dot-product test in float64), shapes."""

from __future__ import annotations

import numpy as np
import pytest

from tinydip.operators import Downsampler, Identity, LinearOperator, Mask, adjoint_error

RNG = np.random.default_rng(0)

# (operator, image shape (N, C, H, W)): every operator of the library, odd shapes included
CASES = [
    (Identity(), (2, 3, 7, 5)),
    (Mask(RNG.random((9, 6)) > 0.4), (1, 3, 9, 6)),
    (Mask((RNG.random((1, 3, 8, 8)) > 0.5).astype(np.float64)), (2, 3, 8, 8)),
    (Downsampler(2), (1, 3, 16, 10)),
    (Downsampler(4, "bicubic"), (2, 1, 32, 16)),
    (Downsampler(8), (1, 2, 16, 24)),
]


@pytest.mark.parametrize("op,shape", CASES, ids=lambda c: repr(c) if not isinstance(c, tuple)
                         else None)
def test_every_operator_has_an_exact_adjoint(op, shape):
    assert isinstance(op, LinearOperator)  # the protocol (structural)
    assert adjoint_error(op, shape, np.random.default_rng(1)) < 1e-12
    obs = op.output_shape(shape)
    assert op.input_shape(obs) == tuple(shape)


@pytest.mark.parametrize("op,shape", CASES[:4])
def test_operators_keep_float32(op, shape):
    x = np.random.default_rng(2).random(shape, dtype=np.float32)
    y = op.forward(x)
    assert y.dtype == np.float32 and op.adjoint(y).dtype == np.float32


class _WrongAdjoint(Downsampler):
    """A planted bug: the adjoint misses one tap (a wrong boundary fold, say)."""

    def adjoint(self, dy):
        dx = super().adjoint(dy)
        dx[:, :, 0, :] *= 0.9
        return dx


def test_the_dot_product_test_catches_a_wrong_adjoint():
    assert adjoint_error(_WrongAdjoint(2), (1, 3, 16, 16)) > 1e-4
    assert adjoint_error(Downsampler(2), (1, 3, 16, 16)) < 1e-12


def test_mask_loss_is_the_masked_mse():
    from tinydip.functional import mse_loss

    rng = np.random.default_rng(3)
    m = (rng.random((1, 1, 8, 8)) > 0.3).astype(np.float32)
    x, y = rng.random((1, 3, 8, 8), dtype=np.float32), rng.random((1, 3, 8, 8), dtype=np.float32)
    y *= m
    op = Mask(m)
    a = mse_loss(op.forward(x), y, op.measured)
    b = mse_loss(x, y, m)
    assert a[0] == b[0] and np.array_equal(op.adjoint(a[1]), b[1])


def test_operator_errors():
    with pytest.raises(ValueError, match="no known pixel"):
        Mask(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        Mask(np.full((4, 4), 0.5))
    with pytest.raises(ValueError, match="does not match the mask"):
        Mask(np.ones((4, 4))).forward(np.ones((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="not divisible"):
        Downsampler(4).output_shape((1, 3, 10, 12))
    with pytest.raises(ValueError, match="NCHW"):
        Downsampler(2).forward(np.ones((4, 4)))
