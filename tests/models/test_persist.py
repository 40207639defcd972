"""The shared save format refuses every directory it cannot trust, naming the file and fix."""

from __future__ import annotations

import json

import pytest
import torch

from phenocast.models import ModelDirectoryError
from phenocast.models._persist import ModelFileMissingError, read_model_dir, write_model_dir

FMT = {"format": "phenocast.test", "format_version": 2}


def _read(path, **kw):
    return read_model_dir(path, format="phenocast.test", versions=(1, 2), writer="Test.save", **kw)


def test_round_trip_adds_the_package_version(tmp_path):
    tensors = {"w": torch.arange(3.0)}
    write_model_dir(
        tmp_path / "m", meta=FMT, registry='{"genes": ["A"]}', tensors=tensors, overwrite=False
    )
    meta, registry, got = _read(tmp_path / "m")
    assert meta["format_version"] == 2 and meta["phenocast_version"]
    assert json.loads(registry) == {"genes": ["A"]}
    assert torch.equal(got["w"], tensors["w"])


def test_bad_directories_are_refused_by_name(tmp_path):
    path = write_model_dir(tmp_path / "m", meta=FMT, registry="{}", tensors={}, overwrite=False)
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        write_model_dir(path, meta=FMT, registry="{}", tensors={}, overwrite=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        write_model_dir(tmp_path / "file", meta=FMT, registry="{}", tensors={}, overwrite=True)

    (path / "config.json").write_text("{not json")
    with pytest.raises(ModelDirectoryError, match=r"config\.json is corrupt"):
        _read(path)
    (path / "config.json").write_text(json.dumps({**FMT, "format_version": 9}))
    with pytest.raises(ModelDirectoryError, match="saved by a newer phenocast"):
        _read(path)
    (path / "config.json").write_text(json.dumps({**FMT, "format_version": 0}))
    with pytest.raises(ModelDirectoryError, match=r"version 0; this phenocast reads versions"):
        _read(path)
    (path / "config.json").write_text(json.dumps(FMT))
    (path / "registry.json").unlink()
    with pytest.raises(ModelFileMissingError, match=r"registry\.json is missing"):
        _read(path)
    # a version written before registry.json existed reads without one
    (path / "config.json").write_text(json.dumps({**FMT, "format_version": 1}))
    assert _read(path, registry_since=2)[1] is None
    (path / "weights.pt").write_bytes(b"not a torch file")
    with pytest.raises(ModelDirectoryError, match="nothing in it was executed"):
        _read(path, registry_since=2)


def test_a_corrupt_multimodal_registry_is_named(tmp_path):
    from phenocast.multimodal import MultiModalConfig, MultiModalModel, synthetic_multimodal

    data, _ = synthetic_multimodal(n_samples=30, dims={"a": 3, "b": 2}, seed=0)
    cfg = MultiModalConfig(latent_dim=2, hidden=(8,), n_samples=2).with_train(max_epochs=1)
    path = MultiModalModel(cfg).fit(data).save(tmp_path / "mm")
    (path / "registry.json").write_text("{broken")
    with pytest.raises(ModelDirectoryError, match=r"registry\.json is corrupt"):
        MultiModalModel.load(path)


def test_a_saved_model_does_not_keep_its_run_checkpoint_settings(tmp_path):
    from phenocast.data import register, synthetic
    from phenocast.models import Compositional, CompositionalConfig

    adata = synthetic(n_genes=8, n_cell_types=1, n_perturbations=2, cells_per_condition=10)
    reg = register(adata, perturbation="perturbation", control="control")
    train = {"max_epochs": 1, "checkpoint_dir": str(tmp_path / "ckpt")}
    model = Compositional(reg, CompositionalConfig.from_dict({"train": train})).fit(adata)
    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["config"]["train"]["checkpoint_dir"] is None
    assert saved["config"]["train"]["resume"] is False
    assert model.config.train.checkpoint_dir == str(tmp_path / "ckpt")  # the run's own is kept
    loaded = Compositional.load(tmp_path / "m")
    assert loaded.config.train.checkpoint_dir is None
    assert loaded.config.train.max_epochs == 1
