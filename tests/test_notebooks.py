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


# --- failing cells, interrupts and --chapter matching, on small synthetic chapters ---------

FAILING = '''# %%
print("first cell ran")

# %%
x = 1
raise ValueError("planted failure")

# %%
print("never reached")
'''

SLEEPY = '''# %%
import os
import time
from pathlib import Path

print("first cell ran")

# %%
Path("kernel.pid").write_text(str(os.getpid()))
time.sleep(300)

# %%
print("never reached")
'''


def _chapter(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def _kernel_needed():
    for module in ("jupytext", "nbclient", "ipykernel"):
        pytest.importorskip(module)


def test_a_failing_cell_keeps_the_partial_notebook_and_names_the_cell(tmp_path, capsys):
    _kernel_needed()
    src = _chapter(tmp_path / "src", "01_boom.py", FAILING)
    out = tmp_path / "out"
    assert main(["notebooks", "--tutorials", str(src), "--dir", str(out), "--execute"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("tinydip: error: chapter 01_boom: cell 2 (In [2]) failed at "
                             "01_boom.py line 6 `raise ValueError(\"planted failure\")`")
    assert err[0].endswith("ValueError: planted failure")
    cells = json.loads((out / "01_boom.ipynb").read_text())["cells"]
    assert "first cell ran" in "".join(cells[0]["outputs"][0]["text"])
    assert cells[1]["outputs"][-1]["output_type"] == "error"
    assert cells[2]["outputs"] == []


@pytest.mark.parametrize(("signum", "status", "name"), [(15, 143, "SIGTERM"),
                                                        (2, 130, "Ctrl-C")])
def test_an_interrupt_stops_the_kernel_promptly_and_keeps_the_notebook(tmp_path, signum,
                                                                       status, name):
    import signal
    import subprocess
    import time

    _kernel_needed()
    src = _chapter(tmp_path / "src", "01_sleepy.py", SLEEPY)
    out = tmp_path / "out"
    proc = subprocess.Popen(  # SIGINT at its default even if this test runs in the background
        [sys.executable, "-m", "tinydip", "notebooks", "--tutorials", str(src), "--dir",
         str(out), "--execute"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    pid_file = out / "kernel.pid"
    deadline = time.monotonic() + 120
    while not pid_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid_file.exists(), proc.communicate(timeout=60)
    time.sleep(0.3)
    t = time.monotonic()
    proc.send_signal(signum)
    stdout, err = proc.communicate(timeout=60)
    assert time.monotonic() - t < 20  # not the 300 s the cell sleeps
    assert proc.returncode == status, err
    assert err.strip().splitlines() == [f"tinydip: interrupted ({name})"]
    assert f"wrote    {out / '01_sleepy.ipynb'} (interrupted" in stdout
    cells = json.loads((out / "01_sleepy.ipynb").read_text())["cells"]
    assert "first cell ran" in "".join(cells[0]["outputs"][0]["text"])
    kernel = int(pid_file.read_text())
    for _ in range(50):  # killed (or a zombie: its parent, the CLI, has exited)
        try:
            state = Path(f"/proc/{kernel}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            break
        if state in ("Z", "X"):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"the kernel {kernel} outlived the interrupt")


@pytest.mark.parametrize(("wanted", "expected"), [
    ("1", ["01_a"]), ("01", ["01_a"]), ("10", ["10_b"]), ("01_a", ["01_a"]),
    ("01_", ["01_a"]), ("1 11", ["01_a", "11_c"]), ("11_c.py", ["11_c"])])
def test_a_chapter_number_matches_exactly(tmp_path, wanted, expected):
    pytest.importorskip("jupytext")
    src = tmp_path / "src"
    for name in ("01_a.py", "10_b.py", "11_c.py"):
        _chapter(src, name, "# %%\nx = 1\n")
    out = tmp_path / "out"
    assert main(["notebooks", "--tutorials", str(src), "--dir", str(out), "--chapter",
                 *wanted.split()]) == 0
    assert sorted(p.stem for p in out.glob("*.ipynb")) == expected


def test_an_unknown_chapter_is_one_line_and_status_2(tmp_path, capsys):
    pytest.importorskip("jupytext")
    src = _chapter(tmp_path / "src", "01_a.py", "# %%\nx = 1\n")
    assert main(["notebooks", "--tutorials", str(src), "--dir", str(tmp_path / "out"),
                 "--chapter", "01", "12"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tinydip: error: no chapter matches 12 (chapters: 01_a)"]
