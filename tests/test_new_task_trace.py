"""The "how to add a task" recipe, tried: a new operator and one task declaration are then
available in the command line, the Python API and studies -- with nothing else added.

The operator is colour -> grey (BT.601 luma, A: 3 channels -> 1); the task ``decolor``
fits a colour image whose grey version matches a grey observation. (A test fixture, not a
feature: DIP cannot know the colours; the point is the plumbing.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinydip import tasks
from tinydip.cli.main import main
from tinydip.io import values
from tinydip.io.images import load_input, sample_image, save_image, to_image, to_tensor
from tinydip.operators import adjoint_error
from tinydip.study import problems as study_problems
from tinydip.tasks.options import Option
from tinydip.tasks.registry import TASKS, Problem, Task
from tinydip.tasks.runner import as_image

LUMA = np.array([0.299, 0.587, 0.114])


class Grey:
    """A x = sum_c w_c x_c (1, 3, H, W) -> (1, 1, H, W); A^T y = w y, channel by channel."""

    measured = None

    def forward(self, x):
        return np.tensordot(LUMA.astype(x.dtype), x, axes=([0], [1]))[:, None]  # (N, 1, H, W)

    def adjoint(self, dy):
        return dy * LUMA.astype(dy.dtype)[None, :, None, None]  # (N, 3, H, W)

    def output_shape(self, input_shape):
        n, c, h, w = input_shape
        if c != 3:
            raise ValueError(f"Grey needs 3 channels, got {c}")
        return (n, 1, h, w)

    def input_shape(self, observation_shape):
        n, _, h, w = observation_shape
        return (n, 3, h, w)


def decolor_problem(grey: np.ndarray, *, truth: np.ndarray | None = None) -> Problem:
    """Fit a colour image whose luma is ``grey`` (HxWx1)."""
    obs = as_image(grey, "grey image")
    return Problem(obs, Grey(), truth, baselines={"grey": lambda: np.repeat(obs, 3, axis=2)})


def simulate(clean, p, rng):
    grey = to_image(Grey().forward(to_tensor(clean)))
    return decolor_problem(grey, truth=clean)


DECOLOR = Task(
    name="decolor", help="a colour image from its grey version (a test fixture)",
    problem=decolor_problem,
    options=(Option("image", "colour image (it is made grey first)", positional=True,
                    required=True),
             Option("gain", "unused; a typed option of the fixture", values.positive_float,
                    default=1.0)),
    from_options=lambda v: simulate(load_input(v["image"], "image"), {}, None),
    degradation=(), simulate=simulate, study_baseline="grey", label=lambda p: "decolor",
    fit_defaults={"iters": 4, "stop": "none"})


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(TASKS, "decolor", DECOLOR)


def test_the_operator_passes_the_dot_product_test():
    assert adjoint_error(Grey(), (1, 3, 8, 6)) < 1e-12


def test_python_api(registered):
    img = sample_image(32)
    res = tasks.decolor(to_image(Grey().forward(to_tensor(img))), truth=img, iters=3)
    assert res.output.shape == (32, 32, 3) and res.fit.iters_run == 3
    assert "grey" in res.baselines


def test_command_line(registered, tmp_path, capsys):
    src = tmp_path / "in.png"
    save_image(src, sample_image(32))
    code = main(["decolor", str(src), "--gain", "2", "--iters", "3", "--quiet",
                 "--report", str(tmp_path / "r.json")])
    assert code == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "r.json").read_text())["task"] == "decolor"
    with pytest.raises(SystemExit) as e:  # its declared option is checked like any other
        main(["decolor", str(src), "--gain", "-1"])
    assert e.value.code == 2 and "--gain: expected a positive" in capsys.readouterr().err


def test_study(registered):
    spec, problems = study_problems.task_spec({"kind": "decolor"}, "t")
    assert not problems and spec.name == "decolor"
    problem = study_problems.degrade(spec, sample_image(32), 0)
    res = study_problems.fit(spec, problem, {"iters": 2}, 0)
    assert res.fit.iters_run == 2
    assert study_problems.baseline(spec, problem)[0] == "grey"


def test_an_unregistered_task_is_nowhere():
    assert "decolor" not in TASKS
    with pytest.raises(AttributeError):
        tasks.decolor  # noqa: B018
