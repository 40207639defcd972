"""Baselines on the synthetic generator: they recover what its ground truth says they should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.data import expected_profile, register, synthetic
from phenocast.evaluate.metrics import pearson_delta
from phenocast.models import create_model


@pytest.fixture(scope="module")
def screen():
    adata = synthetic(
        n_genes=120,
        n_cell_types=1,
        n_perturbations=4,
        combinations={"P0+P1": "additive", "P2+P3": "synergistic"},
        doses=None,
        cells_per_condition=200,
        interaction_strength=1.5,
        effect_size=1.5,
        seed=3,
    )
    doubles = adata.obs["perturbation"].astype(str).str.contains("+", regex=False).to_numpy()
    train = adata[~doubles].copy()
    reg = register(train, perturbation="perturbation", control="control", dose="dose",
                   covariates=["cell_type"])  # fmt: skip
    return adata, train, reg


def _predict(name, screen, pert):
    _, train, reg = screen
    model = create_model(name, reg).fit(train)
    controls = train[train.obs["is_control"].to_numpy()]
    frame = pd.DataFrame({"perturbation": [pert], "dose": ["1+1"], "cell_type": ["T0"]})
    return model.predict_mean(controls, frame)[0]


def test_additive_predicts_an_additive_double_but_not_a_synergistic_one(screen):
    adata = screen[0]
    ctrl = expected_profile(adata, "control", "0", "T0")
    scores = {}
    for pert in ("P0+P1", "P2+P3"):
        pred = _predict("additive", screen, pert)
        truth = expected_profile(adata, pert, "1+1", "T0")
        scores[pert] = (pearson_delta(pred, truth, ctrl=ctrl), np.linalg.norm(pred - truth))
    assert scores["P0+P1"][0] > 0.9
    # a synergistic pair departs from additivity: the additive error is larger there
    assert scores["P2+P3"][1] > 1.5 * scores["P0+P1"][1]


def test_no_change_is_far_from_a_real_effect(screen):
    adata = screen[0]
    truth = expected_profile(adata, "P0+P1", "1+1", "T0")
    no_change = _predict("no-change", screen, "P0+P1")
    additive = _predict("additive", screen, "P0+P1")
    assert np.linalg.norm(no_change - truth) > 2 * np.linalg.norm(additive - truth)
