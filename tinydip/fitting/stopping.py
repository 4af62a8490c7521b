"""Ground-truth-free early stopping rules for Deep Image Prior fitting.

DIP's output first approaches the clean image, then overfits the degradation, so *when* to
stop decides the result.  The loop calls ``rule.update(it, output, loss, val_loss=...)`` once
per iteration, stops when it returns ``True``, and returns ``rule.best_output`` if not ``None``
(also when the rule never fired: it is the rule's pick among all it was fed), else its last
output.  A rule selects among whatever outputs it is fed -- raw network outputs or their
exponential moving average -- and ``best_output`` is of the same kind.

:class:`WindowedVariance` (ES-WMV; any task, no holdout), :class:`ValidationLoss` (held-out
observed pixels, :func:`make_holdout`), :class:`NoStop`; :func:`make_rule` builds one by name
and ``rule.needs_val`` tells the loop to make a holdout and pass ``val_loss``.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np

from ..runtime.choice import Choice
from .holdout import make_holdout, masked_mse  # re-exported: the val rule's data side
from .plateau import ValidationLoss, WindowedVariance  # re-exported: the named rules

__all__ = ["StoppingRule", "WindowedVariance", "ValidationLoss", "NoStop"]
__all__ += ["make_rule", "make_holdout", "masked_mse", "GENERIC_STOPPING", "VAL_TUNED", "rule_spec"]


@runtime_checkable
class StoppingRule(Protocol):
    """What the fitting loop relies on.

    ``update`` feeds iteration ``it`` (0-based, increasing) with the output (any shape; copied
    if kept, so the loop may reuse its buffer); ``True`` means stop now.  ``statistic`` is nan
    until it exists; ``best_output`` (a copy of the output at ``best_iter``) is ``None`` until
    a candidate exists; ``needs_val``: ``update`` must be given ``val_loss``.
    """

    name: str
    needs_val: bool
    statistic: float
    best_iter: int | None
    best_output: np.ndarray | None
    reason: str

    def update(
        self, it: int, output: np.ndarray, loss: float, *, val_loss: float | None = None
    ) -> bool: ...


class NoStop:
    """Never stops and selects nothing (the loop then returns its final output)."""

    name = "none"
    needs_val = False

    statistic: float = math.nan
    best_iter: int | None = None
    best_output: np.ndarray | None = None
    reason = "not stopped (early stopping disabled)"

    def update(
        self, it: int, output: np.ndarray, loss: float, *, val_loss: float | None = None
    ) -> bool:
        """Do nothing; always ``False``."""
        return False


class Rule(Choice):
    """What ``stop=`` accepts (``fit``, the CLI's ``--stop``, a study's ``stop``)."""

    AUTO = "auto"  # the task's choice (a bare fit: GENERIC_STOPPING)
    WMV = "wmv"  # WindowedVariance
    VAL = "val"  # ValidationLoss
    NONE = "none"  # run the whole budget


class Stream(Choice):
    """The output stream a rule watches (and ``val`` validates)."""

    SMOOTHED = "smoothed"  # the EMA of the outputs
    RAW = "raw"  # each iteration's output


_RULES = {Rule.AUTO: WindowedVariance, Rule.WMV: WindowedVariance, Rule.VAL: ValidationLoss,
          Rule.NONE: NoStop}
RULE_NAMES: tuple[str, ...] = Rule.values()

# A stopping spec says what ``stop="auto"`` means and each rule's tuned options:
# ``{"auto": rule, rule: (options, watched stream)}``; options not given take the class
# defaults.  Each task declares its own spec (``tinydip.tasks``: ``Task.stopping``), chosen
# by measurement with benchmarks/bench_stopping.py (benchmarks/README.md, "Early
# stopping"): on noisy images (denoising) the held-out loss tracks the error directly and
# adapts to the noise level, while the variance knee is tied to the optimiser's time scale;
# on noise-free observations (inpainting, super-resolution) there is little to overfit, the
# held-out loss keeps falling (and holding out pixels costs quality), so the variance knee
# just ends the run once the output has settled.
# val patience 100 (was 200): on hopper (sigma 15, 25, 50), face, flag and ribbons (sigma 25)
# it selects the very same iterate as 200 (and as 50), 100 steps sooner (benchmarks/README.md)
VAL_TUNED = ({"patience": 100, "smooth": 0.99, "warmup": 100}, "smoothed")
WMV_DEFAULT = ({}, "smoothed")
GENERIC_STOPPING: dict = {"auto": "wmv", "val": VAL_TUNED, "wmv": WMV_DEFAULT}
"""The spec of a bare :func:`~tinydip.fitting.fit.fit` (no task): the variance knee, valid for
every task and costing no pixels."""


def rule_spec(spec: dict, rule: str = "auto") -> tuple[str, dict, str]:
    """``(rule name, constructor options, stream)`` that ``rule`` means under ``spec``.

    ``rule="auto"`` resolves to the spec's chosen rule; ``"wmv"``/``"val"`` give that rule's
    tuned options; ``"none"`` gives ``("none", {}, "smoothed")``.  An unknown rule name, or
    a rule the spec does not tune, raises ``ValueError``.
    """
    key = str(rule).strip().lower()
    if key not in _RULES:
        raise ValueError(f"unknown stopping rule {rule!r}; choose one of {', '.join(_RULES)}")
    if key == "auto":
        key = spec["auto"]
    if key == "none":
        return "none", {}, "smoothed"
    if key not in spec:
        raise ValueError(f"stopping rule {key!r} has no settings in {spec}")
    opts, stream = spec[key]
    return key, dict(opts), stream


def make_rule(name: str, **kw: object) -> StoppingRule:
    """Build a stopping rule by name: ``"auto"``, ``"wmv"``, ``"val"`` or ``"none"``.

    ``"auto"`` is the task-independent default, :data:`GENERIC_STOPPING`
    (:class:`WindowedVariance`; ``kw`` override its options); the tasks resolve ``"auto"``
    per task before calling the loop (``Task.stopping``).  Keyword arguments go to the
    constructor; an unknown name or option raises ``ValueError``.
    """
    key = str(name).strip().lower()
    if key not in _RULES:
        raise ValueError(f"unknown stopping rule {name!r}; choose one of {', '.join(_RULES)}")
    if key == "auto":
        key, opts, _ = rule_spec(GENERIC_STOPPING)
        kw = {**opts, **kw}
    try:
        return _RULES[key](**kw)
    except TypeError as exc:
        raise ValueError(f"invalid option for stopping rule {name!r}: {exc}") from None
