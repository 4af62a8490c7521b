"""im2col / col2im: turn a convolution into one matrix product.

For one image ``x`` of shape (C, H, W), a KHxKW kernel, stride S and "same"-style padding P,
``im2col`` writes the matrix ``cols`` of shape (C*KH*KW, Ho*Wo) whose row ``(c, i, j)`` holds the
input pixel seen by kernel tap (i, j) of channel c at every output position:

    cols[(c*KH + i)*KW + j, oy*Wo + ox] = xpad[c, oy*S + i, ox*S + j]

so that ``conv(x, w) = w.reshape(F, C*KH*KW) @ cols``. ``col2im`` is its exact adjoint
(transpose): it scatters-and-adds a (C*KH*KW, Ho*Wo) matrix back into a (C, H, W) image.

Padding is folded into the index arithmetic (no padded copy of x is made):
``zeros`` reads 0 outside the image; ``reflect`` mirrors without repeating the edge
(PyTorch ``ReflectionPad2d``): index -1 -> 1, H -> H-2. The adjoint of reflection padding
adds the gradient of the mirrored pixel to its source, which col2im does for free.
"""

from numba import njit, prange


def conv_out_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a convolution along one axis: floor((size + 2*pad - kernel)/stride) + 1."""
    return (size + 2 * pad - kernel) // stride + 1


def _src_index(i, n, reflect):
    """Map a padded coordinate ``i`` (may be <0 or >=n) to a source index, or -1 for a zero."""
    if 0 <= i < n:
        return i
    if not reflect:
        return -1
    if i < 0:
        return -i
    return 2 * (n - 1) - i


def _valid_range(j, pad, stride, n_in, n_out):
    """Output positions [lo, hi) whose input index o*stride + j - pad lies inside [0, n_in)."""
    lo = 0
    if j < pad:
        lo = (pad - j + stride - 1) // stride
    hi = (n_in - 1 + pad - j) // stride + 1
    if hi > n_out:
        hi = n_out
    if hi < 0:  # tap right of the image for every output (zeros padding, n_in <= pad)
        hi = 0
    if lo > hi:
        lo = hi
    return lo, hi


def _im2col(x, kh, kw, stride, pad, reflect, cols):
    """x: (C, H, W) -> cols: (C*KH*KW, Ho*Wo), written in place. Parallel over rows.

    Each output row splits into a left border, an interior and a right border; only the
    borders need the padding logic. The interior of a stride-1 row is a slice copy, which
    numba vectorises (measured 5x faster than the element loop, as fast as a memcpy).
    """
    C, H, W = x.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    for row in prange(C * kh * kw):
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        lo, hi = valid_range(j, pad, stride, W, Wo)
        off = j - pad
        dst = cols[row]  # (Ho*Wo,)
        for oy in range(Ho):
            base = oy * Wo
            iy = src_index(oy * stride + i - pad, H, reflect)
            if iy < 0:
                dst[base:base + Wo] = 0
                continue
            src = x[c, iy]  # (W,)
            for ox in range(lo):
                ix = src_index(ox * stride + off, W, reflect)
                dst[base + ox] = src[ix] if ix >= 0 else 0
            if stride == 1:
                dst[base + lo:base + hi] = src[lo + off:hi + off]
            else:
                for ox in range(lo, hi):
                    dst[base + ox] = src[ox * stride + off]
            for ox in range(hi, Wo):
                ix = src_index(ox * stride + off, W, reflect)
                dst[base + ox] = src[ix] if ix >= 0 else 0


def _col2im(cols, kh, kw, stride, pad, reflect, dx):
    """Adjoint of im2col: dx (C, H, W) += scatter of cols (C*KH*KW, Ho*Wo).

    ``dx`` is accumulated into (zero it first for a plain transpose). Parallel over channels:
    every row of channel c only writes into dx[c], so the writes are disjoint.
    """
    C, H, W = dx.shape
    Ho = (H + 2 * pad - kh) // stride + 1
    Wo = (W + 2 * pad - kw) // stride + 1
    for c in prange(C):
        for i in range(kh):
            for j in range(kw):
                src = cols[(c * kh + i) * kw + j]  # (Ho*Wo,)
                lo, hi = valid_range(j, pad, stride, W, Wo)
                off = j - pad
                for oy in range(Ho):
                    iy = src_index(oy * stride + i - pad, H, reflect)
                    if iy < 0:
                        continue
                    base = oy * Wo
                    dst = dx[c, iy]  # (W,)
                    for ox in range(lo):
                        ix = src_index(ox * stride + off, W, reflect)
                        if ix >= 0:
                            dst[ix] += src[base + ox]
                    if stride == 1:  # explicit loop on slices: vectorises, no temporary
                        d = dst[lo + off:hi + off]
                        s = src[base + lo:base + hi]
                        for k in range(hi - lo):
                            d[k] += s[k]
                    else:
                        for ox in range(lo, hi):
                            dst[ox * stride + off] += src[base + ox]
                    for ox in range(hi, Wo):
                        ix = src_index(ox * stride + off, W, reflect)
                        if ix >= 0:
                            dst[ix] += src[base + ox]


src_index = njit(cache=True, inline="always")(_src_index)
valid_range = njit(cache=True, inline="always")(_valid_range)
im2col = njit(cache=True, parallel=True)(_im2col)
col2im = njit(cache=True, parallel=True)(_col2im)
