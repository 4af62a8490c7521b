"""The layout's rule "dependencies point down": no library module imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import tinydip

ROOT = Path(tinydip.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = ".".join(("tinydip", *path.relative_to(ROOT).with_suffix("").parts))
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
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
    return names


def test_no_module_below_the_cli_imports_it():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.relative_to(ROOT).parts[0] in ("cli", "__main__.py"):  # `python -m tinydip`
            continue
        bad = [n for n in _imports(path) if n == "tinydip.cli" or n.startswith("tinydip.cli.")]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(bad)}")
    assert not offenders, offenders


def test_the_checker_resolves_relative_imports():
    assert "tinydip.cli.commands" in _imports(ROOT / "cli" / "codec_cmd.py")
    assert "tinydip.operators" in _imports(ROOT / "tasks" / "catalogue.py")
