"""tinydip.runtime.allocator: freed buffers are kept (no page faults on reuse), once, and the
user's own malloc settings win. Each case runs in a fresh interpreter: mallopt is process-wide."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc")

# A step's pattern: allocate and write ten 8 MB arrays (the forward pass's activations), free
# them all (backward), 20 times; print the page faults of the last 10 rounds. Without the
# setting glibc returns the freed heap top to the kernel (above its dynamic trim threshold)
# and the next round faults all 80 MB in again (~20000 pages); with it the pages stay mapped.
_PROBE = """
import resource, sys
import numpy as np
from tinydip.runtime.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    print(keep_freed_memory(), keep_freed_memory(), end=" ")
else:
    print("-", "-", end=" ")
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(20):
    if i == 10:
        f0 = faults()
    held = [np.empty(2 * 2**20, dtype=np.float32) for _ in range(10)]  # 10 x 8 MB
    for a in held:
        a[...] = 1.0
    del held, a
print(faults() - f0)
"""


def _run(mode: str, **env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("MALLOC_") and k != "TINYDIP_KEEP_FREED_MEMORY"}
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_freed_buffers_are_reused_without_page_faults():
    applied, again, faults = _run("keep")
    assert (applied, again) == ("True", "True")
    assert int(faults) < 2000  # 10 rounds of 10 x 2048 pages would be ~200000


def test_without_it_every_round_faults_again():
    # the probe can fail: glibc's own behaviour is what the setting changes
    _, _, faults = _run("plain")
    assert int(faults) > 20000  # measured ~51000


@pytest.mark.parametrize("env", [{"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"MALLOC_MMAP_THRESHOLD_": "131072"},
                                 {"TINYDIP_KEEP_FREED_MEMORY": "0"}])
def test_the_users_choice_wins(env):
    applied, again, _ = _run("keep", **env)
    assert (applied, again) == ("False", "False")


def _applied_after(*lines: str) -> bool:
    """Whether the setting is in force after running ``lines`` in a fresh interpreter."""
    code = "\n".join(["import numpy as np", "from tinydip.runtime import allocator", *lines,
                      "print(allocator._state)"])
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True,
                         text=True, check=True).stdout
    return "'applied': True" in out


def test_fit_step_applies_it():
    assert _applied_after("from tinydip.fitting.step import fit_step",
                          "from tinydip.nn import Conv2d",
                          "x = np.zeros((1, 1, 4, 4), np.float32)",
                          "fit_step(Conv2d(1, 1, 1), None, x, x)")


def test_the_fit_estimate_probes_under_the_same_setting():
    """estimate_fit times its probes as the fit will run: with page faults the 64/96 probes'
    slope put a 256x256 fit at 0.21 s/it where it ran 0.10."""
    assert _applied_after("from tinydip.fitting.memory import estimate_fit",
                          "from tinydip.models import deep_decoder",
                          "estimate_fit(deep_decoder(4, 3, rng=np.random.default_rng(0)), 32, 32)")
