"""The layout's rule "dependencies point down", lazy imports included.

Each unit of the package (a subpackage, or a module at the root) sits on a tier; a unit may
import units of LOWER tiers only (never its own tier's other units, never a higher one), and
the modules' import graph has no cycle. Imports inside functions count: a lazy import is
still a dependency. The tiers are the reading order of DEVELOPERS.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tinydip

ROOT = Path(tinydip.__file__).resolve().parent

TIERS: list[set[str]] = [
    {"runtime", "io", "metrics", "kernels"},  # 0: arrays, files, signals, numba
    {"functional"},  # 1: the math (forward/backward pairs)
    {"nn"},  # 2: modules
    {"optim", "gradcheck", "models", "operators", "degrade", "denoising"},  # 3
    {"fitting"},  # 4: fit_step, the loop and its hooks, stopping rules
    {"tasks", "codec"},  # 5: the task registry; the codec beside it
    {"study", "exercises", "tutorial"},  # 6: studies, exercises, the tutorials' set-up
    {"cli"},  # 7: the command line
    {"__main__"},  # 8: `python -m tinydip`
]
TIER = {unit: i for i, units in enumerate(TIERS) for unit in units}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("tinydip", *parts))


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved; names
    imported from a package count as ``package.name``, which may be a submodule)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return {n for n in names if n == "tinydip" or n.startswith("tinydip.")}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _library_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "stubs" not in p.parts)


def test_every_unit_has_a_tier():
    units = {p.relative_to(ROOT).parts[0].removesuffix(".py") for p in _library_files()}
    assert units - {"__init__"} <= set(TIER), sorted(units - set(TIER) - {"__init__"})


def test_dependencies_point_down_lazy_imports_included():
    offenders = []
    for path in _library_files():
        src = _unit(_module(path)) if path.name != "__init__.py" or path.parent != ROOT \
            else "__init__"
        if src == "__init__":  # the package root: lazy entry points (tinydip.nn, ...)
            continue
        for name in sorted(_imports(path)):
            dst = _unit(name)
            if dst in (src, "__init__", "__version__") or dst not in TIER:
                continue  # within a unit; the package root's version string
            if TIER[dst] >= TIER[src]:
                offenders.append(f"{path.relative_to(ROOT)} (tier {TIER[src]}) imports {name} "
                                 f"(tier {TIER[dst]})")
    assert not offenders, "\n".join(offenders)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in _library_files()}
    graph = {}
    for mod, path in modules.items():
        deps = set()
        for name in _imports(path):
            while name and name not in modules:  # `pkg.name` -> the module that defines it
                name = name.rpartition(".")[0]
            if name and name != mod and not mod.startswith(name + "."):
                deps.add(name)  # (a module's own package __init__ is not a cycle)
        graph[mod] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def test_no_import_cycle():
    graph = {m: {d for d in deps if not m.startswith("tinydip.") or _unit(d) != "__init__"}
             for m, deps in _graph().items()}
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_checkers_can_fail():
    """Planted: an upward import and a cycle are both seen."""
    assert "tinydip.cli.commands" in _imports(ROOT / "cli" / "codec_cmd.py")
    assert "tinydip.operators" in _imports(ROOT / "tasks" / "catalogue" / "sr.py")
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    assert TIER["cli"] > TIER["fitting"]  # so fitting importing cli is reported
