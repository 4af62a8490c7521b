"""The "how to add a stopping rule" recipe, tried: a class with the StoppingRule protocol
runs in ``fit(rule=...)`` with every output stream and the selection it makes is reported --
nothing else to change (a named ``--stop`` choice is one more line: DEVELOPERS.md)."""

from __future__ import annotations

import numpy as np

from tinydip.fitting.fit import fit
from tinydip.fitting.stopping import StoppingRule
from tinydip.models import skip_unet, unet_config


class LossPlateau:
    """Stop when the training loss has not fallen 1% below its best for ``patience`` steps;
    return the output at that best (a toy rule: the loss keeps falling as noise is fitted)."""

    name, needs_val, reason = "loss-plateau", False, "not stopped"

    def __init__(self, patience: int = 5):
        self.patience, self.statistic = patience, float("nan")
        self.best_iter, self.best_output, self._best = None, None, np.inf

    def update(self, it, output, loss, *, val_loss=None) -> bool:
        self.statistic = loss
        if loss < 0.99 * self._best:
            self._best, self.best_iter, self.best_output = loss, it, output.copy()
        elif it - self.best_iter >= self.patience:
            self.reason = f"loss flat for {self.patience} iterations"
            return True
        return False


def test_a_new_rule_runs_in_fit_and_selects_the_output():
    net = skip_unet(unet_config("skip5-128", channels_down=(8,) * 2, channels_up=(8,) * 2,
                                channels_skip=(2,) * 2), rng=np.random.default_rng(0))
    obs = np.random.default_rng(1).random((1, 3, 32, 32)).astype(np.float32)
    rule = LossPlateau(patience=3)
    assert isinstance(rule, StoppingRule)  # the protocol is the whole contract
    res = fit(net, obs, iters=200, rule=rule, lr=0.05, progress=False)
    assert res.stopped_iter is not None and res.stopped_iter < 199
    assert res.selection.rule == "loss-plateau" and res.output_iter == rule.best_iter
    assert res.stop_reason == rule.reason
    np.testing.assert_array_equal(res.output, rule.best_output)
