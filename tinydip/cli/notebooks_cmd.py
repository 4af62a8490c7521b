"""``tinydip notebooks``: write every tutorial chapter (tutorials/*.py, jupytext percent
format) as a Jupyter notebook, optionally executing it.

The ``.py`` files stay the source. The notebooks are the learner's copies: an existing
``.ipynb`` is kept (your edits and outputs survive) unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

INSTALL_HINT = "pip install -e '.[notebooks]'"


def find_tutorials() -> Path | None:
    """The chapters' folder: the ``tinydip.tutorials`` package data of any install (from a
    wheel: inside the package; from a checkout: its ``tutorials/``), or None if missing."""
    import importlib.util

    spec = importlib.util.find_spec("tinydip.tutorials")
    for where in (spec.submodule_search_locations or []) if spec else []:
        if any(Path(where).glob("[0-9][0-9]_*.py")):
            return Path(where)
    return None


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
            # log_level: no plain-TCP / parent-exited warnings on our stderr (errors stay)
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f",
                                    "{connection_file}", "--IPKernelApp.log_level=ERROR"],
                              display_name="Python 3",
                              language="python", name=kernel_name, resource_dir="")

    return KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())


class CellFailed(Exception):
    """A cell raised: ``index`` (0-based, among all cells), ``cell``, ``ename``, ``evalue``.
    The notebook keeps the outputs of every cell run so far, the failing one's included."""

    def __init__(self, index: int, cell, ename: str, evalue: str):
        super().__init__(f"cell {index + 1} failed: {ename}: {evalue}")
        self.index, self.cell, self.ename, self.evalue = index, cell, ename, evalue


def execute(nb, cwd: Path, timeout: float | None = None):
    """Run every cell in a fresh kernel of this interpreter, in ``cwd``; returns the
    notebook with its outputs (filled in place, cell by cell).

    Raises :class:`CellFailed` on the first failing cell. Ctrl-C or SIGTERM (the CLI's
    ``Terminated``) kill the kernel at once and propagate; ``nb`` keeps what ran. Cells run
    one by one through ``setup_kernel`` + ``execute_cell`` rather than ``execute()``, which
    installs its own SIGINT/SIGTERM handlers (they only queue a kernel shutdown, and leave
    SIGTERM at its default afterwards)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    client = NotebookClient(nb, km=this_python_kernel(), timeout=timeout,
                            kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    with client.setup_kernel(cleanup_kc=True):  # shut the kernel down (we passed the km)
        try:
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index,
                                        execution_count=client.code_cells_executed + 1)
                except CellExecutionError as exc:
                    raise CellFailed(index, cell, exc.ename, exc.evalue) from None
                except (CellTimeoutError, DeadKernelError) as exc:
                    raise CellFailed(index, cell, type(exc).__name__,
                                     str(exc).strip().splitlines()[0] if str(exc).strip()
                                     else "") from None
        except KeyboardInterrupt:
            client.shutdown_kernel = "immediate"  # a busy kernel would not answer a request
            _cancel_pending_tasks()
            raise
    return nb


def _cancel_pending_tasks() -> None:
    """Cancel what the interrupted cell left on nbclient's event loop: the kernel shutdown
    runs that loop again, and a resumed poll for the cell's reply would block it until the
    cell finished."""
    import asyncio

    from jupyter_core.utils import ensure_event_loop

    for task in asyncio.all_tasks(ensure_event_loop()):
        task.cancel()  # their DeadKernelError / CancelledError is expected: retrieve it
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def describe_failure(failed: CellFailed, script: Path) -> str:
    """``cell 27 (In [9]) failed at 03_batchnorm.py line 345 `assert ...`: AssertionError``:
    where in the notebook and in the chapter's source, and the error's first line."""
    cell = failed.cell
    where = f"cell {failed.index + 1}"
    if cell.get("execution_count"):
        where += f" (In [{cell['execution_count']}])"
    where += " failed"
    tb = "\n".join(_ANSI.sub("", line) for out in cell.get("outputs", ())
                   if out.get("output_type") == "error" for line in out.get("traceback", ()))
    found = re.search(r"Cell In\[\d+\], line (\d+)", tb)
    try:
        text = script.read_text()
    except OSError:
        text = ""
    start = text.find(cell.source) if cell.source else -1
    if found and start >= 0:
        line_in_cell = int(found.group(1))
        code = cell.source.splitlines()[line_in_cell - 1].strip() if (
            0 < line_in_cell <= len(cell.source.splitlines())) else ""
        where += f" at {script.name} line {text.count(chr(10), 0, start) + line_in_cell}"
        if code:
            where += f" `{code[:80]}{'...' if len(code) > 80 else ''}`"
    evalue = failed.evalue.strip().splitlines()[0] if failed.evalue.strip() else ""
    return f"{where}: {failed.ename}{': ' + evalue if evalue else ''}"


def matches(script: Path, wanted: str) -> bool:
    """Does ``--chapter wanted`` name this chapter? A number matches exactly (``1`` and
    ``01`` are chapter 1, never 10 or 11); anything else is the file name or a prefix of it
    (``01_gradients``, ``01_grad``, ``01_gradients.py``)."""
    wanted = wanted.strip()
    if wanted.isdigit():
        return int(wanted) == int(script.name.split("_", 1)[0])
    return script.name.startswith(wanted)


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
        where = source if source is not None else "in the installed tinydip package"
        print(f"tinydip: error: no tutorial chapters (NN_name.py) found {where}: reinstall "
              "tinydip, or pass --tutorials DIR", file=sys.stderr)
        return 2
    out_dir = Path(args.dir) if args.dir else source
    out_dir.mkdir(parents=True, exist_ok=True)
    scripts = chapters(source)
    if args.chapter:
        unknown = [c for c in args.chapter if not any(matches(s, c) for s in scripts)]
        if unknown:
            print(f"tinydip: error: no chapter matches {' '.join(unknown)} (chapters: "
                  f"{', '.join(s.stem for s in scripts)})", file=sys.stderr)
            return 2
        scripts = [s for s in scripts if any(matches(s, c) for c in args.chapter)]
    if args.execute and args.quick:
        os.environ["TINYDIP_QUICK"] = "1"  # the kernels inherit this environment

    import jupytext

    status = 0
    for script in scripts:
        target = out_dir / (script.stem + ".ipynb")
        if target.exists() and not args.force:
            print(f"kept     {target} (exists; --force overwrites it)")
            continue
        nb = to_notebook(script)
        if args.execute:
            t = time.perf_counter()
            print(f"running  {script.name} ...", flush=True)
            try:
                execute(nb, cwd=out_dir)
            except CellFailed as failed:  # keep what ran, say where it stopped, go on
                jupytext.write(nb, target, fmt="ipynb")
                print(f"wrote    {target} (partly executed)")
                print(f"tinydip: error: chapter {script.stem}: "
                      f"{describe_failure(failed, script)}", file=sys.stderr, flush=True)
                status = 1
                continue
            except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the kernel is gone; main() says
                jupytext.write(nb, target, fmt="ipynb")  # which and exits 130 / 143
                print(f"wrote    {target} (interrupted: what ran so far)", flush=True)
                raise
            print(f"         ran in {time.perf_counter() - t:.0f} s")
        jupytext.write(nb, target, fmt="ipynb")
        print(f"wrote    {target}")
    print(f"open them with: jupyter lab {out_dir}")
    return status


def add_notebooks(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", metavar="DIR", help="where to write the .ipynb files (default: "
                   "the tutorials folder itself)")
    p.add_argument("--tutorials", metavar="DIR", help="the tutorials folder (default: the "
                   "chapters that ship with tinydip)")
    p.add_argument("--chapter", nargs="+", metavar="NN", help="only these chapters: a number "
                   "(1 or 01: exactly that chapter) or a name or its prefix (01_gradients)")
    p.add_argument("--execute", action="store_true", help="run every notebook and store its "
                   "outputs (full mode takes tens of minutes; see --quick)")
    p.add_argument("--quick", action="store_true", help="with --execute: TINYDIP_QUICK=1 "
                   "(small images, few iterations)")
    p.add_argument("--force", action="store_true", help="overwrite existing notebooks")
    p.set_defaults(func=run_notebooks)
