"""Study files: parsing, validation errors, expansion into runs and stable keys; the task
mapping (degradations, baselines) and metrics used in rows. No Dask here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinydip.degrade import harmonic_fill
from tinydip.degrade.masks import random_mask
from tinydip.denoising.haar import haar_denoise
from tinydip.io.images import sample_image, save_image
from tinydip.metrics import psnr
from tinydip.study import problems as study_tasks
from tinydip.study.runner import psnr_y
from tinydip.study.spec import StudyError, expand, load_study, parse_study, run_key
from tinydip.study.store import dumps

TOML = """
name = "demo"
images = ["pics/", "sample:hopper@32"]
seeds = [0, 1]

[[tasks]]
kind = "denoise"
sigma = 50

[[tasks]]
kind = "inpaint"
mask = "random"
fraction = 0.5

[[tasks]]
kind = "sr"
factor = 2

[defaults]
iters = 20
net_options = { channels = 8, levels = 3 }

[grid]
lr = [0.01, 0.02]
reg_noise_std = [0.0]
"""


@pytest.fixture
def study_dir(tmp_path):
    (tmp_path / "pics").mkdir()
    save_image(tmp_path / "pics" / "a.png", sample_image(32))
    save_image(tmp_path / "pics" / "b.png", sample_image(40, gray=True))
    (tmp_path / "pics" / "notes.txt").write_text("not an image")
    (tmp_path / "s.toml").write_text(TOML)
    return tmp_path


def test_parse_and_expand(study_dir):
    st = load_study(study_dir / "s.toml")
    assert [i.name for i in st.images] == ["pics/a.png", "pics/b.png", "sample:hopper@32"]
    assert [t.name for t in st.tasks] == ["denoise-s50", "inpaint-random0.5", "sr-x2"]
    assert [s.name for s in st.settings] == ["lr=0.01", "lr=0.02"]  # 1-value lists: no label
    assert st.settings[1].options == {"iters": 20, "lr": 0.02, "reg_noise_std": 0.0,
                                      "net_options": {"channels": 8, "levels": 3}}
    runs = expand(st)
    assert len(runs) == 3 * 3 * 2 * 2 and len({r.key for r in runs}) == len(runs)
    assert runs[0].seed == 0 and runs[-1].seed == 1  # seed-major order


def test_keys_depend_on_content_not_labels(study_dir):
    st = load_study(study_dir / "s.toml")
    img, task, setting = st.images[0], st.tasks[0], st.settings[0]
    k = run_key(img, task, setting, 0, None)
    assert k == run_key(img, task, setting, 0, None)
    task.name, setting.name = "renamed", "renamed"
    assert run_key(img, task, setting, 0, None) == k
    assert run_key(img, task, setting, 1, None) != k
    save_image(study_dir / "pics" / "a.png", sample_image(32) * 0.5)  # new pixels
    st2 = load_study(study_dir / "s.toml")
    assert run_key(st2.images[0], st2.tasks[0], st2.settings[0], 0, None) != k


def test_named_settings_cross_the_grid(tmp_path):
    st = parse_study({"images": ["sample:mri@32"], "tasks": [{"kind": "sr", "factor": 4}],
                      "defaults": {"iters": 5},
                      "grid": {"stop": ["auto", "none"]},
                      "settings": [{"name": "unet"}, {"name": "dd", "net": "decoder",
                                                      "net_options": {"k": 8}}]}, tmp_path)
    assert [s.name for s in st.settings] == ["unet,stop=auto", "unet,stop=none",
                                             "dd,stop=auto", "dd,stop=none"]
    assert st.settings[3].options == {"iters": 5, "net": "decoder", "net_options": {"k": 8},
                                      "stop": "none"}


def test_every_problem_is_one_line(tmp_path):
    doc = {"images": ["missing.png", "nomatch/*.jpg", "sample:nope@32", "sample:hopper@7"],
           "tasks": [{"kind": "blur"}, {"kind": "sr", "factor": 3},
                     {"kind": "inpaint", "fraction": 1.5, "color": "red"}],
           "seeds": [0, -1], "grid": {"lr": 0.1, "net": ["unet", "resnet"]},
           "defaults": {"iters": 0, "momentum": 0.9}, "extra": 1}
    with pytest.raises(StudyError) as e:
        parse_study(doc, tmp_path, "s.toml")
    lines = e.value.problems
    for needle in ["'extra'", "missing.png", "nomatch/*.jpg", "'nope'", "from 32 to 1024",
                   "kind must be one of", "factor must be one of", "fraction must be",
                   "unknown key 'color'", "seeds must be", "lr must be a non-empty list",
                   "net must be one of", "iters must be a positive integer",
                   "unknown key 'momentum'"]:
        assert sum(needle in line for line in lines) >= 1, (needle, lines)
    assert all(line.startswith("s.toml: ") and "\n" not in line for line in lines)


def test_bad_toml_and_missing_file(tmp_path):
    (tmp_path / "bad.toml").write_text("images = [\n")
    with pytest.raises(StudyError, match="not valid TOML"):
        load_study(tmp_path / "bad.toml")
    with pytest.raises(StudyError, match="no such file"):
        load_study(tmp_path / "none.toml")


def test_unknown_net_option(tmp_path):
    doc = {"images": ["sample:hopper@32"], "tasks": [{"kind": "denoise"}],
           "defaults": {"net": "decoder", "net_options": {"channels": 8}}}
    with pytest.raises(StudyError, match="unknown net_options 'channels' for net 'decoder'"):
        parse_study(doc, tmp_path)


def test_degradations_are_seeded_and_shaped():
    img = sample_image(36)
    den, _ = study_tasks.task_spec({"kind": "denoise", "sigma": 25}, "t")
    a, b = study_tasks.degrade(den, img, 3), study_tasks.degrade(den, img, 3)
    assert np.array_equal(a.observation, b.observation)
    assert not np.array_equal(a.observation, study_tasks.degrade(den, img, 4).observation)
    inp, _ = study_tasks.task_spec({"kind": "inpaint", "fraction": 0.25}, "t")
    o = study_tasks.degrade(inp, img, 0)
    known = o.operator.measured[0, 0] > 0
    # the same mask as `tinydip inpaint --drop 0.25 --seed 0` makes (degrade.masks.random_mask)
    assert np.array_equal(known, random_mask(36, 36, 0.25, np.random.default_rng(0)))
    assert abs((~known).mean() - 0.25) < 0.05
    assert np.all(o.observation[~known] == 0)
    sr, _ = study_tasks.task_spec({"kind": "sr", "factor": 8}, "t")
    o = study_tasks.degrade(sr, img, 0)  # 36 is cropped to 32, the multiple of 8
    assert o.truth.shape == (32, 32, 3) and o.observation.shape == (4, 4, 3)
    assert o.psnr_border == 8  # the SR convention: crop the factor at each border


def test_every_registered_task_runs_in_a_study():
    """No study-side table: a registered task (deblurring included) is a study kind with its
    declared degradation, its default label and its baseline."""
    from tinydip.tasks import TASKS

    img = sample_image(32)
    for kind in TASKS:
        spec, problems = study_tasks.task_spec({"kind": kind}, "t")
        assert not problems and spec.kind == kind and spec.name.startswith(kind)
        problem = study_tasks.degrade(spec, img, 0)
        assert problem.truth is not None
        name, base = study_tasks.baseline(spec, problem)
        assert base.shape == problem.truth.shape, (kind, name)
    spec, _ = study_tasks.task_spec({"kind": "deblur", "kernel": "box:3", "sigma": 5}, "t")
    assert spec.name == "deblur-box:3-s5" and spec.identity()["kernel"] == "box:3"
    _, bad = study_tasks.task_spec({"kind": "deblur", "kernel": "blob:3"}, "t")
    assert bad and "kernel" in bad[0]


def test_baselines_beat_the_observation():
    img = sample_image(48)
    rng = np.random.default_rng(0)
    noisy = np.clip(img + 25 / 255 * rng.standard_normal(img.shape), 0, 1).astype(np.float32)
    assert psnr(haar_denoise(noisy, 25), img) > psnr(noisy, img) + 2
    mask = rng.random((48, 48)) > 0.5
    filled = harmonic_fill(np.where(mask[:, :, None], img, 0), mask)
    assert np.array_equal(filled[mask], img[mask])
    assert psnr(filled, img) > psnr(np.where(mask[:, :, None], img, 0), img) + 10


def test_psnr_y_and_strict_json():
    img = sample_image(32)
    noisy = img.copy()
    noisy[:2] = 0  # damage only the border rows
    assert psnr_y(noisy, img, border=2) == float("inf")
    assert np.isfinite(psnr_y(noisy, img, border=0))
    assert json.loads(dumps({"a": float("nan"), "b": np.float32(1.5), "c": (1, np.int64(2))})) \
        == {"a": None, "b": 1.5, "c": [1, 2]}
