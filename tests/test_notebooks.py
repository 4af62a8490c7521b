"""``tinydip notebooks``: the chapters convert to notebooks, and chapter 1 runs as one.

The execution test starts a real Jupyter kernel (nbclient + ipykernel, both in the ``test``
extra) in quick mode and checks the chapter reaches its closing asserts, exactly as a
learner who opens the notebook and runs all cells would.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tinydip.cli import notebooks_cmd
from tinydip.cli.main import main

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


def test_finds_the_tutorials_of_this_checkout():
    found = notebooks_cmd.find_tutorials()
    assert found is not None and found.resolve() == TUTORIALS.resolve()
    assert [p.name for p in notebooks_cmd.chapters(found)][:1] == ["01_gradients.py"]


def test_writes_every_chapter_and_keeps_existing_ones(tmp_path, capsys):
    pytest.importorskip("jupytext")
    assert main(["notebooks", "--dir", str(tmp_path)]) == 0
    written = sorted(p.stem for p in tmp_path.glob("*.ipynb"))
    assert written == [p.stem for p in notebooks_cmd.chapters(TUTORIALS)]
    nb = json.loads((tmp_path / "01_gradients.ipynb").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    kinds = {c["cell_type"] for c in nb["cells"]}
    assert kinds == {"markdown", "code"}
    assert not any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    # a learner's notebook is never overwritten silently
    (tmp_path / "01_gradients.ipynb").write_text("my notes")
    assert main(["notebooks", "--dir", str(tmp_path), "--chapter", "01"]) == 0
    assert (tmp_path / "01_gradients.ipynb").read_text() == "my notes"
    assert "kept" in capsys.readouterr().out


def test_missing_jupytext_is_one_line_and_status_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(notebooks_cmd, "_missing", lambda modules: ["jupytext"])
    assert main(["notebooks", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pip install -e '.[notebooks]'" in err and len(err.strip().splitlines()) == 1


def test_no_tutorials_folder_is_explained(monkeypatch, capsys, tmp_path):
    pytest.importorskip("jupytext")
    monkeypatch.setattr(notebooks_cmd, "find_tutorials", lambda: None)
    assert main(["notebooks", "--dir", str(tmp_path)]) == 2
    assert "no tutorial chapters" in capsys.readouterr().err


def test_chapter_1_executes_as_a_notebook(tmp_path, monkeypatch):
    pytest.importorskip("jupytext")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    figures = tmp_path / "figures"
    # the kernel inherits this process's environment: quick mode, figures to tmp_path
    monkeypatch.setenv("TINYDIP_QUICK", "1")
    monkeypatch.setenv("TINYDIP_TUTORIAL_OUT", str(figures))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = notebooks_cmd.to_notebook(TUTORIALS / "01_gradients.py")
    import nbformat

    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('kernel:', sys.executable)"))
    nb = notebooks_cmd.execute(nb, cwd=tmp_path, timeout=600)
    text = "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", ()) if out.get("output_type") == "stream")
    assert "all chapter 1 checks passed" in text
    assert f"kernel: {sys.executable}" in text  # the kernel is this interpreter
    assert list(figures.glob("01_*.png")), "the notebook saved no figure"


def _image_outputs(nb: dict) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb["cells"]
               if cell["cell_type"] == "code" for out in cell.get("outputs", ()))


def test_quick_executed_notebook_shows_its_figures_inline(tmp_path, monkeypatch, capsys):
    """Quick mode shrinks the work, not the pictures: the kernel's own (inline) backend."""
    pytest.importorskip("jupytext")
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # what a learner's kernel gets
    monkeypatch.setenv("TINYDIP_QUICK", "1")  # --quick sets it; restored after the test
    monkeypatch.setenv("TINYDIP_TUTORIAL_OUT", str(tmp_path / "figures"))
    assert main(["notebooks", "--dir", str(tmp_path), "--chapter", "01", "--execute",
                 "--quick"]) == 0
    nb = json.loads((tmp_path / "01_gradients.ipynb").read_text())
    saved = list((tmp_path / "figures").glob("01_*.png"))
    assert saved and _image_outputs(nb) == len(saved)  # each figure once, and saved
