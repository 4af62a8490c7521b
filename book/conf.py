"""Sphinx configuration of the tinydip book (docs/book.md): the tutorial chapters executed in
quick mode, the exercises page and a small API reference, as one static HTML site.

    pip install -e ".[docs]"
    sphinx-build -b html book book/_build/html

The chapters are the jupytext percent scripts of ``tinydip.tutorials`` (tutorials/ of a
checkout, package data of a wheel). They are copied into ``chapters/`` beside this file (a
build folder, git-ignored) and read by MyST-NB through jupytext, then executed in a Jupyter
kernel with ``TINYDIP_QUICK=1`` so every figure is on its page. Math is typeset in the browser
by MathJax 3 from the ``django-static-mathjax`` package, served from the site
itself: the book needs no network, to build or to read.

``TINYDIP_BOOK_CHAPTERS="01 04"`` builds only those chapters (tests/test_book.py builds one);
``TINYDIP_QUICK=0`` executes the full-size chapters (slow: see tutorials/README.md).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHAPTERS = HERE / "chapters"  # generated: copies of the tutorial chapters and their pages


def _tutorials() -> Path:
    from tinydip.cli.notebooks_cmd import find_tutorials

    folder = find_tutorials()
    if folder is None:
        sys.exit("tinydip book: no tutorial chapters (NN_name.py) found; install tinydip")
    return folder


def _wanted(name: str, only: list[str]) -> bool:
    number = name.split("_", 1)[0]
    return not only or any(number == w.zfill(2) or name.startswith(w) for w in only if w)


def _copy_if_changed(src: Path, dst: Path) -> None:
    data = src.read_bytes()
    if not dst.exists() or dst.read_bytes() != data:  # unchanged files keep their mtime,
        dst.write_bytes(data)  # so an incremental build re-executes only what changed


def _gather_chapters() -> None:
    folder = _tutorials()
    only = os.environ.get("TINYDIP_BOOK_CHAPTERS", "").replace(",", " ").split()
    CHAPTERS.mkdir(exist_ok=True)
    keep = {p.name for p in sorted(folder.glob("[0-9][0-9]_*.py")) if _wanted(p.stem, only)}
    keep |= {p.name for p in folder.glob("*.md") if p.name in ("EXERCISES.md", "ANSWERS.md")}
    for old in CHAPTERS.iterdir():
        if old.is_file() and old.name not in keep:
            old.unlink()
    for name in sorted(keep):
        _copy_if_changed(folder / name, CHAPTERS / name)


_gather_chapters()

# -- the kernel that executes the chapters inherits this environment -------------------------
os.environ.setdefault("TINYDIP_QUICK", "1")
os.environ["MPLBACKEND"] = "Agg"

# -- project ----------------------------------------------------------------------------------
project = "tinydip"
author = "the tinydip authors"
copyright = "tinydip authors, MIT licence"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "conf.py", "screenshots", "**/__init__.py", "README.md"]

# -- chapters: jupytext percent scripts, executed ---------------------------------------------
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = "force"
nb_execution_timeout = 900  # seconds per chapter (quick mode: ~15-80 s once numba's cache is warm)
nb_execution_raise_on_error = True  # a chapter whose asserts fail fails the build
nb_execution_in_temp = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
# docutils: a few docstrings of the library are loose reST (block quotes, definition lists)
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure",
                     "docutils"]

# -- API reference ----------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "none"

# -- HTML: offline math -----------------------------------------------------------------------
html_theme = "furo"
html_title = "tinydip: Deep Image Prior from the gradients up"
# MathJax 3 from the django-static-mathjax wheel (plain static files; Django is not needed),
# copied into the site: tex-svg.js is one self-contained file (glyphs as SVG paths, no web
# fonts to load), so equations typeset with no network, from a server or from file://
mathjax_path = "mathjax/tex-svg.js"


def _mathjax_file() -> Path:
    try:
        import mathjax  # the django-static-mathjax distribution
    except ImportError:
        sys.exit("tinydip book: MathJax missing: pip install -e '.[docs]'")
    return Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5" / "tex-svg.js"


def _copy_mathjax(app, exception) -> None:
    """Put MathJax under _static/mathjax/ of the site."""
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "mathjax" / "tex-svg.js"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_mathjax_file(), target)


def _figures_beside_the_site(app) -> None:
    """The chapters' own PNG copies (``Tutorial.show``) go to ``figures/`` beside the output
    folder (book/_build/figures/), not into tutorials/: the pages embed the cell outputs."""
    os.environ["TINYDIP_TUTORIAL_OUT"] = str(Path(app.outdir).resolve().parent / "figures")


def _skip_namedtuple_fields(app, what, name, obj, skip, options):
    """The caches are NamedTuples: their fields' "Alias for field number 3" says nothing."""
    doc = getattr(obj, "__doc__", None) or ""
    return True if doc.startswith("Alias for field number") else None


def setup(app):
    app.connect("builder-inited", _figures_beside_the_site)
    app.connect("autodoc-skip-member", _skip_namedtuple_fields)
    app.connect("build-finished", _copy_mathjax)
