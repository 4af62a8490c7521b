"""The one fitting loop (tinydip.fitting.loop) and its hooks: same pixels as before the
refactor (issue 24), and a planted bug that the comparison must catch.

``tests/data/loop_reference.npz`` holds what the code BEFORE the refactor computed for small
fixed fits (32x32 grayscale, a tiny U-Net, 60 iterations, seed 0) and for a small codec run
(Deep Decoder fit, incremental rounding, straight-through fine-tuning). Regenerate it only
on purpose, with ``python tests/test_loop.py --record`` (then say why in the commit).

The references are tied to the machine code that runs: OpenBLAS picks its GEMM kernels per
CPU (``OPENBLAS_CORETYPE=Haswell`` picks others), numba compiles every kernel for the host CPU
(its vector width decides the order of the reassociated sums), and llvmlite's LLVM version
decides the rest; their sums round differently, and a DIP fit is chaotic -- measured between
SkylakeX and Haswell kernels on these very runs: outputs apart by up to 0.35 after 60
iterations (a different best iteration), 4 WMV iterations more; between two AMD EPYC
machines with the same BLAS kernel, losses apart by 2e-4 after 60 iterations. No tolerance
both holds across machines and catches a changed algorithm, so the file keeps, per
:func:`platform` (BLAS kernel, numba's target CPU, llvmlite), a digest of every array, compared
bit-for-bit (the arrays themselves, from one platform, only size a difference in the failure
message). A platform without a recording skips, saying which ones are recorded (a learner's
machine runs the other tests); add one with ``--record`` from the code the reference is of.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from tinydip.fitting.fit import fit
from tinydip.fitting.hooks import Hook, Jitter, Track, Verdict
from tinydip.fitting.loop import BUDGET, fit_loop
from tinydip.fitting.rollback import Rollback
from tinydip.io.images import sample_image, to_tensor
from tinydip.models import skip_unet
from tinydip.operators import Downsampler, Mask
from tinydip.optim import Adam, CosineLR

REFERENCE = Path(__file__).parent / "data" / "loop_reference.npz"
SMALL = dict(in_channels=4, out_channels=1, channels_down=(8, 8), channels_up=(8, 8),
             channels_skip=(2, 2))
CASES = {
    "none": {},
    "val": {"stop": "val", "stop_options": {"patience": 3, "warmup": 5, "smooth": 0.0}},
    "wmv": {"stop": "wmv", "stop_options": {"window": 8, "patience": 5, "warmup": 10}},
    "rollback": {"rollback": True, "rollback_factor": 1.05},
    "mask": {"operator": "mask"},
    "downsampler": {"operator": "down"},
}
STREAMS = ("last", "best", "smoothed", "output")
HISTORY = ("loss", "val_loss", "stat", "psnr", "psnr_smoothed")


def _image() -> np.ndarray:
    return to_tensor(sample_image(32)).mean(axis=1, keepdims=True).astype(np.float32)


def fit_case(name: str) -> dict[str, np.ndarray]:
    """Run one reference fit; its outputs and history as flat arrays."""
    kwargs = dict(CASES[name])
    truth = _image()
    obs, op = truth, kwargs.pop("operator", None)
    if op == "mask":
        op = Mask((np.random.default_rng(1).random((32, 32)) < 0.6).astype(np.float32))
        obs = op.forward(truth)
    elif op == "down":
        op = Downsampler(2)
        obs = op.forward(truth)
    res = fit(skip_unet(rng=np.random.default_rng(0), **SMALL), obs, operator=op, truth=truth,
              iters=60, seed=0, progress=False, **kwargs)
    out = {s: getattr(res, s) for s in STREAMS}
    for key in HISTORY:
        out[key] = np.array([r.get(key, np.nan) for r in res.history])
    out["iters"] = np.array([r["iter"] for r in res.history])
    out["meta"] = np.array([res.iters_run, res.best_iter, res.selection.iteration,
                            -1 if res.stopped_iter is None else res.stopped_iter,
                            len(res.rollbacks)])
    return {f"{name}/{k}": v for k, v in out.items()}


def codec_case() -> dict[str, np.ndarray]:
    """A small compression run: the decoder fit, incremental rounding, fine-tuning."""
    from tinydip.codec.encoder import CodecConfig, compress

    cfg = CodecConfig(k=8, layers=4, iters=60, bits=5, qat_iters=8, incremental_iters=6,
                      progress=False)
    r = compress(sample_image((32, 32)), cfg)
    out = {"image": r.image, "meta": np.array([r.best_iter, r.qat_best_iter, r.fit_iters_run])}
    for stage in ("fit", "incremental", "qat"):
        out[f"{stage}_loss"] = np.array([h["loss"] for h in r.history if h["stage"] == stage])
    out["fit_lr"] = np.array([h["lr"] for h in r.history if h["stage"] == "fit"])
    for name, value in r.tensors.items():
        out[f"tensor_{name}"] = value
    return {f"codec/{k}": v for k, v in out.items()}


def blas_kernel() -> str:
    """The BLAS kernel family NumPy runs (threadpoolctl's ``architecture``, e.g. "Haswell")."""
    from threadpoolctl import threadpool_info

    return "+".join(sorted({str(i.get("architecture")) for i in threadpool_info()
                            if i.get("user_api") == "blas"}))


def platform() -> str:
    """What decides a fit's float rounding here: the BLAS kernel, the CPU numba compiles for
    and llvmlite's version, e.g. "SkylakeX/znver4/llvmlite-0.50.0"."""
    import llvmlite
    import numba
    from llvmlite import binding

    cpu = numba.config.CPU_NAME or binding.get_host_cpu_name()
    return f"{blas_kernel()}/{cpu}/llvmlite-{llvmlite.__version__}"


def digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()[:16]


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        ref = dict(data)
    column = f"digest:{platform()}"
    if column not in ref:
        pytest.skip(f"no reference for this platform, {platform()} (recorded: "
                    f"{sorted(k[7:] for k in ref if k.startswith('digest:'))})")
    return ref, dict(zip(ref["keys"].tolist(), ref[column].tolist(), strict=True))


def _compare(got: dict, reference) -> list[str]:
    """Keys of ``got`` that are not bit-for-bit the reference's (with the largest difference
    when the reference arrays were recorded with this BLAS kernel), or that it lacks."""
    arrays, digests = reference
    prefix = next(iter(got)).split("/")[0] + "/"
    bad = [f"{k}: missing" for k in digests if k.startswith(prefix) and k not in got]
    same_kernel = str(arrays["arrays_kernel"]) == platform()
    for key, value in got.items():
        if digests.get(key) != digest(value):
            diff = ""
            if same_kernel and key in arrays and arrays[key].shape == value.shape:
                diff = f" (max |diff| {np.nanmax(np.abs(value - arrays[key])):.3g})"
            bad.append(f"{key}{diff}")
    return bad


@pytest.mark.parametrize("name", list(CASES))
def test_fit_reproduces_the_reference(name, reference, numba_one_thread):
    assert _compare(fit_case(name), reference) == []


def test_codec_reproduces_the_reference(reference, numba_one_thread):
    assert _compare(codec_case(), reference) == []


def _planted_ema(monkeypatch):
    real = Track.__init__
    monkeypatch.setattr(Track, "__init__", lambda self, ema: real(self, ema - 0.01))


def _planted_no_jitter(monkeypatch):
    monkeypatch.setattr(Jitter, "before_step", lambda self, it, z: z)


def _planted_skip_after_rollback(monkeypatch):  # an undone step reaches the later hooks
    real = Rollback.after_step
    monkeypatch.setattr(Rollback, "after_step",
                        lambda self, it, step: Verdict(real(self, it, step).stop))


@pytest.mark.parametrize("case, plant, flagged", [
    ("none", _planted_ema, "none/smoothed"),
    ("none", _planted_no_jitter, "none/last"),
    ("rollback", _planted_skip_after_rollback, "rollback/iters"),
])
def test_a_changed_loop_is_caught(case, plant, flagged, reference, monkeypatch,
                                  numba_one_thread):
    """Planted bugs: the same-pixels comparison must see each of them."""
    plant(monkeypatch)
    bad = _compare(fit_case(case), reference)
    assert any(b.split(" ")[0] == flagged for b in bad), bad


def test_a_changed_cosine_period_is_caught(reference, monkeypatch, numba_one_thread):
    """Planted bug: the codec fit's cosine over T steps instead of T - 1 (what the
    incremental rounding uses) -- a different learning rate from the first step on."""
    real = CosineLR.__init__
    monkeypatch.setattr(CosineLR, "__init__",
                        lambda self, opt, period, final=0.0: real(self, opt, period + 1, final))
    bad = {b.split(" ")[0] for b in _compare(codec_case(), reference)}
    assert {"codec/fit_lr", "codec/fit_loss", "codec/image"} <= bad


class _Probe(Hook):
    """Records what the loop shows it; asks to stop at ``stop_at``, hides steps in ``skip``."""

    def __init__(self, log: list, name: str, stop_at: int = -1, skip: tuple = ()) -> None:
        self.log, self.name, self.stop_at, self.skip = log, name, stop_at, skip

    def before_step(self, it, z):
        self.log.append((self.name, "before_step", it))
        return z

    def before_update(self, loss):
        self.log.append((self.name, "before_update"))

    def after_step(self, it, step):
        self.log.append((self.name, "after_step", it))
        return Verdict(stop=f"{self.name} stops" if it == self.stop_at else None,
                       skip=it in self.skip)


class _Rates:
    def __init__(self, log):
        self.log = log

    def step(self):
        self.log.append(("schedule",))


def _tiny():
    net = skip_unet(rng=np.random.default_rng(0), **SMALL)
    z = net.make_input((32, 32), 0.1, np.random.default_rng(0))
    return net, Adam(net.parameters(), lr=0.01), z, _image()


def test_the_loop_calls_hooks_in_order_and_any_may_stop_it():
    net, opt, z, target = _tiny()
    log = []
    hooks = [_Probe(log, "a", skip=(1,)), _Probe(log, "b", stop_at=2)]
    run = fit_loop(net, opt, z, target, iters=10, hooks=hooks, schedule=_Rates(log))
    assert (run.iterations, run.stopped_at, run.stop_reason) == (3, 2, "b stops")
    step = [("a", "before_step", 0), ("b", "before_step", 0), ("a", "before_update"),
            ("b", "before_update"), ("a", "after_step", 0), ("b", "after_step", 0),
            ("schedule",)]
    assert log[:7] == step
    assert ("b", "after_step", 1) not in log and ("a", "after_step", 1) in log  # a hid it
    assert log[-1] == ("schedule",) and run.interrupt is None and opt.t == 3


def test_the_loop_keeps_going_to_the_budget_and_stops_on_ctrl_c():
    net, opt, z, target = _tiny()
    assert fit_loop(net, opt, z, target, iters=2).stop_reason == BUDGET

    class CtrlC(Hook):
        def after_step(self, it, step):
            if it == 1:
                raise KeyboardInterrupt
            return Verdict()

    run = fit_loop(net, opt, z, target, iters=5, hooks=[CtrlC()])
    assert run.interrupted_by == "SIGINT" and run.iterations == 2
    assert run.stop_reason == "interrupted (Ctrl-C)" and run.stopped_at is None


def record() -> None:
    """Add this platform's digests to the reference (and the arrays, if it has none yet)."""
    arrays = {}
    for name in CASES:
        arrays.update(fit_case(name))
    arrays.update(codec_case())
    old = dict(np.load(REFERENCE)) if REFERENCE.exists() else {}
    kernel = platform()
    if old and list(old["keys"]) != list(arrays):
        sys.exit("the cases changed: delete the reference and record every platform again")
    out = old or {**arrays, "keys": np.array(list(arrays)), "arrays_kernel": np.array(kernel)}
    out[f"digest:{kernel}"] = np.array([digest(v) for v in arrays.values()])
    np.savez_compressed(REFERENCE, **out)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes): digests for {kernel}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_loop.py --record  (overwrites the reference)")
    record()
