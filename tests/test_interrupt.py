"""SIGTERM as an interrupt that keeps results (runtime.interrupt) and a quiet start-up Ctrl-C."""

from __future__ import annotations

import importlib.abc
import signal
import sys

import pytest

from tinydip.runtime.interrupt import Terminated, describe, exit_status, sigterm_as_interrupt


def test_sigterm_raises_terminated_inside_and_is_restored_after():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with sigterm_as_interrupt():
            signal.raise_signal(signal.SIGTERM)  # the Python handler runs right after
    assert signal.getsignal(signal.SIGTERM) is before


def test_terminated_is_a_keyboard_interrupt_so_loops_keep_their_result():
    assert issubclass(Terminated, KeyboardInterrupt)


def test_exit_status_and_description():
    assert exit_status(Terminated()) == 143 and describe(Terminated()) == "SIGTERM"
    assert exit_status(KeyboardInterrupt()) == 130 and describe(KeyboardInterrupt()) == "Ctrl-C"
    assert exit_status(None) == 0


class _InterruptImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tinydip.cli.main":
            raise KeyboardInterrupt
        return None


def test_ctrl_c_during_start_up_is_one_line_and_130(monkeypatch, capsys):
    from tinydip.cli import entry

    monkeypatch.delitem(sys.modules, "tinydip.cli.main", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_InterruptImport(), *sys.meta_path])
    assert entry.main(["--help"]) == 130
    assert capsys.readouterr().err == "tinydip: interrupted\n"
