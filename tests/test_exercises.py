"""Exercises: every stub fails its checker helpfully, every solution passes, and planted
classic mistakes are caught with their specific hint (API level; the CLI is tested in
test_exercises_cli.py)."""

from __future__ import annotations

import ast
import inspect
import shutil
from pathlib import Path

import pytest

from tinydip.exercises import EXERCISES, check, get
from tinydip.exercises.checks import CheckResult
from tinydip.exercises.registry import DERIVE, GUIDED, LEVELS, UnknownLevel

SOLUTIONS = Path(__file__).with_name("exercise_solutions")
NAMES = [e.name for e in EXERCISES]
LEVELED = [(e.name, level) for e in EXERCISES for level in e.levels]
BACKWARD_OR_OPTIMISER = {"leaky_relu_backward", "sigmoid_backward", "conv_backward",
                         "batchnorm_backward", "upsample_backward", "dip_step", "masked_mse",
                         "downsampler_adjoint", "adam_step"}


# the checks run in this process: fast (the CLI runs them in a child with a time limit,
# tested in test_exercises_cli.py)
HERE = {"isolated": False} if "isolated" in inspect.signature(check).parameters else {}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # progress files go to the test's folder, not the checkout


def run(name: str, folder: Path, source: str | None = None) -> list[CheckResult]:
    """Write ``source`` (default: the solution) to folder/name.py and check it."""
    path = folder / f"{name}.py"
    if source is None:
        shutil.copy(SOLUTIONS / f"{name}.py", path)
    else:
        path.write_text(source)
    return check(name, path, **HERE)[1]


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
        assert (SOLUTIONS / f"{e.name}.py").is_file(), e.name
        assert len(e.suite) >= 2, e.name
        assert e.difficulty in (1, 2, 3) and 0 < e.minutes <= 120, e.name
        assert e.levels[0] == GUIDED and set(e.levels) <= set(LEVELS), e.name
        for level in e.levels:
            assert e.stub_path(level).is_file(), (e.name, level)
            text = e.stub_text(level)
            assert "TODO" in text and "NotImplementedError" in text, (e.name, level)
            for fn in e.functions:
                assert f"def {fn}" in text or f"class {fn}" in text, (e.name, level, fn)


def test_every_backward_and_optimiser_exercise_has_a_derive_level():
    for name in BACKWARD_OR_OPTIMISER:
        assert DERIVE in get(name).levels, name
    with pytest.raises(UnknownLevel, match="no level 'derive'.*levels: guided"):
        get("im2col").stub_path(DERIVE)


def _functions(text: str) -> dict[str, str]:
    """Top-level functions and classes of a stub: name -> their code without docstrings."""
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            out[node.name] = ast.dump(ast.Module(body=body, type_ignores=[]))
    return out


def _section(doc: str, title: str) -> list[str]:
    """The lines of a numpydoc section (``title`` then dashes) of ``doc``."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith(title) and i + 1 < len(lines) and \
                set(lines[i + 1].strip()) == {"-"}:
            end = next((j for j in range(i + 2, len(lines))
                        if j + 1 < len(lines) and set(lines[j + 1].strip()) == {"-"}),
                       len(lines))
            return [ln.strip() for ln in lines[i + 2:end] if ln.strip()]
    return []


@pytest.mark.parametrize("name", [e.name for e in EXERCISES if DERIVE in e.levels])
def test_derive_stub_gives_the_same_parts_and_not_the_equations(name):
    e = get(name)
    guided, derive = e.stub_text(GUIDED), e.stub_text(DERIVE)
    g, d = _functions(guided), _functions(derive)
    assert g.keys() == d.keys(), name
    for fn in g.keys() - set(e.functions):  # the given forward: the same code at both levels
        assert g[fn] == d[fn], (name, fn)
    docs = {n.name: ast.get_docstring(n) or "" for n in ast.parse(guided).body
            if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    for fn in e.functions:
        for title in ("Equation", "Steps"):
            for line in _section(docs[fn], title):
                if len(line) > 12 and "=" in line:  # an equation of the guided level
                    assert line not in derive, (name, fn, line)


@pytest.mark.parametrize("name, level", LEVELED, ids=[f"{n}-{lv}" for n, lv in LEVELED])
def test_stub_fails_with_a_helpful_message(name, level, tmp_path):
    results = run(name, tmp_path, get(name).stub_text(level))
    assert results and not any(r.passed for r in results)
    first = results[0].message
    assert first.startswith(f"not implemented yet: fill in the TODO in {name}.py:"), first
    for r in results:
        assert "Traceback" not in r.message and "\n" not in r.message
        assert r.message.startswith("not implemented yet"), r.message


@pytest.mark.parametrize("name, level", LEVELED, ids=[f"{n}-{lv}" for n, lv in LEVELED])
def test_solution_passes_every_check(name, level, tmp_path):
    """The same checker at both levels: the solution (which uses the stub's given parts at
    its level, copied in) passes."""
    results = run(name, tmp_path, solution_at(name, level))
    assert all(r.passed for r in results), failures(results)


def solution_at(name: str, level: str) -> str:
    """The solution with its imports of the given parts pointed at the stub of ``level``:
    the learner's functions appended to the stub's own text."""
    stub = get(name).stub_text(level)
    sol = (SOLUTIONS / f"{name}.py").read_text()
    given = f"from tinydip.exercises.stubs.{name} import"
    lines = sol.splitlines()
    if any(ln.startswith(given) for ln in lines):  # drop the import of the given parts
        start = next(i for i, ln in enumerate(lines) if ln.startswith(given))
        end = start if ln_closed(lines[start]) else next(
            i for i in range(start, len(lines)) if lines[i].startswith(")"))
        lines = lines[:start] + lines[end + 1:]
    learner = "\n".join(lines)
    return stub + "\n\n# ---- the solution (replaces the TODO functions) ----\n" + learner + "\n"


def ln_closed(line: str) -> bool:
    return "(" not in line or ")" in line


UPSAMPLE_PADDED = """def _upsample_axis_adjoint(d, axis):
    d = np.moveaxis(d, axis, -1)
    n = d.shape[-1] // 2
    dp = np.pad(d, [(0, 0)] * (d.ndim - 1) + [(PAD, 4 - PAD)])
    k = (0.25, 0.75, 0.75, 0.25)
    full = sum(k[t] * dp[..., t:t + 2 * n + 1:2] for t in range(4))
    dx = full[..., CROP].copy()
    dx[..., 0] += 0.25 * d[..., 0]
    dx[..., -1] += 0.25 * d[..., -1]
    return np.moveaxis(dx, -1, axis)
"""
_UP_SRC = (SOLUTIONS / "upsample_backward.py").read_text()
UPSAMPLE_OLD = _UP_SRC[_UP_SRC.index("def _upsample_axis_adjoint"):
                       _UP_SRC.index("\n\n\ndef upsample_backward") + 1]


def upsample_padded(pad: int, crop: str) -> tuple[str, str]:
    """A planted mistake: the adjoint as a padded strided correlation, cropped off by one."""
    return (UPSAMPLE_OLD, UPSAMPLE_PADDED.replace("PAD", str(pad)).replace("CROP", crop))


# (exercise, planted mistake as (old, new) edits of the solution, expected words of the hint;
# None: caught, with no specific diagnosis expected)
MISTAKES = [
    ("numerical_gradient", [("(fp - fm) / (2 * h)", "(fp - fm) / h")], "twice the gradient"),
    ("numerical_gradient", [("np.abs(a - b).max()", "(a - b).max()")], "absolute value"),
    ("numerical_gradient", [("        x[i] = old\n", "")], "x was changed"),
    ("numerical_gradient", [("x[i] = old - h\n        fm", "x[i] = old\n        fm"),
                            ("(fp - fm) / (2 * h)", "(fp - fm) / h")], "one-sided difference"),
    ("numerical_gradient", [("for i in np.ndindex(x.shape):\n        old = x[i]",
                             "for i in range(x.shape[0]):\n        old = x[i].copy()")],
     "whole slice x[i]"),
    ("leaky_relu_backward", [("slope * dout)", "0 * dout)")], "ReLU's backward"),
    ("leaky_relu_backward", [("np.where(x > 0, dout, slope * dout)",
                              "np.where(x > 0, slope * dout, dout)")], "sides are swapped"),
    ("sigmoid_backward", [("dout * s * (1 - s)", "dout * s")], "missing the factor (1 - s)"),
    ("sigmoid_backward", [("s = cache", "s = sigmoid_forward(cache)[0]")],
     "holds the OUTPUT"),
    ("conv_forward_loops", [("win * w[f])", "win * w[f, :, ::-1, ::-1])")],
     "the kernel is flipped"),
    ("conv_forward_loops", [("xp[n, :, oy * stride:oy * stride + KH, ox * stride:ox * stride "
                             "+ KW]", "xp[n, :, oy:oy + KH, ox:ox + KW]")],
     "stride is ignored inside the loop"),
    ("conv_forward_loops", [("xp[n, :, oy * stride:oy * stride + KH, ox * stride:ox * stride "
                             "+ KW]", "xp[n, :, oy:oy + KH, ox:ox + KW]"),
                            ("(H + 2 * P - KH) // stride + 1, (W + 2 * P - KW) // stride + 1",
                             "H + 2 * P - KH + 1, W + 2 * P - KW + 1")], "the stride-1 size"),
    ("conv_forward_loops", [(" + b[f]", "")], "the bias is missing"),
    ("im2col", [("cols[c * kh * kw + i * kw + j]", "cols[(i * kw + j) * C + c]")],
     "rows are in the wrong order"),
    ("im2col", [("tap.reshape(-1)", "tap.T.reshape(-1)")], "columns are in the wrong order"),
    ("im2col", [("    return cols", "    return cols.T")], "transposed: one ROW per"),
    ("conv_backward", [("db = dout.sum(axis=(0, 2, 3))", "db = np.zeros(F, x.dtype)")],
     "db is zero"),
    ("conv_backward", [("db = dout.sum(axis=(0, 2, 3))", "db = dout.mean(axis=(0, 2, 3))")],
     "not a mean"),
    ("conv_backward", [("tensordot(g, w,", "tensordot(g, w[:, :, ::-1, ::-1],")],
     "kernel the wrong way round (rotated by 180"),
    ("conv_backward", [("tensordot(g, w,", "tensordot(g, w.transpose(0, 1, 3, 2),")],
     "kernel transposed (i and j swapped)"),
    ("conv_backward", [("* xp[n, :, ys:ys + KH, xs:xs + KW]",
                        "* xp[n, :, ys:ys + KH, xs:xs + KW][:, ::-1, ::-1]")], "dw is flipped"),
    ("winograd_input_transform", [("bt @ tiles @ bt.T", "bt.T @ tiles @ bt")],
     "that is B d B^T"),
    ("winograd_input_transform", [("[:, ::2, ::2]", "[:, ::4, ::4]")],
     "taken with stride 4"),
    ("winograd_input_transform", [("xp[:, 1:H + 1, 1:W + 1] = x", "xp[:, :H, :W] = x")],
     "the padding is missing"),
    ("winograd_input_transform", [("bt @ tiles @ bt.T", "bt @ tiles")],
     "only the rows are transformed"),
    ("winograd_input_transform", [("bt = _BT.astype(x.dtype)", "bt = _BT")],
     "dtype float64, expected float32"),
    ("batchnorm_backward", [("M = N * H * W", "M = 1")], "need a 1/M"),
    ("batchnorm_backward", [("(dout - mean_g - xhat * mean_gx)", "dout")], "eval-mode"),
    ("batchnorm_backward", [("mean_g = dbeta.reshape(1, C, 1, 1) / M",
                             "mean_g = dout.mean(axis=(2, 3), keepdims=True)"),
                            ("mean_gx = dgamma.reshape(1, C, 1, 1) / M",
                             "mean_gx = (dout * xhat).mean(axis=(2, 3), keepdims=True)")],
     "the batch sum is missing: the means run over H and W"),
    ("batchnorm_backward", [("return dx, dgamma, dbeta",
                             "return dx, dgamma, dout.sum(axis=(2, 3))")],
     "the batch sum is missing -- sum over N"),
    ("batchnorm_backward", [("return dx, dgamma, dbeta", "return dx, dbeta, dgamma")],
     "swapped"),
    ("batchnorm_backward", [("dx = gamma.reshape(1, C, 1, 1) * istd *", "dx = istd *")],
     "gamma is missing from dx"),
    ("upsample_backward", [("    dx[..., 0] += 0.25 * even[..., 0]\n", ""),
                           ("    dx[..., -1] += 0.25 * odd[..., -1]\n", "")],
     "the image edges lose gradient"),
    ("upsample_backward", [("_upsample_axis_adjoint(_upsample_axis_adjoint(dout, 3), 2)",
                            "dout[:, :, ::2, ::2]")], "subsampling dout is not the adjoint"),
    ("upsample_backward", [("dx[..., :-1] += 0.25 * even[..., 1:]",
                            "dx[..., 1:] += 0.25 * even[..., :-1]"),
                           ("dx[..., 1:] += 0.25 * odd[..., :-1]",
                            "dx[..., :-1] += 0.25 * odd[..., 1:]")], "wrong neighbours"),
    ("upsample_backward", [upsample_padded(1, "1:")], "misplaced (a crop offset)"),
    ("upsample_backward", [upsample_padded(2, ":n")], "misplaced (a crop offset)"),
    ("masked_mse", [("K = float(m.sum())", "K = float(mask.sum())")], "AFTER broadcasting"),
    ("masked_mse", [("K = float(m.sum())", "K = float(m.size)")], "number of KNOWN entries"),
    ("masked_mse", [("dpred = (2 / K)", "dpred = (1 / K)")], "missing the factor 2"),
    ("blur_adjoint", [("dx = _fold_rows(dxp, rh, H)\n    dx = _fold_rows(dx.swapaxes(2, 3), "
                       "rw, W).swapaxes(2, 3)", "dx = dxp[:, :, rh:rh + H, rw:rw + W]")],
     "the mirrored border is dropped"),
    ("blur_adjoint", [("kf = k[::-1, ::-1]", "kf = k")], "the kernel is the wrong way round"),
    ("blur_adjoint", [("dx[:, :, d] += dp[:, :, r - d]", "dx[:, :, d - 1] += dp[:, :, r - d]"),
                      ("dx[:, :, n - 1 - d] +=", "dx[:, :, n - d] +=")], "as 'symmetric'"),
    ("blur_adjoint", [("dx[:, :, d] += dp[:, :, r - d]", "dx[:, :, 0] += dp[:, :, r - d]"),
                      ("dx[:, :, n - 1 - d] +=", "dx[:, :, n - 1] +=")], "onto the edge pixel"),
    ("blur_adjoint", [("    N, C, H, W = dy.shape\n    kh, kw", "    return blur_forward(dy, k)\n"
                       "    N, C, H, W = dy.shape\n    kh, kw")], "that is the forward"),
    ("decoder_layer", [("dr = (g - mean_g - xhat * mean_gx)", "dr = (g - xhat * mean_gx)")],
     "the normalisation's mean term is missing"),
    ("decoder_layer", [("da = _upsample_axis_adjoint(_upsample_axis_adjoint(du, 3), 2)",
                        "da = du.reshape(du.shape[0], du.shape[1], du.shape[2] // 2, 2, "
                        "du.shape[3] // 2, 2).sum(axis=(3, 5))")], "nearest-neighbour copy"),
    ("decoder_layer", [('np.einsum("nfhw,nchw->fc", da, x)', 'np.einsum("nfhw,nchw->cf", da, x)')],
     "dw is transposed"),
    ("decoder_layer", [("r = np.maximum(u, 0)\n", "r = u\n"),
                       ("    return out.astype(x.dtype), ", "    out = np.maximum(out, 0)\n"
                        "    return out.astype(x.dtype), ")], "wrong order"),
    ("adam_step", [("m_hat = m / (1 - beta1**t)", "m_hat = m"),
                   ("v_hat = v / (1 - beta2**t)", "v_hat = v")],
     "no bias correction: divide m by (1 - beta1^t) and v by (1 - beta2^t) before the update "
     "(without it the early steps are about 3x too LARGE"),
    ("adam_step", [("v_hat = v / (1 - beta2**t)", "v_hat = v")], "only m is bias-corrected"),
    ("adam_step", [("return p, m, v", "return p, m_hat, v_hat")], "return the RAW moment m"),
    ("adam_step", [("beta1 * m + (1 - beta1) * grad", "beta1 * m + grad")],
     "the (1 - beta1) factor is missing"),
    ("adam_step", [("beta1**t)", "beta1**(t + 1))"), ("beta2**t)", "beta2**(t + 1))")],
     "the bias correction uses the wrong t"),
    ("adam_step", [("(np.sqrt(v_hat) + eps)", "np.sqrt(v_hat + eps)")],
     "eps goes outside the square root"),
    ("adam_step", [("p = p - lr", "p = p + lr")], "step against the gradient"),
    ("dip_step", [("dh = dh + net.deep.backward", "dh = net.deep.backward")],
     "only the deep branch's"),
    ("dip_step", [("    net.zero_grad()\n", "")], "add up across steps"),
    ("dip_step", [("zin = z + np.float32(sigma) * rng.standard_normal(z.shape, "
                   "dtype=np.float32)", "zin = z")], "jitter is missing"),
    ("downsampler_adjoint", [("for j in range(4 * f):\n        np.add.at(dx, (Ellipsis, "
                              "idx[:, j]), k[j] * dy)", "dx[..., idx] += dy[..., :, None] * k")],
     "fancy-index +="),
    ("downsampler_adjoint", [("np.add.at(dx, (Ellipsis, idx[:, j]), k[j] * dy)",
                              "dx[..., idx[:, j]] += k[j] * dy")],
     "inside the loop over j"),
    ("downsampler_adjoint", [("return np.swapaxes(dx, 2, 3)", "return np.swapaxes(dx, 2, 3) "
                              "* f * f")], "not an inverse"),
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
    assert hint in msgs[0], msgs  # the FIRST failure names the mistake


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


def test_cli_start_at_the_derive_level_and_list_shows_levels(tmp_path, capsys):
    from tinydip.cli.main import main
    assert main(["exercise", "start", "conv_backward", "--level", "derive"]) == 0
    text = (tmp_path / "conv_backward.py").read_text()
    assert text == get("conv_backward").stub_text(DERIVE) and "level derive" in text
    assert main(["exercise", "start", "im2col", "--level", "derive"]) == 2
    assert "no level 'derive'" in capsys.readouterr().err
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("batchnorm_backward "))
    assert "guided/derive" in line and " 3 " in line and "30/60 min" in line
