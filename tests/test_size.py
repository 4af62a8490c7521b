"""A size gate (tinygrad's habit): small files, functions a reader sees whole.

Fails when a library file passes MAX_FILE_LINES or a function passes MAX_FUNCTION_LINES,
unless it is listed in ALLOWED with the reason. Prints the line count of the learner's core
(kernels, functional, nn, models, optim, the fitting loop) so it can be watched: ``python -m
pytest tests/test_size.py -s``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tinydip

ROOT = Path(tinydip.__file__).resolve().parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80

# "path" or "path:function" -> why it may be longer
ALLOWED: dict[str, str] = {
    "cli/codec_cmd.py:add_commands": "a flat list of argparse declarations, one per option",
    "cli/codec_cmd.py:run_compress": "the compress command's steps in order, each a few lines "
                                     "of checks and messages",
    "codec/encoder.py:encode_fitted": "the encoder's stages in order (fold, allocate, round, "
                                          "fine-tune, write), each with its interrupt handling",
    "tasks/plotting.py:plot_training": "one figure's panels, drawn in order",
}

CORE = ("kernels", "functional", "nn", "models", "optim", "fitting/loop.py", "fitting/step.py",
        "fitting/hooks.py", "fitting/fit.py")


def _library() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "stubs" not in p.parts)


def _functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.end_lineno - node.lineno + 1


def oversized() -> list[str]:
    found = []
    for path in _library():
        rel = path.relative_to(ROOT).as_posix()
        n = len(path.read_text().splitlines())
        if n > MAX_FILE_LINES and rel not in ALLOWED:
            found.append(f"{rel}: {n} lines (at most {MAX_FILE_LINES})")
        for name, lines in _functions(path):
            if lines > MAX_FUNCTION_LINES and f"{rel}:{name}" not in ALLOWED:
                found.append(f"{rel}:{name}: {lines} lines (at most {MAX_FUNCTION_LINES})")
    return found


def test_no_file_or_function_over_the_limits():
    assert not oversized(), "\n".join(oversized())


def test_every_exception_is_still_needed():
    """An entry that no longer applies is removed, so the list stays the truth."""
    stale = []
    for entry in ALLOWED:
        rel, _, name = entry.partition(":")
        path = ROOT / rel
        if not path.exists():
            stale.append(entry)
        elif name:
            lines = dict(_functions(path)).get(name, 0)
            if lines <= MAX_FUNCTION_LINES:
                stale.append(entry)
        elif len(path.read_text().splitlines()) <= MAX_FILE_LINES:
            stale.append(entry)
    assert not stale, stale


def test_the_gate_catches_a_long_function(tmp_path, monkeypatch):
    """Planted: a 90-line function in a fake package is reported."""
    fake = tmp_path / "pkg"
    fake.mkdir()
    (fake / "long.py").write_text("def f():\n" + "    x = 1\n" * 90)
    monkeypatch.setattr(__import__(__name__), "ROOT", fake)
    assert oversized() == ["long.py:f: 91 lines (at most 80)"]


def test_learners_core_line_count(capsys):
    total, rows = 0, []
    for part in CORE:
        paths = sorted((ROOT / part).rglob("*.py")) if (ROOT / part).is_dir() else \
            [ROOT / part] if (ROOT / part).exists() else []
        n = sum(len(p.read_text().splitlines()) for p in paths)
        rows.append(f"{part:>20} {n:6d}")
        total += n
    with capsys.disabled():
        print("\nthe learner's core (lines):\n" + "\n".join(rows) + f"\n{'total':>20} {total:6d}")
    assert total > 0
