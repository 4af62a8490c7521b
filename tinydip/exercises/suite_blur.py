"""Checks for the blur operator's adjoint (deblurring; the adjoint as in chapter 6): the
dot-product test first, then tinydip's ``operators.Blur.adjoint`` as the reference."""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from ..gradcheck import rel_error
from ..operators import Blur
from ..operators.blur import _reflect_matrix
from .checks import Fail, LearnerModule, Suite, compare, expect_array

BLUR_ADJOINT = Suite()

# (x shape, kernel shape): non-square images, N = 2, odd non-square kernels, 1-pixel-wide
# (radius 2 first: with radius 1, 'symmetric' and 'edge' folds are the same mistake)
CASES = (((2, 3, 7, 9), (5, 5)), ((1, 2, 6, 5), (5, 3)), ((1, 1, 4, 8), (1, 5)),
         ((1, 2, 5, 6), (3, 3)))


def _kernel(rng: np.random.Generator, shape) -> np.ndarray:
    """A normalised kernel that is NOT point-symmetric (so flips and transposes show)."""
    k = rng.uniform(0.1, 1.0, shape)
    k.reshape(-1)[0] += 1.0
    return k / k.sum()


def _edge_matrix(n: int, r: int, mode: str) -> np.ndarray:
    """The padding as a matrix for ``mode`` 'symmetric' / 'edge' / 'constant' (mistakes)."""
    idx = np.arange(-r, n + r)
    p = np.zeros((n + 2 * r, n))
    if mode == "symmetric":  # edge pixel repeated: -1 -> 0, -2 -> 1
        src = np.where(idx < 0, -idx - 1, np.where(idx > n - 1, 2 * n - 1 - idx, idx))
    elif mode == "edge":
        src = np.clip(idx, 0, n - 1)
    else:  # constant zeros: the border is dropped
        keep = (idx >= 0) & (idx < n)
        p[np.arange(n + 2 * r)[keep], idx[keep]] = 1.0
        return p
    p[np.arange(n + 2 * r), src] = 1.0
    return p


def _fold(dxp: np.ndarray, k: np.ndarray, H: int, W: int, mode: str) -> np.ndarray:
    rh, rw = k.shape[0] // 2, k.shape[1] // 2
    if mode == "reflect":
        ph, pw = _reflect_matrix(H, rh), _reflect_matrix(W, rw)
    else:
        ph, pw = _edge_matrix(H, rh, mode), _edge_matrix(W, rw, mode)
    return np.matmul(np.matmul(ph.T, dxp), pw)


def _mistakes(dy: np.ndarray, k: np.ndarray) -> dict[str, np.ndarray]:
    H, W = dy.shape[2:]
    full = fftconvolve(dy, k[::-1, ::-1][None, None], mode="full", axes=(2, 3))
    unflipped = fftconvolve(dy, k[None, None], mode="full", axes=(2, 3))
    return {
        "that is the forward (the blur) applied to dy, not its adjoint: the adjoint sends "
        "each dy[y, x] back to the pixels that made it, weighted by the same kernel taps "
        "(the kernel mirrored, as seen from dy)": Blur(k).forward(dy),
        "the kernel is the wrong way round (flipped): out[y, x] used k[i, j] times "
        "xpad[y + kh-1-i, x + kw-1-j], so dy[y, x] * k[i, j] goes back to exactly that "
        "padded pixel": _fold(unflipped, k, H, W, "reflect"),
        "the mirrored border is dropped: the reflect padding COPIED pixels into the border, "
        "so the gradient that reached the border belongs to those pixels -- add it back "
        "onto them (the transpose of the padding)": _fold(full, k, H, W, "constant"),
        "the border is folded back as 'symmetric' padding (edge pixel repeated); np.pad's "
        "'reflect' mirrors ABOUT the edge pixel: padded index -1 copies pixel 1, -2 copies 2":
            _fold(full, k, H, W, "symmetric"),
        "the whole border is added onto the edge pixel ('edge' padding); 'reflect' copies "
        "pixel d into the border at distance d": _fold(full, k, H, W, "edge"),
        "the adjoint is not an inverse: do not normalise or rescale it":
            _fold(full, k, H, W, "reflect") * k.size,
    }


def _case(rng: np.random.Generator, xs, ks, dtype=np.float64):
    x = rng.standard_normal(xs).astype(dtype)
    y = rng.standard_normal(xs).astype(dtype)
    return x, y, _kernel(rng, ks).astype(dtype)


@BLUR_ADJOINT.check("dot-product test <A x, y> = <x, A^T y> (float64)")
def _bl_dot(m: LearnerModule) -> None:
    rng = np.random.default_rng(110)
    for xs, ks in CASES:
        x, y, k = _case(rng, xs, ks)
        aty = expect_array(m.blur_adjoint(y, k), "A^T y", xs)
        lhs = float(np.vdot(m.blur_forward(x, k), y))
        try:
            compare(float(np.vdot(x, aty)), lhs, "<x, A^T y>", 1e-12, against="<A x, y>",
                    hint=f"case x {xs}, kernel {ks}: A^T must be the exact transpose of the "
                    "given forward, border included")
        except Fail:  # name the mistake if A^T y is a known wrong variant
            for hint, wrong in _mistakes(y, k).items():
                if rel_error(aty, wrong) <= 1e-9:
                    raise Fail(f"<x, A^T y> != <A x, y> (case x {xs}, kernel {ks}): "
                               f"{hint}") from None
            raise


@BLUR_ADJOINT.check("shape and dtype (float32 stays float32)")
def _bl_shape(m: LearnerModule) -> None:
    x, y, k = _case(np.random.default_rng(111), *CASES[0], np.float32)
    expect_array(m.blur_adjoint(y, k), "A^T y", x.shape, np.float32)


@BLUR_ADJOINT.check("matches tinydip's Blur.adjoint (non-square images and kernels)")
def _bl_values(m: LearnerModule) -> None:
    rng = np.random.default_rng(112)
    for xs, ks in CASES:
        x, y, k = _case(rng, xs, ks)
        op = Blur(k)
        compare(m.blur_forward(x, k), op.forward(x), "blur_forward (given)", 1e-10,
                hint="the given forward was changed; restore it from the stub")
        got = expect_array(m.blur_adjoint(y, k), "A^T y", xs)
        compare(got, op.adjoint(y), "A^T y", 1e-10, _mistakes(y, k),
                hint=f"case dy {xs}, kernel {ks}")
