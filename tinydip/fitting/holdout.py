"""Held-out pixels for self-validation: split the known pixels, and the MSE on a mask.

Used by the ``val`` stopping rule (:class:`tinydip.fitting.stopping.ValidationLoss`): the
fitting loop
trains on ``train_mask`` and reports the MSE on ``val_mask`` as an estimate of the error to the
truth (valid when the noise is independent across pixels).
"""

from __future__ import annotations

import numpy as np

__all__ = ["make_holdout", "masked_mse"]


def make_holdout(
    mask_known: np.ndarray | None,
    shape: tuple[int, ...],
    frac: float = 0.05,
    rng: np.random.Generator | int = 0,
    *,
    channel_axis: int | None = -1,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Split the known pixels of an observation into boolean ``(train_mask, val_mask)``.

    Args:
        mask_known: observed entries (True = known), broadcastable to ``shape`` or missing only
            the channel axis (H x W for an H x W x C image); ``None`` means all known.
        shape: shape of the observation, e.g. (H, W, C); for SR the low-resolution shape.
        frac: fraction of the fully known pixel locations to hold out, in (0, 1).
        rng: a seeded ``np.random.Generator`` or an int seed.
        channel_axis: axis along which a pixel is held out as a whole (``None``: no channel
            axis; ignored for 2-D shapes).

    Returns:
        Masks of ``shape``: ``val_mask`` is ``round(frac * m)`` pixel locations chosen
        uniformly without replacement among the ``m`` locations known in every channel, the
        same across channels; ``train_mask = known & ~val_mask``.

    Notes:
        Train on :math:`\lVert M_{train}\odot(A f - y)\rVert^2`, report ``val_loss`` :math:`=
        \lVert M_{val}\odot(A f-y)\rVert^2/|M_{val}|` (:func:`masked_mse`); validity: see
        :class:`ValidationLoss`.
    """
    shape = tuple(int(s) for s in shape)
    if not 0.0 < frac < 1.0:
        raise ValueError(f"holdout fraction must be in (0, 1), got {frac}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    ch = None if channel_axis is None or len(shape) <= 2 else channel_axis % len(shape)
    if mask_known is None:
        known = np.ones(shape, dtype=bool)
    else:
        known = np.asarray(mask_known).astype(bool)
        if ch is not None and known.ndim == len(shape) - 1:
            known = np.expand_dims(known, ch)
        try:
            known = np.broadcast_to(known, shape)
        except ValueError:
            raise ValueError(
                f"mask_known of shape {np.shape(mask_known)} does not fit image shape {shape}"
            ) from None
    where = known.all(axis=ch, keepdims=True) if ch is not None else known
    idx = np.flatnonzero(where)
    n_val = int(round(frac * idx.size))
    if n_val < 1 or n_val >= idx.size:
        raise ValueError(
            f"holdout of frac={frac} from {idx.size} known pixels leaves an empty "
            "validation or training set"
        )
    val_loc = np.zeros(where.shape, dtype=bool)
    val_loc.flat[gen.choice(idx, size=n_val, replace=False)] = True
    val = np.broadcast_to(val_loc, shape).copy()
    return known & ~val, val


def masked_mse(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    r"""Mean squared error over the entries selected by ``mask`` (broadcast to ``output``).

    Notes:
        :math:`\mathrm{MSE} = \sum_i m_i (o_i - y_i)^2 / \sum_i m_i`, accumulated in float64.
    """
    out, tgt = np.asarray(output), np.asarray(target)
    if out.shape != tgt.shape:
        raise ValueError(f"output shape {out.shape} != target shape {tgt.shape}")
    m = np.broadcast_to(np.asarray(mask, dtype=bool), out.shape)
    count = int(m.sum())
    if count == 0:
        raise ValueError("mask selects no entries")
    r = out[m].astype(np.float64) - tgt[m]
    return float(np.dot(r, r) / count)
