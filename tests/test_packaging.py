"""What a wheel holds: every package of the tree, the exercise stubs and the tutorial
chapters -- so `tinydip notebooks` works from `pip install tinydip-*.whl` as from a clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
               ["packages"])


def test_every_package_of_the_tree_is_listed():
    tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "tinydip").rglob(
        "__init__.py")}
    assert tree | {"tinydip.tutorials"} == _listed(), "update [tool.setuptools] packages"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    src = out / "src"  # a copy: the build writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".venv", "out"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                           "--no-build-isolation", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip().splitlines()[-1:]}")
    return next(out.glob("tinydip-*.whl"))


def test_the_wheel_holds_the_chapters_and_the_stubs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    chapters = sorted(p.name for p in (ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
    assert len(chapters) >= 11
    assert {f"tinydip/tutorials/{c}" for c in chapters} <= names
    assert "tinydip/tutorials/ANSWERS.md" in names
    stubs = {p.relative_to(ROOT).as_posix() for p in
             (ROOT / "tinydip" / "exercises" / "stubs").rglob("*.py")}
    assert stubs <= names


def test_notebooks_from_an_installed_wheel(wheel, tmp_path):
    """A fresh venv (seeing this Python's packages for the dependencies) with the wheel
    installed: `tinydip notebooks --dir nb` writes every chapter."""
    pytest.importorskip("jupytext")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    work = tmp_path / "elsewhere"  # not the checkout: nothing to find beside it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(py), "-c", "import tinydip, sys; print(tinydip.__file__)"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert str(venv) in proc.stdout, proc.stdout + proc.stderr  # the wheel, not the checkout
    proc = subprocess.run([str(py), "-m", "tinydip", "notebooks", "--dir", "nb"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in (work / "nb").glob("*.ipynb"))
    assert len(written) >= 11 and written[0].startswith("01_"), written
    shutil.rmtree(venv)
