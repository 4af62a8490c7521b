"""``tinydip notebooks``: write every tutorial chapter (tutorials/*.py, jupytext percent
format) as a Jupyter notebook, optionally executing it.

The ``.py`` files stay the source. The notebooks are the learner's copies: an existing
``.ipynb`` is kept (your edits and outputs survive) unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

INSTALL_HINT = "pip install -e '.[notebooks]'"


def find_tutorials() -> Path | None:
    """The ``tutorials/`` folder of a source checkout (beside the ``tinydip`` package), or
    None when tinydip was installed without it (e.g. from a wheel)."""
    here = Path(__file__).resolve().parents[2] / "tutorials"  # tinydip/cli/ -> repo root
    return here if any(here.glob("[0-9][0-9]_*.py")) else None


def chapters(folder: Path) -> list[Path]:
    """The chapter scripts of a tutorials folder, in order (01_..., 02_..., ...)."""
    return sorted(folder.glob("[0-9][0-9]_*.py"))


def to_notebook(script: Path):
    """Read a percent-format script as a notebook (no outputs, kernel python3)."""
    import jupytext

    nb = jupytext.read(script, fmt="py:percent")
    meta = nb.metadata.setdefault("jupytext", {})
    meta.pop("formats", None)  # a plain copy, not paired: editing it never touches the .py
    meta.pop("text_representation", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python",
                                 "name": "python3"}
    return nb


def this_python_kernel():
    """A kernel manager that starts ipykernel with *this* interpreter (the one tinydip is
    installed in), whatever other ``python3`` kernelspecs the machine has."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    class _ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                    "{connection_file}"], display_name="Python 3",
                              language="python", name=kernel_name, resource_dir="")

    return KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())


def execute(nb, cwd: Path, timeout: float | None = None):
    """Run every cell in a fresh kernel of this interpreter, in ``cwd``; returns the
    notebook with its outputs. Raises on the first failing cell."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, km=this_python_kernel(), timeout=timeout,
                            kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    return client.execute()


def _missing(modules: tuple[str, ...]) -> list[str]:
    import importlib.util

    return [m for m in modules if importlib.util.find_spec(m) is None]


def run_notebooks(args) -> int:
    need = ("jupytext", "nbformat") + (("nbclient", "ipykernel") if args.execute else ())
    missing = _missing(need)
    if missing:
        print(f"tinydip: error: 'tinydip notebooks' needs {', '.join(missing)}: run "
              f"{INSTALL_HINT} (from the repository root)", file=sys.stderr)
        return 2
    source = Path(args.tutorials) if args.tutorials else find_tutorials()
    if source is None or not chapters(source):
        where = source if source is not None else "beside the installed tinydip package"
        print(f"tinydip: error: no tutorial chapters (NN_name.py) found {where}: the "
              "tutorials ship with the source checkout (git clone, then pip install -e "
              f"'.[notebooks]'), or pass --tutorials DIR", file=sys.stderr)
        return 2
    out_dir = Path(args.dir) if args.dir else source
    out_dir.mkdir(parents=True, exist_ok=True)
    scripts = chapters(source)
    if args.chapter:
        scripts = [s for s in scripts if any(s.name.startswith(c) for c in args.chapter)]
        if not scripts:
            print(f"tinydip: error: no chapter matches {' '.join(args.chapter)}",
                  file=sys.stderr)
            return 2
    if args.execute and args.quick:
        os.environ["TINYDIP_QUICK"] = "1"  # the kernels inherit this environment

    import jupytext

    for script in scripts:
        target = out_dir / (script.stem + ".ipynb")
        if target.exists() and not args.force:
            print(f"kept     {target} (exists; --force overwrites it)")
            continue
        nb = to_notebook(script)
        if args.execute:
            t = time.perf_counter()
            print(f"running  {script.name} ...", flush=True)
            nb = execute(nb, cwd=out_dir)
            print(f"         ran in {time.perf_counter() - t:.0f} s")
        jupytext.write(nb, target, fmt="ipynb")
        print(f"wrote    {target}")
    print(f"open them with: jupyter lab {out_dir}")
    return 0


def add_notebooks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", metavar="DIR", help="where to write the .ipynb files (default: "
                   "the tutorials folder itself)")
    p.add_argument("--tutorials", metavar="DIR", help="the tutorials folder (default: "
                   "tutorials/ of this source checkout)")
    p.add_argument("--chapter", nargs="+", metavar="NN", help="only these chapters (e.g. 01 "
                   "04)")
    p.add_argument("--execute", action="store_true", help="run every notebook and store its "
                   "outputs (full mode takes tens of minutes; see --quick)")
    p.add_argument("--quick", action="store_true", help="with --execute: TINYDIP_QUICK=1 "
                   "(small images, few iterations)")
    p.add_argument("--force", action="store_true", help="overwrite existing notebooks")
    p.set_defaults(func=run_notebooks)
