"""Exercises: every stub fails its checker helpfully, every solution passes, and planted
classic mistakes are caught with their specific hint (API level; the CLI is tested in
test_exercises_cli.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinydip.exercises import EXERCISES, check, get
from tinydip.exercises.checks import CheckResult

SOLUTIONS = Path(__file__).with_name("exercise_solutions")
NAMES = [e.name for e in EXERCISES]


def run(name: str, folder: Path, source: str | None = None) -> list[CheckResult]:
    """Write ``source`` (default: the solution) to folder/name.py and check it."""
    path = folder / f"{name}.py"
    if source is None:
        shutil.copy(SOLUTIONS / f"{name}.py", path)
    else:
        path.write_text(source)
    return check(name, path)[1]


def mutate(name: str, *edits: tuple[str, str]) -> str:
    """The solution's source with each (old, new) replaced: a planted mistake."""
    src = (SOLUTIONS / f"{name}.py").read_text()
    for old, new in edits:
        assert old in src, f"planted mistake no longer applies to {name}: {old!r}"
        src = src.replace(old, new)
    return src


def failures(results: list[CheckResult]) -> list[str]:
    return [r.message for r in results if not r.passed]


def test_registry_is_complete_and_in_chapter_order():
    assert len(NAMES) == len(set(NAMES)) >= 13
    chapters = [e.chapter for e in EXERCISES]
    assert chapters == sorted(chapters)
    for e in EXERCISES:
        assert e.stub_path.is_file(), e.name
        assert (SOLUTIONS / f"{e.name}.py").is_file(), e.name
        assert len(e.suite) >= 2, e.name
        text = e.stub_text()
        assert "TODO" in text and "NotImplementedError" in text, e.name
        for fn in e.functions:
            assert f"def {fn}" in text or f"class {fn}" in text, (e.name, fn)


@pytest.mark.parametrize("name", NAMES)
def test_stub_fails_with_a_helpful_message(name, tmp_path):
    results = run(name, tmp_path, get(name).stub_text())
    assert results and not any(r.passed for r in results)
    first = results[0].message
    assert first.startswith(f"not implemented yet: fill in the TODO in {name}.py:"), first
    for r in results:
        assert "Traceback" not in r.message and "\n" not in r.message
        assert r.message.startswith("not implemented yet"), r.message


@pytest.mark.parametrize("name", NAMES)
def test_solution_passes_every_check(name, tmp_path):
    results = run(name, tmp_path)
    assert all(r.passed for r in results), failures(results)


# (exercise, planted mistake as (old, new) edits of the solution, expected words of the hint)
MISTAKES = [
    ("numerical_gradient", [("(fp - fm) / (2 * h)", "(fp - fm) / h")], "twice the gradient"),
    ("numerical_gradient", [("np.abs(a - b).max()", "(a - b).max()")], "absolute value"),
    ("leaky_relu_backward", [("slope * dout)", "0 * dout)")], "ReLU's backward"),
    ("sigmoid_backward", [("dout * s * (1 - s)", "dout * s")], "missing the factor (1 - s)"),
    ("conv_forward_loops", [("win * w[f])", "win * w[f, :, ::-1, ::-1])")],
     "the kernel is flipped"),
    ("im2col", [("cols[c * kh * kw + i * kw + j]", "cols[(i * kw + j) * C + c]")],
     "rows are in the wrong order"),
    ("conv_backward", [("db = dout.sum(axis=(0, 2, 3))", "db = np.zeros(F, x.dtype)")],
     "db is zero"),
    ("conv_backward", [("tensordot(g, w,", "tensordot(g, w[:, :, ::-1, ::-1],")],
     "kernel the wrong way round"),
    ("batchnorm_backward", [("M = N * H * W", "M = 1")], "need a 1/M"),
    ("batchnorm_backward", [("(dout - mean_g - xhat * mean_gx)", "dout")], "eval-mode"),
    ("upsample_backward", [("    dx[..., 0] += 0.25 * even[..., 0]\n", ""),
                           ("    dx[..., -1] += 0.25 * odd[..., -1]\n", "")],
     "the image edges lose gradient"),
    ("upsample_backward", [("_upsample_axis_adjoint(_upsample_axis_adjoint(dout, 3), 2)",
                            "dout[:, :, ::2, ::2]")], "subsampling dout is not the adjoint"),
    ("masked_mse", [("K = float(m.sum())", "K = float(mask.sum())")], "AFTER broadcasting"),
    ("masked_mse", [("K = float(m.sum())", "K = float(m.size)")], "number of KNOWN entries"),
    ("adam_step", [("m_hat = m / (1 - beta1**t)", "m_hat = m"),
                   ("v_hat = v / (1 - beta2**t)", "v_hat = v")], "no bias correction"),
    ("adam_step", [("(np.sqrt(v_hat) + eps)", "np.sqrt(v_hat + eps)")],
     "eps goes outside the square root"),
    ("dip_step", [("dh = dh + net.deep.backward", "dh = net.deep.backward")],
     "only the deep branch's"),
    ("dip_step", [("    net.zero_grad()\n", "")], "add up across steps"),
    ("dip_step", [("zin = z + np.float32(sigma) * rng.standard_normal(z.shape, "
                   "dtype=np.float32)", "zin = z")], "jitter is missing"),
    ("downsampler_adjoint", [("for j in range(4 * f):\n        np.add.at(dx, (Ellipsis, "
                              "idx[:, j]), k[j] * dy)", "dx[..., idx] += dy[..., :, None] * k")],
     "fancy-index +="),
    ("stopping_rule", [("it - self.best_iter >= self.patience",
                        "it - self.best_iter > self.patience")], "off by one"),
    ("stopping_rule", [("self.frames.append(output.copy())", "self.frames.append(output)")],
     "store a copy"),
    ("stopping_rule", [("axis=0).mean()", "axis=0, ddof=1).mean()")], "population variance"),
]


def test_every_exercise_has_a_planted_mistake():
    assert {name for name, _, _ in MISTAKES} == set(NAMES)


@pytest.mark.parametrize("name, edits, hint", MISTAKES,
                         ids=[f"{m[0]}-{m[2][:24]}" for m in MISTAKES])
def test_planted_mistake_is_caught_with_its_hint(name, edits, hint, tmp_path):
    msgs = failures(run(name, tmp_path, mutate(name, *edits)))
    assert msgs, f"the planted mistake passed every check of {name}"
    assert any(hint in m for m in msgs), msgs


def test_learner_exception_is_one_line_with_type_and_line(tmp_path):
    src = mutate("leaky_relu_backward", ("x, slope = cache", "x, slope, extra = cache"))
    msgs = failures(run("leaky_relu_backward", tmp_path, src))
    line = src.splitlines().index("    x, slope, extra = cache") + 1
    assert msgs and all(m.startswith("ValueError: not enough values to unpack") for m in msgs)
    assert all(m.endswith(f"(at leaky_relu_backward.py:{line})") for m in msgs), msgs


def test_missing_return_and_syntax_error_are_fail_lines(tmp_path):
    msgs = failures(run("sigmoid_backward", tmp_path,
                        mutate("sigmoid_backward", ("return dout", "dout"))))
    assert msgs and all("did you forget to return" in m for m in msgs), msgs
    results = run("masked_mse", tmp_path, "def masked_mse(pred, target, mask)\n    pass\n")
    assert len(results) == 1 and not results[0].passed
    assert "SyntaxError" in results[0].message and "masked_mse.py:1" in results[0].message


def test_reference_values_are_never_printed(tmp_path):
    # a wrong answer's report names the error, not the right numbers
    msgs = failures(run("masked_mse", tmp_path, mutate("masked_mse", ("d * d", "d * d * 3"))))
    assert msgs and all("relative error" in m or "disagrees" in m for m in msgs), msgs
    assert not any("[" in m for m in msgs), msgs  # no arrays in the report
