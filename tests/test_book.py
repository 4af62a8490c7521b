"""The book (docs/book.md): Sphinx + MyST-NB builds chapter 1 in quick mode, and a real browser
(headless Chromium) shows a figure and typeset equations on the chapter page.

The build runs from a copy of book/ in the test's folder (nothing is written into the
checkout) with ``TINYDIP_BOOK_CHAPTERS=01``: about 15-45 s, most of it executing the chapter
in a Jupyter kernel. The page is then opened from file:// (no server, no network) inside a
small harness page whose script reads the chapter's DOM after MathJax ran: the figures'
natural and displayed sizes, the number of equations typeset as SVG, and any TeX left raw.
Two screenshots (the top of the chapter and its first figure) stay in the test's folder;
``TINYDIP_BOOK_SCREENSHOTS=DIR`` copies them to DIR too (book/screenshots/ holds a record).

Skipped where the ``docs`` extra (sphinx, myst-nb, django-static-mathjax) or Chromium
(Debian: ``apt-get install chromium``) is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)

HARNESS = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="page" src="PAGE" width="1280" height="1600" style="border:0;display:block"></iframe>
<pre id="out">pending</pre>
<script>
const frame = document.getElementById("page");
frame.onload = () => setTimeout(() => {
  const d = frame.contentDocument;
  const imgs = [...d.querySelectorAll("article img")].map(i => ({
    src: i.getAttribute("src"), natural: [i.naturalWidth, i.naturalHeight],
    shown: [Math.round(i.getBoundingClientRect().width),
            Math.round(i.getBoundingClientRect().height)]}));
  const typeset = d.querySelectorAll("mjx-container[jax=SVG] svg").length;
  const display = d.querySelectorAll("mjx-container[display=true] svg").length;
  const raw = [...d.querySelectorAll("span.math, div.math")]
    .filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.slice(0, 40));
  const code = d.querySelectorAll("div.cell div.cell_input").length;
  const outputs = d.querySelectorAll("div.cell div.cell_output").length;
  document.getElementById("out").textContent =
    "RESULT" + JSON.stringify({imgs, typeset, display, raw, code, outputs}) + "END";
  const figure = d.querySelector("article img");
  if (SCROLL && figure) {  // instant: the theme asks for smooth scrolling
    const top = figure.getBoundingClientRect().top + frame.contentWindow.scrollY - 500;
    frame.contentWindow.scrollTo({top, behavior: "instant"});
  }
}, 4000);
</script></body></html>"""


def _chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--allow-file-access-from-files",
                           f"--user-data-dir={cwd / 'chromium-profile'}",
                           "--virtual-time-budget=20000", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (Debian: apt-get install chromium)")
def test_book_chapter_page_shows_figure_and_equations(tmp_path):
    for module in ("sphinx", "myst_nb", "mathjax", "jupytext", "ipykernel"):
        pytest.importorskip(module, reason="the docs extra: pip install -e '.[docs]'")
    src, html = tmp_path / "book", tmp_path / "html"
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("_build", "chapters",
                                                             "screenshots"))
    env = {**os.environ, "TINYDIP_BOOK_CHAPTERS": "01", "TINYDIP_QUICK": "1"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", str(src),
                           str(html)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stderr[-3000:]}"
    page = html / "chapters" / "01_gradients.html"
    assert page.exists(), sorted(p.name for p in (html / "chapters").iterdir())
    assert (html / "_static" / "mathjax" / "tex-svg.js").exists()  # MathJax ships inside
    assert not list((html / "chapters").glob("0[2-9]_*.html"))  # only the chapter asked for
    scripts = re.findall(r'<script[^>]*src="([^"]*)"', page.read_text())
    assert not [s for s in scripts if "//" in s], scripts  # every script is the site's own

    # the page in a real browser, after its scripts ran
    harness = {}
    for scroll in ("false", "true"):  # the top of the page; its first figure in view
        harness[scroll] = html / f"harness_{scroll}.html"
        harness[scroll].write_text(HARNESS.replace("PAGE", "chapters/01_gradients.html")
                                   .replace("SCROLL", scroll))
    dom = _chromium("--dump-dom", harness["false"].as_uri(), cwd=tmp_path).stdout
    found = re.search(r"RESULT(.*)END", dom)
    assert found, f"the harness read nothing from the page:\n{dom[-2000:]}"
    seen = json.loads(found.group(1).replace("&quot;", '"'))
    imgs = [i for i in seen["imgs"] if i["src"].endswith(".png")]
    assert imgs, f"no figure on the page: {seen['imgs']}"
    assert max(min(i["natural"]) for i in imgs) >= 100, imgs  # a real figure, decoded
    assert max(min(i["shown"]) for i in imgs) >= 100, imgs  # and laid out on the page
    assert seen["typeset"] >= 20 and seen["display"] >= 2, seen  # MathJax typeset the math
    assert not seen["raw"], f"TeX left raw: {seen['raw'][:5]}"
    assert seen["code"] >= 10 and seen["outputs"] >= 5, seen  # code cells with their outputs

    # screenshots: the top of the chapter, and its first figure
    shots = {"book_chapter01_top.png": harness["false"].as_uri(),
             "book_chapter01_figure.png": harness["true"].as_uri()}
    for name, url in shots.items():
        _chromium("--window-size=1280,1600", f"--screenshot={tmp_path / name}", url,
                  cwd=tmp_path)
        shot = tmp_path / name
        assert shot.exists() and shot.stat().st_size > 20_000, name  # not a blank page
    keep = os.environ.get("TINYDIP_BOOK_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for name in shots:
            shutil.copyfile(tmp_path / name, Path(keep) / name)
