"""``python -m tinydip`` runs the ``tinydip`` command line (tinydip/__main__.py)."""

from __future__ import annotations

import subprocess
import sys


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinydip", *argv], capture_output=True,
                          text=True, timeout=120)


def test_python_m_tinydip_help_exits_0():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    assert "usage: tinydip" in proc.stdout and "denoise" in proc.stdout


def test_python_m_tinydip_unknown_command_is_one_line_and_status_2():
    proc = _run("no-such-command")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tinydip: error:"), proc.stderr
