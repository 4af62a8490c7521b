"""``tinydip.tutorial.Tutorial``: quick mode, the figure folder and ``show`` (saved always,
displayed once in a notebook)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tinydip import tutorial  # noqa: E402


@pytest.fixture
def tut(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYDIP_TUTORIAL_OUT", str(tmp_path))
    monkeypatch.setenv("TINYDIP_QUICK", "1")
    return tutorial.Tutorial("99")


def test_quick_flag_and_out_folder(tut, tmp_path):
    assert tut.quick and tut.out == tmp_path


def test_show_outside_a_notebook_saves_and_closes(tut):
    assert not tutorial.in_notebook()  # pytest is no Jupyter kernel
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = tut.show(fig, "line")
    assert path.name == "99_line.png" and path.read_bytes()[:4] == b"\x89PNG"
    assert not plt.fignum_exists(fig.number)


def test_show_in_a_notebook_displays_the_png_once_and_closes(tut, monkeypatch):
    pytest.importorskip("IPython")
    import IPython.display

    shown = []
    monkeypatch.setattr(tutorial, "in_notebook", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda *objs: shown.extend(objs))
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = tut.show(fig, "line")
    assert len(shown) == 1 and isinstance(shown[0], IPython.display.Image)
    assert shown[0].data == path.read_bytes()
    assert not plt.fignum_exists(fig.number)  # the inline backend will not show it again
