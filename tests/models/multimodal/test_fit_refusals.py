"""The multimodal model refuses, by name and before training, data it cannot learn from,
with the wording the compositional model uses."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.data import MultiModalDataError
from phenocast.multimodal import MultiModalConfig, MultiModalData, MultiModalModel

CONFIG = MultiModalConfig.from_dict({"train": {"max_epochs": 1}})


def _data(labels, a, b) -> MultiModalData:
    obs = pd.DataFrame({"perturbation": labels}, index=[f"s{i}" for i in range(len(labels))])
    views = {m: ad.AnnData(x.astype(np.float32), obs=obs.copy()) for m, x in (("a", a), ("b", b))}
    return MultiModalData.from_anndatas(views, dose=None, control="ctrl")


def test_all_control_data_are_refused():
    rng = np.random.default_rng(0)
    data = _data(["ctrl"] * 12, rng.normal(size=(12, 3)), rng.normal(size=(12, 2)))
    model = MultiModalModel(CONFIG)
    with pytest.raises(MultiModalDataError, match=r"no perturbations \(every sample is a cont"):
        model.fit(data)
    assert model.module is None  # refused before any training


def test_a_constant_modality_is_refused_by_name():
    rng = np.random.default_rng(0)
    labels = ["ctrl", "A", "B", "A+B"] * 3
    data = _data(labels, np.ones((12, 3)), rng.normal(size=(12, 2)))
    with pytest.raises(MultiModalDataError, match=r"Modality 'a' is constant: every one of its 3"):
        MultiModalModel(CONFIG).fit(data)


def test_the_compositional_model_says_the_same():
    from phenocast.data import RegistrationError, register, synthetic
    from phenocast.models import Compositional

    data = synthetic(n_genes=5, n_perturbations=2, cells_per_condition=5, seed=0)
    controls = data[data.obs["is_control"].to_numpy()].copy()
    reg = register(controls, perturbation="perturbation", control="control")
    with pytest.raises(RegistrationError, match=r"no perturbations \(every cell is a control\)"):
        Compositional(reg).fit(controls)
