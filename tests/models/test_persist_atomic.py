"""A model directory is all or nothing: a new one appears whole, and an interrupted save
leaves no directory, no temporary folder, and never a config.json beside stale weights."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from phenocast.models._persist import write_model_dir

FMT = {"format": "phenocast.test", "format_version": 2}


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_a_new_directory_appears_whole_with_ordinary_permissions(tmp_path):
    path = write_model_dir(tmp_path / "m", meta=FMT, registry="{}", tensors={}, overwrite=False)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "registry.json", "weights.pt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask  # not mkdtemp's private 0o700
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_an_interrupted_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_model_dir(tmp_path / "m", meta=FMT, registry="{}", tensors={}, overwrite=False)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_overwrite_keeps_other_files_and_no_stale_config(tmp_path, monkeypatch):
    path = write_model_dir(tmp_path / "m", meta=FMT, registry="{}", tensors={}, overwrite=False)
    (path / "notes.txt").write_text("the user's notes")
    monkeypatch.setattr(torch, "save", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_model_dir(path, meta=FMT, registry="{}", tensors={}, overwrite=True)
    assert sorted(p.name for p in path.iterdir()) == ["notes.txt", "registry.json", "weights.pt"]
