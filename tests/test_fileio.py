"""Atomic writes, strict JSON and output-path checks (tinydip.io.files)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tinydip.io.files import (
    FIGURE_EXTENSIONS,
    IMAGE_EXTENSIONS,
    OutputPathError,
    atomic_write,
    check_outputs,
    strict_json,
    write_bytes,
    write_json,
)


def _strict_load(text: str):
    def bad(const):
        raise ValueError(f"non-strict JSON constant {const}")
    return json.loads(text, parse_constant=bad)


def test_write_bytes_replaces_whole_file(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"old contents")
    write_bytes(p, b"new")
    assert p.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["a.bin"]


def test_failure_half_way_keeps_old_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"old")
    for exc in (RuntimeError("writer crashed"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with atomic_write(p) as f:
                f.write(b"half")
                raise exc
        assert p.read_bytes() == b"old"
        assert sorted(os.listdir(tmp_path)) == ["a.bin"]


def test_disk_error_names_the_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=r"a\.bin: cannot write \(No space left on device\)"):
        write_bytes(tmp_path / "a.bin", b"x")
    assert os.listdir(tmp_path) == []


def test_missing_folder_names_the_file(tmp_path):
    with pytest.raises(OSError, match="nope/a.bin: cannot write"):
        write_bytes(tmp_path / "nope" / "a.bin", b"x")


def test_strict_json_has_no_nan_or_infinity(tmp_path):
    obj = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.float32(2.5),
           "d": np.array([1, 2]), "e": (np.nan, 3), "f": np.int64(7), "g": None, "h": True}
    text = strict_json(obj)
    back = _strict_load(text)
    assert back == {"a": None, "b": [None, None, 1.5], "c": 2.5, "d": [1, 2], "e": [None, 3],
                    "f": 7, "g": None, "h": True}
    write_json(tmp_path / "r.json", obj)
    assert _strict_load((tmp_path / "r.json").read_text()) == back


def test_strict_parser_would_catch_plain_dumps():
    """The strictness check above can fail: json.dumps' default writes NaN."""
    with pytest.raises(ValueError, match="non-strict"):
        _strict_load(json.dumps({"a": float("nan")}))


def test_strict_json_refuses_unknown_objects():
    with pytest.raises(TypeError, match="object"):
        strict_json({"a": object()})


@pytest.mark.parametrize("path, match", [
    ("nofolder/out.png", "folder .*nofolder does not exist"),
    (".", "is a folder"),
    ("out.xyz", "unsupported extension '.xyz'"),
])
def test_check_outputs_refuses(tmp_path, monkeypatch, path, match):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputPathError, match=f"--out {path}: {match}"):
        check_outputs({"--out": (path, IMAGE_EXTENSIONS)})


def test_check_outputs_same_path_twice_and_input(tmp_path):
    a = tmp_path / "a.png"
    with pytest.raises(OutputPathError, match="--plot .*same file as --out"):
        check_outputs({"--out": (a, IMAGE_EXTENSIONS), "--plot": (a, FIGURE_EXTENSIONS)})
    with pytest.raises(OutputPathError, match="--out .*same file as IMAGE"):
        check_outputs({"--out": (a, IMAGE_EXTENSIONS)}, inputs={"IMAGE": a})


def test_check_outputs_accepts_good_paths(tmp_path):
    check_outputs({"--out": (tmp_path / "a.png", IMAGE_EXTENSIONS),
                   "--plot": (tmp_path / "f.pdf", FIGURE_EXTENSIONS),
                   "--report": (tmp_path / "r.json", (".json",)), "--none": (None, ())})
