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


# ---- issue 27: a path that is not a regular file is written THROUGH, never replaced --------

def test_fifo_is_written_through_not_replaced(tmp_path):
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_bytes(fifo, b"through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["pipe"]  # no temporary file left


def test_dev_null_is_written_through_not_replaced():
    import stat

    before = os.stat("/dev/null")
    with atomic_write("/dev/null") as f:
        f.write(b"x" * 1000)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    check_outputs({"--out": ("/dev/null", IMAGE_EXTENSIONS)})  # accepted, not "folder /dev"


def test_full_device_fails_with_enospc_naming_the_path():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(OSError, match=r"^/dev/full: cannot write \(No space left on device\)$"):
        write_bytes("/dev/full", b"data")
    assert not os.path.isfile("/dev/full")  # still the device node


def test_symlink_to_a_file_keeps_the_link_and_replaces_the_target(tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(real)
    write_bytes(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "made.png")
    write_bytes(dangling, b"made")
    assert dangling.is_symlink() and (tmp_path / "made.png").read_bytes() == b"made"
    check_outputs({"--out": (link, IMAGE_EXTENSIONS)})
    with pytest.raises(OutputPathError, match="same file as IMAGE"):
        check_outputs({"--out": (link, IMAGE_EXTENSIONS)}, {"IMAGE": real})


def test_interrupted_write_through_writes_nothing(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"keep")
    link = tmp_path / "l.bin"
    link.symlink_to(target)
    with pytest.raises(KeyboardInterrupt), atomic_write(link) as f:
        f.write(b"half")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"keep" and link.is_symlink()


def test_symlink_loop_output_is_one_line(tmp_path):
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(OutputPathError, match="--out .*loop.png: symlink loop"):
        check_outputs({"--out": (loop, IMAGE_EXTENSIONS)})
    with pytest.raises(OSError, match="loop.png: cannot write"):
        write_bytes(loop, b"x")
    check_outputs({"--out": (tmp_path / "o.png", IMAGE_EXTENSIONS)}, {"IMAGE": loop})  # no raise
