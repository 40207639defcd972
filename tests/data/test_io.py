"""Atomic writes: the file appears whole or not at all, with ordinary permissions."""

from __future__ import annotations

import os

import pytest

from phenocast.data import atomic_write, atomic_write_text


def test_atomic_write_replaces_whole_files_with_ordinary_permissions(tmp_path):
    target = tmp_path / "out.txt"
    old = os.umask(0o022)
    try:
        atomic_write_text(target, "first")
        assert target.read_text() == "first"
        assert target.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600
        target.chmod(0o640)
        atomic_write_text(target, "second")
        assert target.read_text() == "second"
        assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("kept")

    def boom(path):
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, boom)
    assert target.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
