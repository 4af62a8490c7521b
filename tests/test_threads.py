"""tinydip.fitting.threads: the timing-driven choice between parallel and serial steps, and
the promise it rests on -- the thread count never changes a fit's numbers."""

import numba
import numpy as np
import pytest

from tinydip.fitting.fit import fit
from tinydip.fitting.hooks import Hook
from tinydip.fitting.threads import ThreadChoice, use_threads
from tinydip.functional import gemm
from tinydip.models import skip_unet, unet_config


class FakeMachine:
    """A clock that advances by a step's cost, which depends on the threads in use."""

    def __init__(self, cost):
        self.cost, self.threads, self.now, self.applied = cost, 2, 0.0, []

    def clock(self):
        return self.now

    def apply(self, n):
        self.threads = n
        self.applied.append(n)


def drive(choice, machine, steps, cost_at=None):
    z = np.zeros(1)
    for it in range(steps):
        choice.before_step(it, z)
        machine.now += (cost_at or machine.cost)(it, machine.threads)
    choice.close()


def make(machine, **kw):
    return ThreadChoice(2, clock=machine.clock, apply=machine.apply, **kw)


def test_keeps_parallel_when_it_is_faster():
    m = FakeMachine(lambda it, n: 0.05 if n == 2 else 0.06)
    c = make(m, every=20, probe=3)
    drive(c, m, 100)
    assert [t for _, t in c.choices] == [2] * 5
    assert m.threads == 2


def test_goes_serial_when_the_cores_are_busy_and_back_when_they_are_free():
    busy = lambda it, n: (0.14 if n == 2 else 0.06) if it < 50 else (0.05 if n == 2 else 0.06)  # noqa: E731
    m = FakeMachine(None)
    c = make(m, every=20, probe=3)
    seen = []
    z = np.zeros(1)
    for it in range(100):
        c.before_step(it, z)
        seen.append(m.threads)
        m.now += busy(it, m.threads)
    c.close()
    assert [t for _, t in c.choices] == [1, 1, 1, 2, 2]  # decided at 11, 31, 51, 71, 91
    assert seen[12:23] == [1] * 11  # serial between the first decision and the next probe
    assert m.threads == 2  # close() puts all threads back


def test_margin_keeps_parallel_on_a_near_tie():
    m = FakeMachine(lambda it, n: 0.050 if n == 2 else 0.047)
    c = make(m, every=20, probe=3, margin=0.9)
    drive(c, m, 40)
    assert [t for _, t in c.choices] == [2, 2]


def test_one_thread_does_nothing():
    m = FakeMachine(lambda it, n: 1.0)
    c = ThreadChoice(1, clock=m.clock, apply=m.apply)
    drive(c, m, 50)
    assert m.applied == [] and c.choices == []


def test_probe_times_exclude_switch_steps():
    """Switching costs the first step after it (pool restart, cold caches): not timed."""
    def cost(it, n):
        return 1.0 if it in (3, 7) else (0.05 if n == 2 else 0.06)  # 3, 7: switch steps
    m = FakeMachine(None)
    c = make(m, every=20, probe=3, start=3)
    drive(c, m, 12, cost)
    assert c.choices == [(11, 2)]


class Alternate(Hook):
    """Switches between 1 and 2 threads every step (the worst a ThreadChoice could do)."""

    def before_step(self, it, z):
        use_threads(1 + it % 2)
        return z

    def close(self):
        use_threads(2)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_thread_count_never_changes_a_fit():
    def run(extra_hook):
        rng = np.random.default_rng(0)
        net = skip_unet(unet_config("skip5-128", channels_down=(16,) * 5,
                                    channels_up=(16,) * 5), rng=rng)
        # 128x128: large enough that the products are split into blocks
        image = np.random.default_rng(1).random((1, 3, 128, 128), dtype=np.float32)
        if extra_hook:
            import tinydip.fitting.loop as loop
            orig = loop.ThreadChoice
            loop.ThreadChoice = Alternate
            try:
                return fit(net, image, iters=12, progress=False).output
            finally:
                loop.ThreadChoice = orig
        return fit(net, image, iters=12, progress=False).output

    steady, switching = run(False), run(True)
    np.testing.assert_array_equal(steady, switching)
    assert gemm.threads() == 2 and numba.get_num_threads() == 2
