"""Linear operators: the contract, exact adjoints (dot-product test in float64), shapes."""

from __future__ import annotations

import numpy as np
import pytest

from tinydip.operators import (
    Blur,
    Downsampler,
    Identity,
    LinearOperator,
    Mask,
    adjoint_error,
    parse_kernel,
)

RNG = np.random.default_rng(0)

# (operator, image shape (N, C, H, W)): every operator of the library, odd shapes included
CASES = [
    (Identity(), (2, 3, 7, 5)),
    (Mask(RNG.random((9, 6)) > 0.4), (1, 3, 9, 6)),
    (Mask((RNG.random((1, 3, 8, 8)) > 0.5).astype(np.float64)), (2, 3, 8, 8)),
    (Downsampler(2), (1, 3, 16, 10)),
    (Downsampler(4, "bicubic"), (2, 1, 32, 16)),
    (Downsampler(8), (1, 2, 16, 24)),
    (parse_kernel("gaussian:2"), (1, 3, 20, 17)),
    (parse_kernel("box:4"), (2, 1, 9, 12)),  # even side: padded to 5x5
    (parse_kernel("motion:7,30"), (1, 3, 16, 16)),
    (Blur(RNG.random((3, 7))), (1, 2, 7, 7)),  # non-square, radius 3 of a 7-pixel side
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


class _CircularAdjointBlur(Blur):
    """A planted bug: the adjoint ignores the reflect boundary (drops the folded border)."""

    def adjoint(self, dy):
        rh, rw = self.radius
        from scipy.signal import fftconvolve

        full = fftconvolve(dy, self.kernel[::-1, ::-1][None, None], mode="full", axes=(2, 3))
        return full[:, :, rh:rh + dy.shape[2], rw:rw + dy.shape[3]]


def test_the_dot_product_test_catches_a_wrong_blur_adjoint():
    shape = (1, 2, 16, 16)
    assert adjoint_error(_CircularAdjointBlur(np.ones((5, 5))), shape) > 1e-4
    assert adjoint_error(Blur(np.ones((5, 5))), shape) < 1e-12


def test_blur_is_reflect_padded_convolution():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(5).random((1, 1, 12, 10))
    op = parse_kernel("motion:5,45")
    ref = ndimage.convolve(x[0, 0], op.kernel, mode="mirror")  # numpy "reflect" == "mirror"
    np.testing.assert_allclose(op.forward(x)[0, 0], ref, atol=1e-12)
    assert abs(op.kernel.sum() - 1) < 1e-12 and op.kernel.shape[0] % 2 == 1


def test_wiener_inverts_a_noise_free_blur_well():
    from tinydip.io.images import sample_image, to_tensor
    from tinydip.metrics import psnr

    x = to_tensor(sample_image(64)).astype(np.float64)
    op = parse_kernel("gaussian:1")
    y = op.forward(x)
    assert psnr(np.clip(op.wiener(y, 1e-4), 0, 1), x) > psnr(y, x) + 3


@pytest.mark.parametrize("spec,message", [
    ("blurry", "unknown kernel spec"),
    ("gaussian:abc", "cannot read kernel spec"),
    ("gaussian:-1", "sigma must be"),
    ("box:0", "box size must be"),
    ("motion:5", "cannot read kernel spec"),
    ("motion:5,nan", "motion angle must be a finite"),  # issue 27: was an IndexError
    ("motion:5,inf", "motion angle must be a finite"),
    ("motion:5,-inf", "motion angle must be a finite"),
    ("motion:nan,0", "motion length must be"),
    ("gaussian:nan", "sigma must be"),
    ("gaussian:inf", "sigma must be"),
    ("missing_kernel.npy", "kernel file not found"),
])
def test_bad_kernel_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_kernel(spec)


def test_kernel_from_files(tmp_path):
    from tinydip.io.images import save_image

    np.save(tmp_path / "k.npy", np.ones((3, 3)))
    assert parse_kernel(str(tmp_path / "k.npy")).kernel.shape == (3, 3)
    img = np.zeros((5, 5))
    img[2, :] = 1
    save_image(tmp_path / "k.png", img)
    k = parse_kernel(str(tmp_path / "k.png")).kernel
    assert k.shape == (5, 5) and np.allclose(k[2], 0.2)
    with pytest.raises(ValueError, match="larger than the image"):
        parse_kernel("gaussian:3").forward(np.ones((1, 1, 16, 16)))
    with pytest.raises(ValueError, match="non-negative"):
        Blur(-np.ones((3, 3)))


# ---- issue 27: kernel files -- valid ones accepted, invalid ones one line -------------------

@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (1, 1), (1, 5, 5), (5, 5, 1), (1, 1, 9)])
def test_kernel_files_keep_their_real_axes(tmp_path, shape):
    np.save(tmp_path / "k.npy", np.ones(shape))
    op = parse_kernel(str(tmp_path / "k.npy"))
    want = shape[-2:] if shape[0] == 1 and len(shape) == 3 else shape[:2]
    assert op.size == want
    assert np.isclose(op.kernel.sum(), 1.0)


@pytest.mark.parametrize("content, message", [
    (b"", "cannot read kernel file"),  # an empty file: was an EOFError traceback
    (b"not a numpy file at all", "cannot read kernel file"),
    (np.ones(9), "must be a 2-D array"),
    (np.ones((2, 3, 4)), "must be a 2-D array"),
    (np.ones((3, 3), np.complex128), "must hold real numbers"),
    (np.array([["2020-01-01"] * 2] * 2, "datetime64[D]"), "must hold real numbers"),
    (np.array([["a", "b"], ["c", "d"]]), "must hold real numbers"),
    (np.full((3, 3), np.nan), "must be finite"),
    (np.zeros((3, 3)), "not all zero"),
    (np.zeros((0, 3)), "must be a 2-D array"),
])
def test_bad_kernel_files_are_one_line(tmp_path, content, message):
    path = tmp_path / "k.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.save(path, content)
    with pytest.raises(ValueError, match=message) as info:
        parse_kernel(str(path))
    assert "\n" not in str(info.value) and "k.npy" in str(info.value)


def test_kernel_whose_sum_overflows_normalises_correctly(tmp_path):
    np.save(tmp_path / "k.npy", np.full((3, 3), 1e308))  # the sum is inf in float64
    op = parse_kernel(str(tmp_path / "k.npy"))
    assert np.allclose(op.kernel, 1 / 9)
    y = op.forward(np.ones((1, 1, 8, 8), np.float32))
    assert np.allclose(y, 1.0, atol=1e-6)  # not a black observation


def test_kernel_as_large_as_the_image_even_sides(tmp_path):
    x = np.random.default_rng(0).random((1, 1, 8, 6)).astype(np.float32)
    for shape in [(8, 1), (1, 6), (8, 6), (7, 5)]:  # even sides get padded: still accepted
        op = Blur(np.ones(shape))
        assert op.forward(x).shape == x.shape and op.adjoint(x).shape == x.shape
    with pytest.raises(ValueError, match="blur kernel 9x1 is larger than the image 8x6"):
        Blur(np.ones((9, 1))).forward(x)
