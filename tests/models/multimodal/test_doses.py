"""The multimodal model records the doses it was trained at and follows the shared rule for
doses outside them: refused by name, or generated / sampled and marked with
``extrapolate=True``; directories saved before the doses were recorded still load."""

from __future__ import annotations

import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.models import DoseRangeError
from phenocast.multimodal import (
    MultiModalConfig,
    MultiModalData,
    MultiModalModel,
    MultiModalTrainConfig,
    synthetic_multimodal,
)

CFG = MultiModalConfig(
    latent_dim=4, hidden=(16,), n_samples=4, train=MultiModalTrainConfig(max_epochs=4)
)
LEVELS = ("0.5", "1", "2")


def with_doses(data: MultiModalData) -> MultiModalData:
    """``data`` with each id's components at doses 0.5, 1 or 2 (by id position)."""
    dose = {
        sid: "+".join(LEVELS[(i + j) % 3] for j in range(len(c.components)))
        for i, (sid, c) in enumerate(zip(data.ids, data.conditions, strict=True))
    }
    mods = {}
    for m in data.modalities:
        mask = data.mask(m)
        ids = data.ids[mask]
        obs = pd.DataFrame(
            {
                "perturbation": [c.perturbation for c in data.conditions[mask]],
                "dose": [dose[i] for i in ids],
            },
            index=ids,
        )
        mods[m] = ad.AnnData(data.matrix(m)[mask], obs=obs)
    return MultiModalData.from_anndatas(mods)


@pytest.fixture(scope="module")
def fitted():
    data, _ = synthetic_multimodal(n_samples=80, dims={"rna": 6, "morph": 4}, n_components=4)
    data = with_doses(data)
    return data, MultiModalModel(CFG).fit(data)


def test_trained_doses_are_recorded(fitted):
    data, model = fitted
    seen: dict[str, set[float]] = {}
    for cond in data.conditions:
        for c, d in zip(cond.components, cond.doses, strict=True):
            seen.setdefault(c, set()).add(d)
    assert {c: set(v) for c, v in model.trained_doses_.items()} == seen
    assert model.trained_with_doses


def test_generate_and_sample_refuse_or_mark_doses_outside_the_range(fitted):
    _, model = fitted
    ok = pd.DataFrame({"perturbation": ["C00+C01", "C02"], "dose": ["0.5+2", "1"]})
    mean, _ = model.generate(ok, target="rna", n_samples=0)
    assert mean.shape == (2, 6) and np.isfinite(mean.to_numpy()).all()
    far = pd.DataFrame({"perturbation": ["C00", "C01+C02"], "dose": ["1", "1+200"]})
    message = r"C02 at 200 \(trained 0.5–2\)\. Pass extrapolate=True \(CLI: --extrapolate\)"
    with pytest.raises(DoseRangeError, match=message):
        model.generate(far, target="rna")
    with pytest.raises(DoseRangeError, match=message):
        model.sample(far, n_draws=2)
    assert model.check_doses(far, extrapolate=True).tolist() == [False, True]
    mean, _ = model.generate(far, target="rna", n_samples=0, extrapolate=True)
    assert np.isfinite(mean.to_numpy()).all()
    draws = model.sample(far, n_draws=3, extrapolate=True)
    assert draws.obs["extrapolated"].tolist() == [False] * 3 + [True] * 3
    assert draws["rna"].obs["extrapolated"].tolist() == [False] * 3 + [True] * 3


def test_trained_doses_survive_save_and_old_directories_load_unchecked(fitted, tmp_path):
    _, model = fitted
    path = model.save(tmp_path / "mm")
    again = MultiModalModel.load(path)
    assert again.trained_doses_ == model.trained_doses_
    far = pd.DataFrame({"perturbation": ["C00"], "dose": ["100"]})
    with pytest.raises(DoseRangeError, match="C00 at 100"):
        again.generate(far, target="rna")
    # saved before the doses were recorded: loads, and its doses cannot be checked
    registry = json.loads((path / "registry.json").read_text())
    del registry["trained_doses"]
    (path / "registry.json").write_text(json.dumps(registry))
    old = MultiModalModel.load(path)
    assert old.trained_doses_ is None and not old.trained_with_doses
    mean, _ = old.generate(far, target="rna", n_samples=0)
    assert np.isfinite(mean.to_numpy()).all()
